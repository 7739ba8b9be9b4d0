"""Replaying the call journal at start: every entry is checked before it is written, and a
journal with anything wrong in it is quarantined (kept under a new name, logged, listed for
admins), never deleted, and never stops the store, the server or the CLI.

The journals here are written by the journal itself (CallJournal.append), so every line has
a valid checksum: what is wrong is what the line says, as a bug, a hand edit or a damaged
disk could make it say.
"""

from __future__ import annotations

import logging
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

from conftest import write_registry
from test_crash import tokenworks_cli

from tokenworks.store import DuckDBStore, duckdb_store, utcnow
from tokenworks.store.call_journal import CallJournal

MISSING = object()


def journaled(call_id: str, **changes: Any) -> dict[str, Any]:
    """A journal entry as finish_call writes it, with some fields changed (or MISSING)."""
    now = utcnow()
    status = changes.get("status", "succeeded")
    cost = changes.get("cost", 3)
    entry = {"call_id": call_id, "user": "ann", "function": "probe_ok",
             "plugin": "meter_probe", "plugin_version": "local", "cost": cost,
             "status": status, "input_hash": f"h-{call_id}", "input_json": "{}",
             "result_json": "[]" if status == "succeeded" else None,
             "error": None if status == "succeeded" else "probe_ok failed: boom",
             "started_at": str(now), "deadline_at": str(now + timedelta(seconds=30)),
             "finished_at": str(now), "latency_ms": 1.5, "cached": False, "actor": "host",
             "charged": cost if status == "succeeded" else 0}
    entry.update(changes)
    return {key: value for key, value in entry.items() if value is not MISSING}


def live_segments(folder: Path) -> list[Path]:
    return [p for p in folder.glob("store.duckdb.calls-journal.*")
            if p.name.rsplit(".", 1)[1].isdigit()]


def new_store(path: Path) -> None:
    store = DuckDBStore(path)
    store.create_user("ann", "user", "x", 100, actor="test")
    store.close()


def write_journal(path: Path, *entries: dict[str, Any]) -> None:
    journal = CallJournal(path)
    for entry in entries:
        journal.append(entry)
    journal.close()


BAD = {  # call id: (entry, what the quarantine must say about it)
    "c-missing": (journaled("c-missing", status=MISSING), "status is missing"),
    "c-negative": (journaled("c-negative", cost=-1000, charged=-1000), "cost -1000 is negative"),
    "c-status": (journaled("c-status", status="refunded"), "status 'refunded' is not a final"),
    "c-nobody": (journaled("c-nobody", user="mallory"), "user 'mallory' does not exist"),
    "c-charged": (journaled("c-charged", charged=0), "charged 0 but a succeeded call of cost 3"),
    "c-dear": (journaled("c-dear", cost=1000), "call c-dear costs 1000 but ann has 97 tokens left"),
    "c-time": (journaled("c-time", started_at="yesterday"), "started_at 'yesterday' is not"),
    "c-typed": (journaled("c-typed", cost="3"), "cost has the wrong type (str)"),
    "c-bool": (journaled("c-bool", cost=True), "cost has the wrong type (bool)"),
}


def test_bad_entries_are_kept_in_a_quarantined_journal_and_good_ones_written_once(
        tmp_path, caplog):
    path = tmp_path / "store.duckdb"
    new_store(path)
    good = [journaled("c-good"), journaled("c-failed", status="failed"),
            journaled("c-newer", detail="Traceback ...")]  # unknown optional fields are fine
    write_journal(path, good[0], *(entry for entry, _ in BAD.values()), *good[1:])

    with caplog.at_level(logging.WARNING, logger="tokenworks.store"):
        store = DuckDBStore(path)  # opens, whatever the journal says
    try:
        calls = {c.call_id: c for c in store.list_calls("ann")}
        assert sorted(calls) == ["c-failed", "c-good", "c-newer"]
        assert calls["c-failed"].status == "failed" and calls["c-failed"].charged == 0
        assert store.balance("ann") == 100 - 2 * 3
        [kept] = store.quarantined_journals()
        report = store.verify_books()
        assert report.ok, report.problems
        assert report.quarantined_journals == [kept]
    finally:
        store.close()

    # Kept under a new name beside the store, never deleted; its reasons say which line
    # was wrong and how; the log names the file.
    assert Path(kept.path).exists() and ".quarantined-" in kept.path
    assert len(Path(kept.path).read_bytes().splitlines()) == len(good) + len(BAD)
    assert kept.quarantined_at is not None
    assert len(kept.reasons) == len(BAD)
    for (call_id, (_, why)), reason in zip(BAD.items(), kept.reasons, strict=True):
        assert why in reason, (call_id, reason)
    assert kept.path in caplog.text and "cost -1000 is negative" in caplog.text
    assert live_segments(tmp_path) == []

    # The next start replays nothing again: the quarantined file is only kept.
    again = DuckDBStore(path)
    try:
        assert len(again.list_calls("ann")) == 3 and again.balance("ann") == 94
        assert [q.path for q in again.quarantined_journals()] == [kept.path]
        assert again.verify_books().ok
    finally:
        again.close()


