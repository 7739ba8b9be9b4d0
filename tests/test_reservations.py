"""Holds in memory (core/store/reservations.py): what replaces the durable hold must keep its
promises. Concurrent calls cannot reserve more than the balance, a take-back cannot take
reserved tokens, a call id running in one thread is not run or charged again by a retry in
another, and a call whose process ends before it does leaves nothing behind.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from conftest import new_call, plugin_runs, run_threads

from tokenworks.errors import InsufficientTokensError
from tokenworks.host import Host
from tokenworks.store import DuckDBStore, NewCall, duckdb_store, utcnow
from tokenworks.store.ledger_writes import BalanceDrift

PROBE = "meter_probe.py"
THREADS = 8



@pytest.fixture
def host(make_host) -> Host:
    host = make_host(PROBE, sweep=False)
    assert host._store.holds == "memory"
    return host



def runs(host: Host) -> Counter[str]:
    return plugin_runs(host, "meter_probe")


def assert_books(store: DuckDBStore) -> None:
    report = store.verify_books()
    assert report.ok, report.problems
    for user in store.list_users():
        assert user.balance >= 0
        assert user.balance == sum(e.amount for e in store.ledger(user.name, limit=100_000))


# -- no overdraft across concurrent calls -----------------------------------------------


def test_concurrent_reservations_never_exceed_the_balance(store):
    store.create_user("ann", "user", "x", 10, actor="t")
    outcomes: list[object] = [None] * THREADS

    def reserve(index: int) -> None:
        try:
            outcomes[index] = store.begin_call(new_call(f"c{index}", cost=3))
        except InsufficientTokensError as error:
            outcomes[index] = error

    run_threads(THREADS, reserve)

    reserved = [i for i, outcome in enumerate(outcomes) if outcome is None]
    refused = [o for o in outcomes if isinstance(o, InsufficientTokensError)]
    assert len(reserved) == 3 and len(refused) == THREADS - 3  # 3 x 3 of 10 tokens
    assert all(error.balance in (1, 4, 7) for error in refused)  # what was still available
    assert store.balance("ann") == 10  # nothing written yet
    for index in reserved:
        assert store.finish_call(new_call(f"c{index}", cost=3), "succeeded", 1.0, "[]")
    assert store.balance("ann") == 1
    assert_books(store)


def test_overlapping_calls_cannot_spend_more_than_the_balance(host):
    host._store.create_user("ann", "user", "x", 10, actor="test")  # five calls at 2 tokens
    outcomes: list[str] = []

    def call(index: int) -> None:
        try:
            outcome = host.call("probe_maybe", "ann", {"seconds": 0.3, "tag": str(index)})
            outcomes.append(outcome.status)
        except InsufficientTokensError:
            outcomes.append("refused")

    run_threads(THREADS, call)

    # The calls overlap (each sleeps 0.3 s), so the stored balance is still 10 while the
    # later ones ask: only the reservations can stop them.
    assert Counter(outcomes) == {"succeeded": 5, "refused": 3}
    assert runs(host)["probe_maybe"] == 5
    assert host.balance("ann") == 0
    assert_books(host._store)


# -- take-backs respect reservations ----------------------------------------------------


def test_a_take_back_cannot_take_reserved_tokens(store):
    store.create_user("ann", "user", "x", 10, actor="t")
    call = new_call("c1", cost=3)
    store.begin_call(call)

    with pytest.raises(InsufficientTokensError) as refused:
        store.adjust_balance("ann", -8, "adjustment", "admin", "too much")
    assert (refused.value.needed, refused.value.balance) == (8, 7)
    assert store.balance("ann") == 10

    assert store.adjust_balance("ann", -7, "adjustment", "admin", "all that is free") == 3
    # The running call's capture still finds its tokens: no CHECK violation, no overdraft.
    assert store.finish_call(call, "succeeded", 1.0, "[]")
    assert store.balance("ann") == 0
    assert_books(store)


def test_a_take_back_through_the_host_respects_a_running_calls_hold(host):
    host._store.create_user("ann", "user", "x", 4, actor="test")
    result: list[object] = []
    worker = threading.Thread(target=lambda: result.append(
        host.call("probe_maybe", "ann", {"seconds": 0.3}, call_id="c-run")))
    worker.start()
    try:
        deadline = time.monotonic() + 5
        while runs(host)["probe_maybe"] == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        with pytest.raises(InsufficientTokensError):
            host.grant("ann", -3, actor="admin", reason="more than is free")
        assert host.grant("ann", -2, actor="admin", reason="what is free") == 2
    finally:
        worker.join(10)
    assert result[0].ok and result[0].charged == 2
    assert host.balance("ann") == 0
    assert_books(host._store)


def test_a_failed_take_back_frees_what_it_reserved(store, monkeypatch):
    store.create_user("ann", "user", "x", 10, actor="t")

    def failing_write(work):
        raise OSError("disk full")

    monkeypatch.setattr(store, "_write", failing_write)
    with pytest.raises(OSError):
        store.adjust_balance("ann", -6, "adjustment", "admin", "take")
    monkeypatch.undo()

    assert store._book.held("ann") == 0
    assert store.begin_call(new_call("c1", cost=10)) is None  # all 10 are available


# -- a call id running in one thread ----------------------------------------------------


def test_a_second_begin_of_a_running_call_id_holds_nothing(store):
    store.create_user("ann", "user", "x", 10, actor="t")
    call = new_call("c1", cost=3)
    assert store.begin_call(call) is None

    again = store.begin_call(new_call("c1", cost=3))
    assert again is not None and again.status == "running" and again.call_id == "c1"
    assert store._book.held("ann") == 3
    assert store.get_call("c1").status == "running"

    assert store.finish_call(call, "succeeded", 1.0, "[]")
    replay = store.begin_call(new_call("c1", cost=3))
    assert replay.status == "succeeded"
    holds = [e for e in store.ledger("ann") if e.kind == "hold"]
    assert len(holds) == 1
    assert store.balance("ann") == 7
    assert_books(store)


def test_retries_racing_a_running_call_are_charged_once(host):
    host._store.create_user("ann", "user", "x", 10, actor="test")
    outcomes = [None] * THREADS

    def call(index: int) -> None:
        outcomes[index] = host.call("probe_maybe", "ann", {"seconds": 0.2, "tag": "same"},
                                    call_id="c-dup")

    run_threads(THREADS, call)

    assert runs(host)["probe_maybe"] == 1
    assert all(o.status == "succeeded" and o.charged == 2 for o in outcomes)
    assert sum(o.replayed for o in outcomes) == THREADS - 1
    assert host.balance("ann") == 8
    kinds = sorted(e.kind for e in host.ledger("ann") if e.call_id == "c-dup")
    assert kinds == ["capture", "hold"]
    assert_books(host._store)


def test_a_retry_of_a_finished_call_is_replayed_though_the_tokens_are_spent(store):
    store.create_user("ann", "user", "x", 3, actor="t")
    call = new_call("c1", cost=3)
    store.begin_call(call)
    store.finish_call(call, "succeeded", 1.0, "[]")
    assert store.balance("ann") == 0

    replay = store.begin_call(new_call("c1", cost=3))

    assert replay is not None and replay.status == "succeeded"
    with pytest.raises(InsufficientTokensError):  # a new call id is a new call
        store.begin_call(new_call("c2", cost=3))


def test_only_client_call_ids_are_looked_up(host, monkeypatch):
    host._store.create_user("ann", "user", "x", 10, actor="test")
    looked_up: list[str] = []
    real = host._store._stored_call

    def spy(call_id: str, *args, **kwargs):
        looked_up.append(call_id)
        return real(call_id, *args, **kwargs)

    monkeypatch.setattr(host._store, "_stored_call", spy)
    host.call("probe_maybe", "ann", {"tag": "a"})
    assert looked_up == []  # a random id made up by the host cannot name an earlier call
    host.call("probe_maybe", "ann", {"tag": "b"}, call_id="client-1")
    assert looked_up == ["client-1"]


def test_a_record_written_from_a_wrong_balance_is_refused_whole_then_written_right(
        store, monkeypatch):
    store.create_user("ann", "user", "x", 10, actor="t")
    call = new_call("c1", cost=3)
    store.begin_call(call)
    store._book._balances["ann"] += 1  # what a bug in the book would look like
    refused: list[BalanceDrift] = []
    real_write = duckdb_store.write_finished

    def spy(*args):
        try:
            return real_write(*args)
        except BalanceDrift as drift:
            refused.append(drift)
            raise

    monkeypatch.setattr(duckdb_store, "write_finished", spy)
    assert store.finish_call(call, "succeeded", 1.0, "[]")
    store._writer.wait()

    # The compare-and-set refused the write from the wrong balance (no ledger row with a
    # wrong balance_after); the book read the balance afresh and the retry wrote it right.
    assert refused
    assert store.get_call("c1").status == "succeeded"
    assert store._book.held("ann") == 0
    assert store.balance("ann") == 7
    call = new_call("c2", cost=3)
    assert store.begin_call(call) is None
    assert store.finish_call(call, "succeeded", 1.0, "[]")
    assert store.balance("ann") == 4
    assert_books(store)


# -- the sweep and the end of the process -----------------------------------------------


def test_the_sweep_writes_an_overdue_call_once_and_its_late_finish_is_refused(store):
    store.create_user("ann", "user", "x", 10, actor="t")
    overdue = NewCall(**{**vars(new_call("c-late")), "deadline_at": utcnow() - timedelta(1)})
    store.begin_call(overdue)
    store.begin_call(new_call("c-young"))

    assert store.release_abandoned(utcnow(), "swept") == ["c-late"]
    assert store.finish_call(overdue, "succeeded", 1.0, "[]") is None

    record = store.get_call("c-late")
    assert (record.status, record.charged, record.error) == ("abandoned", 0, "swept")
    kinds = sorted((e.kind, e.actor) for e in store.ledger("ann") if e.call_id == "c-late")
    assert kinds == [("hold", "ann"), ("release", "sweep")]
    assert store._book.held("ann") == 3  # c-young still runs
    assert store.balance("ann") == 10
    assert_books(store)


def test_a_process_that_ends_mid_call_leaves_nothing_held(tmp_path):
    path = tmp_path / "store.duckdb"
    first = DuckDBStore(path)
    first.create_user("ann", "user", "x", 10, actor="t")
    first.begin_call(new_call("c1", cost=3))
    assert first.verify_books().open_holds == 1
    first.close()  # the process ends: its reservation goes with it

    second = DuckDBStore(path)
    try:
        assert second.get_call("c1") is None
        assert second.balance("ann") == 10
        assert second.ledger("ann") and all(e.call_id is None for e in second.ledger("ann"))
        report = second.verify_books()
        assert report.ok and report.open_holds == 0
        assert second.begin_call(new_call("c1", cost=10)) is None  # the id and tokens are free
    finally:
        second.close()
