"""The call journal: a finished call is durable before its caller hears the outcome.

With holds in memory a DuckDB store answers a call once the call is a synced line in the
journal (core/store/call_journal.py) and writes it to the tables behind the caller's back.
These tests check the file itself (round trip, a torn last line, a damaged line, segments
deleted once written) and the promise it keeps: a process killed with calls answered but
not yet in the tables loses none of them, and the next start writes them.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

from tokenworks.store import DuckDBStore, NewCall, call_journal, utcnow
from tokenworks.store.call_journal import CallJournal


def entry(n: int) -> dict:
    return {"call_id": f"c{n}", "n": n, "text": "é, \"quoted\"\nand a newline"}


def segments(folder: Path) -> list[Path]:
    return sorted(folder.glob("store.duckdb.calls-journal.*"))


def leftover_entries(journal: CallJournal) -> list[dict]:
    return [entry for left in journal.leftovers() for _, entry in left.entries]


def test_entries_come_back_in_order_after_the_process_is_gone(tmp_path):
    journal = CallJournal(tmp_path / "store.duckdb")
    numbers = [journal.append(entry(n)) for n in range(5)]
    journal.close()  # nothing written to the tables: the segment stays

    assert numbers == [1] * 5
    assert leftover_entries(CallJournal(tmp_path / "store.duckdb")) == [entry(n) for n in range(5)]


def test_a_torn_last_line_is_ignored_and_a_damaged_one_is_skipped_loudly(tmp_path, caplog):
    journal = CallJournal(tmp_path / "store.duckdb")
    for n in range(3):
        journal.append(entry(n))
    journal.close()
    [path] = segments(tmp_path)
    lines = path.read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b'"c1"', b'"cX"')  # the checksum no longer matches
    path.write_bytes(b"\n".join(lines)[:-9])  # and the last line is cut short

    with caplog.at_level(logging.INFO, logger="tokenworks.store"):
        [left] = CallJournal(tmp_path / "store.duckdb").leftovers()
    assert left.entries == [(1, entry(0))]
    assert left.damage == [(2, "damaged (checksum or JSON)")]  # the torn line is no damage
    assert "line 2 is damaged" in caplog.text
    assert "incomplete last line" in caplog.text


def test_a_segment_is_deleted_once_its_calls_are_written(tmp_path, monkeypatch):
    monkeypatch.setattr(call_journal, "SEGMENT_LINES", 3)
    journal = CallJournal(tmp_path / "store.duckdb")
    numbers = [journal.append(entry(n)) for n in range(7)]
    assert numbers == [1, 1, 1, 2, 2, 2, 3]
    assert len(segments(tmp_path)) == 3

    journal.written(numbers[:2])
    assert len(segments(tmp_path)) == 3  # one call of the first segment is not written
    journal.written(numbers[2:6])
    assert [p.name[-1] for p in segments(tmp_path)] == ["3"]  # the one appended to stays
    journal.written(numbers[6:])
    journal.close()
    assert segments(tmp_path) == []


def test_leftovers_span_segments_and_are_discarded_on_request(tmp_path, monkeypatch):
    monkeypatch.setattr(call_journal, "SEGMENT_LINES", 2)
    journal = CallJournal(tmp_path / "store.duckdb")
    for n in range(5):
        journal.append(entry(n))
    journal.close()

    again = CallJournal(tmp_path / "store.duckdb")
    assert [e["n"] for e in leftover_entries(again)] == [0, 1, 2, 3, 4]
    again.settle_leftovers([(left, []) for left in again.leftovers()])
    assert segments(tmp_path) == []
    assert again.append(entry(9)) == 1  # numbering starts afresh


# A process that answers calls while its tables never get them (the writer thread is held
# back at the first finished call, as a slow disk would), reports each answered call, then
# is killed.
KILLED_WORKER = textwrap.dedent('''
    import os, signal, sys, threading
    from datetime import timedelta
    from tokenworks.store import DuckDBStore, NewCall, duckdb_store, utcnow

    store = DuckDBStore(sys.argv[1])
    store.create_user("ann", "user", "x", 100, actor="test")
    never = threading.Event()
    duckdb_store.write_finished = lambda *args: never.wait()  # the tables never get a call
    for n in range(10):
        call = NewCall(f"c{n}", "ann", "probe_ok", "meter_probe", "local", 3, f"h{n}", "{}",
                       utcnow() + timedelta(seconds=30))
        assert store.begin_call(call) is None
        assert store.finish_call(call, "failed" if n % 4 == 3 else "succeeded", 1.5, "[]")
        print(f"answered {call.call_id}", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
''')


def test_calls_answered_before_a_kill_are_in_the_tables_after_the_restart(tmp_path):
    path = tmp_path / "store.duckdb"
    worker = subprocess.run([sys.executable, "-c", KILLED_WORKER, str(path)],
                            capture_output=True, text=True, timeout=120)
    assert worker.returncode == -signal.SIGKILL, worker.stderr
    answered = [line.split()[1] for line in worker.stdout.splitlines()]
    assert answered == [f"c{n}" for n in range(10)]
    assert segments(tmp_path), "the answered calls must be in the journal"

    store = DuckDBStore(path)
    try:
        calls = {c.call_id: c for c in store.list_calls("ann")}
        assert sorted(calls) == sorted(answered)
        failed = {f"c{n}" for n in range(10) if n % 4 == 3}
        for call_id, call in calls.items():
            assert call.status == ("failed" if call_id in failed else "succeeded")
            assert call.latency_ms == 1.5 and call.finished_at is not None
        assert store.balance("ann") == 100 - 3 * (10 - len(failed))
        report = store.verify_books()
        assert report.ok, report.problems
        assert report.open_holds == 0
        assert segments(tmp_path) == []
    finally:
        store.close()

    # A second start finds nothing left to write and changes nothing.
    again = DuckDBStore(path)
    try:
        assert len(again.list_calls("ann")) == 10
        assert again.balance("ann") == 100 - 3 * 8
    finally:
        again.close()


def test_a_journaled_call_the_tables_already_have_is_not_written_twice(tmp_path):
    path = tmp_path / "store.duckdb"
    store = DuckDBStore(path)
    store.create_user("ann", "user", "x", 100, actor="test")
    call = NewCall("c1", "ann", "probe_ok", "meter_probe", "local", 3, "h", "{}",
                   utcnow() + timedelta(seconds=30))
    store.begin_call(call)
    store.finish_call(call, "succeeded", 1.0, "[]")
    store._writer.wait()
    journaled = store._journal  # keep its line: as if killed after the commit, before
    store._journal = None       # the segment was deleted
    store.close()
    os.close(next(iter(journaled._segments.values())).fd)
    assert segments(tmp_path)

    reopened = DuckDBStore(path)
    try:
        assert [c.call_id for c in reopened.list_calls("ann")] == ["c1"]
        assert reopened.balance("ann") == 97
        assert reopened.verify_books().ok
        assert segments(tmp_path) == []
    finally:
        reopened.close()


def test_journal_lines_are_json_with_a_checksum(tmp_path):
    journal = CallJournal(tmp_path / "store.duckdb")
    journal.append(entry(1))
    journal.close()
    [line] = segments(tmp_path)[0].read_bytes().splitlines()
    crc, _, data = line.partition(b" ")
    assert len(crc) == 8 and json.loads(data) == entry(1)