def test_a_damaged_line_quarantines_its_segment_after_its_good_calls_are_written(tmp_path):
    path = tmp_path / "store.duckdb"
    new_store(path)
    write_journal(path, journaled("c1"), journaled("c2"), journaled("c3"))
    [segment] = live_segments(tmp_path)
    lines = segment.read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b'"c2"', b'"cX"')  # the checksum no longer matches
    segment.write_bytes(b"\n".join(lines))

    store = DuckDBStore(path)
    try:
        assert sorted(c.call_id for c in store.list_calls("ann")) == ["c1", "c3"]
        [kept] = store.quarantined_journals()
        assert kept.reasons == ("line 2: damaged (checksum or JSON)",)
        assert store.verify_books().ok
    finally:
        store.close()


def test_a_call_journaled_twice_differently_is_written_once_and_the_other_kept(tmp_path):
    path = tmp_path / "store.duckdb"
    new_store(path)
    first = journaled("c1")
    write_journal(path, first, first, journaled("c1", status="failed"))  # a repeat is harmless
    store = DuckDBStore(path)
    try:
        assert [(c.call_id, c.status) for c in store.list_calls("ann")] == [("c1", "succeeded")]
        assert store.balance("ann") == 97
        [kept] = store.quarantined_journals()
        assert kept.reasons == ("line 3: call c1 is journaled twice, differently",)
    finally:
        store.close()


def test_the_cli_starts_on_a_journal_with_a_bad_entry_and_verify_names_the_quarantine(
        tmp_path):
    registry = write_registry(tmp_path, '[store]\npath = "store.duckdb"\n'
                                        "[plugins]\nentry_points = false\n")
    path = tmp_path / "store.duckdb"
    new_store(path)
    write_journal(path, journaled("c1"), journaled("c2", cost=MISSING),
                  journaled("c3", cost=-1000, charged=-1000))

    verify = subprocess.run([*tokenworks_cli(), "--registry", str(registry), "ledger", "verify"],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "the books balance" in verify.stdout
    [warning] = [line for line in verify.stdout.splitlines() if line.startswith("WARNING")]
    assert "quarantined call journal" in warning and "store.duckdb.calls-journal." in warning
    assert "line 2: cost is missing" in warning and "line 3: cost -1000 is negative" in warning
    assert "may hold calls the tables lack" in warning

    calls = subprocess.run([*tokenworks_cli(), "--registry", str(registry), "calls", "--json"],
                           capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert calls.returncode == 0, calls.stderr
    assert '"c1"' in calls.stdout and '"c3"' not in calls.stdout


def test_an_unreadable_journal_is_quarantined_and_the_store_opens(tmp_path):
    path = tmp_path / "store.duckdb"
    new_store(path)
    (tmp_path / "store.duckdb.calls-journal.00000001").mkdir()  # read_bytes: EISDIR, for real
    store = DuckDBStore(path)
    try:
        [kept] = store.quarantined_journals()
        assert kept.reasons == ("the file cannot be read: [Errno 21] Is a directory",)
        assert store.verify_books().ok
        assert store.balance("ann") == 100
    finally:
        store.close()


# -- calls the tables refuse at replay --------------------------------------------------
# A write of the tables that fails for one call only cannot be provoked for real, so the
# batch writer is wrapped to raise OSError whenever a given call is among the calls it writes.


def refusing(monkeypatch, *call_ids: str) -> None:
    real = duckdb_store.write_finished

    def write_finished(cursor, calls, before):
        if any(done.call.call_id in call_ids for done in calls):
            raise OSError("I/O error")
        return real(cursor, calls, before)

    monkeypatch.setattr(duckdb_store, "write_finished", write_finished)


def test_a_call_the_tables_refuse_is_quarantined_and_the_others_are_written(
        tmp_path, monkeypatch):
    path = tmp_path / "store.duckdb"
    new_store(path)
    write_journal(path, journaled("c1"), journaled("c2"), journaled("c3", status="failed"))
    refusing(monkeypatch, "c2")

    store = DuckDBStore(path)
    try:
        assert sorted(c.call_id for c in store.list_calls("ann")) == ["c1", "c3"]
        assert store.balance("ann") == 97
        [kept] = store.quarantined_journals()
        assert kept.reasons == ("line 2: not written: OSError: I/O error",)
        assert store.storage_problem() is None
        assert store.verify_books().ok
    finally:
        store.close()


def test_a_journal_the_tables_refuse_whole_is_kept_for_the_next_start(tmp_path, monkeypatch):
    path = tmp_path / "store.duckdb"
    new_store(path)
    write_journal(path, journaled("c1"), journaled("c2"))
    refusing(monkeypatch, "c1", "c2")

    store = DuckDBStore(path)  # opens anyway, and says why the calls are not there
    try:
        assert store.list_calls("ann") == []
        assert "calls journaled before the last start are not in the store's tables yet" in (
            store.storage_problem() or "")
        assert store.quarantined_journals() == []
        assert live_segments(tmp_path)  # kept as it is
    finally:
        store.close()
    monkeypatch.undo()

    again = DuckDBStore(path)
    try:
        assert sorted(c.call_id for c in again.list_calls("ann")) == ["c1", "c2"]
        assert again.balance("ann") == 94
        assert again.storage_problem() is None and live_segments(tmp_path) == []
        assert again.verify_books().ok
    finally:
        again.close()
