"""DuckDB's one writer: queued writes share a transaction, and batching changes no outcome.

The writer thread (core/store/duckdb_writer.py) runs every write queued meanwhile as one
transaction; if anything in it fails, it rolls the whole batch back and reruns each write
alone, retrying conflicts. These tests make batches on purpose: ``one_batch`` keeps the
writer busy with a transaction that waits until every given write is queued, so the next
transaction takes them all at once. Then they check that results and exceptions reach the
right caller, that a refusal costs nobody else anything, and that the books balance.
Finished calls are submitted without waiting (they are journaled first): the last tests
batch those.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import duckdb
import pytest
from conftest import busy_writer, new_call, run_threads

from tokenworks.errors import InsufficientTokensError, TokenworksError, UnknownUserError
from tokenworks.store import DuckDBStore, NewCall, duckdb_store
from tokenworks.store.ledger_writes import COLUMNWISE_FROM

THREADS = 8




def one_batch(store: DuckDBStore, *writes: Callable[[], Any]) -> list[Any]:
    """Run each write on its own thread so that all of them land in one batch.

    Each write must queue exactly one store write. Returns each one's result, or the
    exception it raised, in order.
    """
    outcomes: list[Any] = [None] * len(writes)

    def run(index: int) -> None:
        try:
            outcomes[index] = writes[index]()
        except Exception as error:
            outcomes[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(writes))]
    with busy_writer(store):
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while store._writer.queued() < len(writes):
            assert time.monotonic() < deadline, "the writes never queued up"
            time.sleep(0.001)
    for thread in threads:
        thread.join(10)
        assert not thread.is_alive()
    store._writer.wait()
    return outcomes


def finish_behind_a_busy_writer(store: DuckDBStore, *finishes: Callable[[], Any]) -> list[Any]:
    """Finish calls while the writer is busy, then let it go; returns their results.

    Each finish returns at once (the call is journaled, not yet in the tables), so the
    writer finds them all queued and takes them into its next transaction.
    """
    with busy_writer(store):
        outcomes = [finish() for finish in finishes]
        assert store._writer.queued() == len(finishes)  # answered, not written yet
    store._writer.wait()
    return outcomes


def delta(before, after) -> dict[str, int]:
    return {name: getattr(after, name) - getattr(before, name) for name in vars(after)}


def assert_books(store: DuckDBStore) -> None:
    report = store.verify_books()
    assert report.ok, report.problems[:10]
    for user in store.list_users():
        entries = sorted(store.ledger(user.name, limit=1_000_000), key=lambda e: e.id)
        assert user.balance == sum(e.amount for e in entries)
        # Rows written by one multi-row INSERT keep their order: each row's balance_after
        # is the running total of its account.
        running = 0
        for entry in entries:
            running += entry.amount
            assert entry.balance_after == running, entry


# -- batching happens ---------------------------------------------------------------


def test_a_lone_caller_gets_a_transaction_per_write(store):
    store.create_user("ann", "user", "x", 100, actor="t")
    before = store.write_stats
    for i in range(10):
        store.adjust_balance("ann", 1, "grant", "admin", f"gift {i}")

    counts = delta(before, store.write_stats)
    assert counts["requests"] == counts["transactions"] == 10
    assert counts["batches"] == counts["splits"] == 0
    assert store.balance("ann") == 110


def test_writes_queued_together_commit_as_one_transaction(store):
    for user in ("ann", "bo", "cy"):
        store.create_user(user, "user", "x", 10, actor="t")
    before = store.write_stats

    outcomes = one_batch(
        store,
        *(lambda user=user: store.adjust_balance(user, 5, "grant", "admin", "gift")
          for user in ("ann", "bo", "cy")),
        lambda: store.set_function_override("probe_ok", "cost", 4, 3, "admin", "dearer"),
    )

    assert outcomes == [15, 15, 15, None]
    counts = delta(before, store.write_stats)
    # The writer-holding transaction, then one for all four writes.
    assert (counts["requests"], counts["transactions"], counts["batches"]) == (5, 2, 1)
    assert counts["splits"] == 0
    assert [store.balance(u) for u in ("ann", "bo", "cy")] == [15, 15, 15]
    assert_books(store)


def test_eight_threads_of_metered_calls_share_transactions(make_host):
    # Eight calls of the function may run at once, so that eight threads' writes meet.
    host = make_host("meter_probe.py", sweep=False,
                     registry="[workers]\ncount = 8\n[functions.probe_maybe]\nconcurrency = 8\n")
    users = [f"u{i}" for i in range(THREADS)]
    for user in users:
        host._store.create_user(user, "user", "x", 1_000, actor="test")
    before = host._store.write_stats

    def work(index: int) -> None:
        for i in range(25):
            outcome = host.call("probe_maybe", users[index], {"fail": i % 5 == 0, "tag": str(i)})
            assert outcome.status == ("failed" if i % 5 == 0 else "succeeded")

    run_threads(THREADS, work)

    host._store._writer.wait()
    counts = delta(before, host._store.write_stats)
    failures = THREADS * 5  # each keeps why it failed, for admins: one write more
    # The whole call, once, and a failure's detail: batched by the writer.
    assert counts["requests"] == THREADS * 25 + failures
    assert counts["transactions"] < counts["requests"]
    assert len(host.calls(limit=1_000)) == THREADS * 25
    for user in users:
        assert host.balance(user) == 1_000 - 2 * 20  # 20 successes at 2 tokens
    assert_books(host._store)


# -- one write's failure is nobody else's -------------------------------------------


def test_a_refusal_in_a_batch_leaves_the_others_results_intact(store):
    store.create_user("ann", "user", "x", 10, actor="t")
    store.create_user("bo", "user", "x", 10, actor="t")
    call = new_call("c-bo", "bo")
    store.begin_call(call)
    version = store.state_version()
    before = store.write_stats

    outcomes = one_batch(
        store,
        lambda: store.adjust_balance("ann", 5, "grant", "admin", "gift"),
        lambda: store.adjust_balance("ghost", 5, "grant", "admin", "nobody"),
        lambda: store.create_user("bo", "user", "x", 99, actor="t"),
        lambda: store.finish_call(call, "failed", 1.0, error="boom"),
        lambda: store.set_function_override("probe_ok", "cost", 4, 3, "admin", "dearer"),
        lambda: store.set_role("ghost", "admin", "admin", "promote"),
    )

    assert outcomes[0] == 15
    assert isinstance(outcomes[1], UnknownUserError)
    assert isinstance(outcomes[2], TokenworksError) and "exists already" in str(outcomes[2])
    assert outcomes[3] is not None  # settled
    assert outcomes[4] is None
    assert isinstance(outcomes[5], UnknownUserError)
    counts = delta(before, store.write_stats)
    assert counts["splits"] == 1  # the batch failed as a whole, then each ran alone
    assert counts["transactions"] == 1 + 3  # the blocker, then the three that succeed

    # The refused writes wrote nothing ...
    assert store.get_user("ghost") is None
    assert store.balance("bo") == 10 and store.get_user("bo").role == "user"
    # ... and the others all took effect, once.
    assert store.balance("ann") == 15
    assert [e.kind for e in store.ledger("bo")] == ["release", "hold", "grant"]
    assert store.get_call("c-bo").status == "failed"
    assert store.function_overrides()["probe_ok"].cost == 4
    assert store.state_version() == version + 2
    assert_books(store)


def test_a_conflict_is_rolled_back_and_retried_alone_and_a_refusal_is_not(store):
    """DuckDB raises a TransactionException on a write-write conflict; with one writer in
    the process the real one cannot be provoked (docs/architecture.md), so a write raises it on
    its first attempt, after changing the account, as a conflict at commit would."""
    store.create_user("ann", "user", "x", 10, actor="t")
    attempts: list[int] = []

    def conflicting(tx):
        attempts.append(1)
        balance = tx.move("ann", 5, "grant", "admin", "gift")
        if len(attempts) == 1:
            raise duckdb.TransactionException("TransactionContext Error: Conflict on update")
        return balance

    before = store.write_stats
    assert store._write(conflicting) == 15
    assert len(attempts) == 2
    assert delta(before, store.write_stats)["retries"] == 1
    assert [e.amount for e in store.ledger("ann")] == [5, 10]  # the first try rolled back

    def refused(tx):
        attempts.append(1)
        raise InsufficientTokensError("ann", 99, 15)

    with pytest.raises(InsufficientTokensError):
        store._write(refused)
    assert len(attempts) == 3  # a refusal is an answer, not a conflict: never retried
    assert store.balance("ann") == 15
    assert_books(store)


def test_a_call_settled_by_its_worker_and_the_sweep_at_once_is_settled_once(store):
    store.create_user("ann", "user", "x", 20, actor="t")
    for attempt in range(20):
        call = new_call(f"c-late-{attempt}")
        store.begin_call(call)
        outcomes: list[Any] = [None, None]

        def settle(index: int, call: NewCall = call, outcomes: list[Any] = outcomes) -> None:
            outcomes[index] = (store.finish_call(call, "succeeded", 1.0, "[]") if index == 0
                               else store.release_abandoned(None, "swept"))

        run_threads(2, settle)
        settled_by_worker = outcomes[0] is not None
        assert settled_by_worker == (outcomes[1] == [])  # exactly one of them settled it
        kinds = sorted(e.kind for e in store.ledger("ann", 1000) if e.call_id == call.call_id)
        assert kinds == (["capture", "hold"] if settled_by_worker else ["hold", "release"])
    assert_books(store)


def test_finish_call_writes_nothing_for_a_call_that_does_not_match(store):
    store.create_user("ann", "user", "x", 20, actor="t")
    call = new_call("c1")
    store.begin_call(call)

    # Another user's or another price's settlement of this call id is not this call's.
    assert store.finish_call(new_call("c1", user="bo"), "failed", 1.0, error="x") is None
    assert store.finish_call(new_call("c1", cost=1), "failed", 1.0, error="x") is None
    assert store.get_call("c1").status == "running"
    assert store.finish_call(call, "failed", 1.0, error="x") is not None
    assert store.balance("ann") == 20
    assert_books(store)


# -- the books after a mixed concurrent run -----------------------------------------


def test_a_mixed_concurrent_run_keeps_the_books(store):
    users = ("ann", "bo", "cy")
    for user in users:
        store.create_user(user, "user", "x", 30, actor="t")
    version = store.state_version()
    admin_changes = Counter()
    before = store.write_stats

    def work(thread: int) -> None:
        rng = random.Random(thread)
        for i in range(30):
            user = users[rng.randrange(len(users))]
            roll = rng.random()
            if roll < 0.6:
                call = new_call(f"c{thread}-{i}", user, cost=rng.randint(0, 4))
                try:
                    store.begin_call(call)
                except InsufficientTokensError:
                    continue
                status = "succeeded" if roll < 0.4 else "failed"
                assert store.finish_call(call, status, 1.0, "[]" if status == "succeeded" else None)
            elif roll < 0.8:
                store.adjust_balance(user, rng.randint(1, 5), "grant", "admin", "race grant")
                admin_changes[thread] += 1
            elif roll < 0.9:
                try:
                    store.adjust_balance(user, -rng.randint(1, 8), "adjustment", "admin", "take")
                except InsufficientTokensError:
                    continue
                admin_changes[thread] += 1
            else:
                store.set_plugin_enabled("meter_probe", bool(i % 2), not i % 2, "admin", "flip")
                admin_changes[thread] += 1

    run_threads(THREADS, work)

    store._writer.wait()
    counts = delta(before, store.write_stats)
    assert counts["transactions"] < counts["requests"]
    assert_books(store)
    assert store.verify_books().open_holds == 0
    assert all(store.balance(user) >= 0 for user in users)
    # Every committed grant, take-back or toggle raised the version once.
    assert store.state_version() == version + sum(admin_changes.values())


# -- whole calls, written once, behind their callers ---------------------------------------


def test_a_call_with_its_hold_in_memory_is_written_once_behind_its_caller(store):
    store.create_user("ann", "user", "x", 100, actor="t")
    before = store.write_stats
    for i in range(10):
        call = new_call(f"c{i}")
        assert store.begin_call(call) is None
        assert store.finish_call(call, "succeeded" if i % 2 else "failed", 1.0, "[]")
        # Answered at once; whoever reads sees the call, written or not.
        assert store.get_call(f"c{i}").status == ("succeeded" if i % 2 else "failed")

    assert store.balance("ann") == 100 - 3 * 5  # a read waits for the pending writes
    counts = delta(before, store.write_stats)
    assert counts["requests"] == 10  # one write a call, when it ends
    assert 1 <= counts["transactions"] <= 10  # one per batch
    assert len(store.list_calls("ann")) == 10
    assert_books(store)


def test_whole_calls_queued_together_commit_as_one_transaction(store):
    for user in ("ann", "bo"):
        store.create_user(user, "user", "x", 10, actor="t")
    calls = [new_call("c-ann-1", "ann"), new_call("c-ann-2", "ann"), new_call("c-bo", "bo")]
    for call in calls:
        store.begin_call(call)
    before = store.write_stats

    outcomes = finish_behind_a_busy_writer(
        store,
        lambda: store.finish_call(calls[0], "succeeded", 1.0, "[]"),
        lambda: store.finish_call(calls[1], "failed", 1.0, error="boom"),
        lambda: store.finish_call(calls[2], "succeeded", 1.0, "[]"),
    )

    # Each reports its user's balance with every finished call counted, written or not.
    assert [settled.balance for settled in outcomes] == [7, 7, 7]
    counts = delta(before, store.write_stats)
    assert counts["transactions"] <= 3  # the blocker's, then at most two
    assert [store.balance(u) for u in ("ann", "bo")] == [7, 7]
    assert store.adjust_balance("ann", 5, "grant", "admin", "gift") == 12
    kinds = sorted((e.call_id, e.kind) for e in store.ledger("ann") if e.call_id)
    assert kinds == [("c-ann-1", "capture"), ("c-ann-1", "hold"),
                     ("c-ann-2", "hold"), ("c-ann-2", "release")]
    assert [store.balance(u) for u in ("ann", "bo")] == [12, 7]
    # The book learnt the committed balances: everything is available again.
    assert all(store._book.held(u) == 0 for u in ("ann", "bo"))
    assert_books(store)


def test_a_refused_write_in_a_batch_leaves_the_whole_calls_intact(store):
    store.create_user("ann", "user", "x", 10, actor="t")
    call = new_call("c-ann")
    store.begin_call(call)
    before = store.write_stats

    outcomes = one_batch(
        store,
        lambda: store.finish_call(call, "succeeded", 1.0, "[]"),
        lambda: store.adjust_balance("ghost", 5, "grant", "admin", "nobody"),
    )

    assert outcomes[0] is not None
    assert isinstance(outcomes[1], UnknownUserError)
    assert delta(before, store.write_stats)["splits"] == 1
    assert store.balance("ann") == 7
    assert store.get_call("c-ann").status == "succeeded"
    assert_books(store)


def test_a_call_the_tables_refuse_stays_held_and_is_written_at_the_next_start(
        tmp_path, monkeypatch):
    store = DuckDBStore(tmp_path / "store.duckdb")
    store.create_user("ann", "user", "x", 5, actor="t")
    call = new_call("c1", cost=3)
    store.begin_call(call)
    def failing_write(*args):
        raise OSError("disk full")

    monkeypatch.setattr(duckdb_store, "write_finished", failing_write)
    assert store.finish_call(call, "succeeded", 1.0, "[]")  # answered: it is journaled
    store._writer.wait()

    # The tables do not have it; its tokens stay held, so they cannot be spent twice.
    assert store._read("SELECT count(*) FROM calls")[0][0] == 0
    assert store.get_call("c1").status == "succeeded"
    assert store._book.held("ann") == 3
    with pytest.raises(InsufficientTokensError):
        store.begin_call(new_call("c2", cost=5))
    store.close()
    monkeypatch.undo()

    reopened = DuckDBStore(tmp_path / "store.duckdb")
    try:
        assert reopened.get_call("c1").status == "succeeded"
        assert reopened.balance("ann") == 2
        assert_books(reopened)
        assert not list(tmp_path.glob("store.duckdb.calls-journal.*"))
    finally:
        reopened.close()


def test_a_big_batch_of_whole_calls_is_written_column_wise_and_in_order(store):
    """Twelve calls of two users in one batch take the list-per-column statements: every
    value arrives (NULLs and timestamps included) and the ledger rows keep their order."""
    for user in ("ann", "bo"):
        store.create_user(user, "user", "x", 100, actor="t")
    calls = [new_call(f"c-{i}", ("ann", "bo")[i % 2], cost=i + 1) for i in range(12)]
    assert len(calls) >= COLUMNWISE_FROM  # so the calls and ledger rows are written as lists
    for call in calls:
        store.begin_call(call)
    before = store.write_stats

    outcomes = finish_behind_a_busy_writer(store, *[
        (lambda c=c, i=i: store.finish_call(c, "succeeded", float(i), f'["{i}"]') if i % 3
         else store.finish_call(c, "failed", None, error=f"boom {i}"))
        for i, c in enumerate(calls)])

    assert all(settled is not None for settled in outcomes) and len(outcomes) == 12
    counts = delta(before, store.write_stats)
    assert counts["transactions"] <= 3  # the blocker's; at most one call alone; the rest
    charged = {"ann": 0, "bo": 0}
    for i, call in enumerate(calls):
        record = store.get_call(call.call_id)
        assert (record.user, record.cost, record.input_hash) == (call.user, call.cost,
                                                                 call.input_hash)
        if i % 3:
            charged[call.user] += call.cost
            assert (record.status, record.result_json, record.error) == (
                "succeeded", f'["{i}"]', None)
            assert record.latency_ms == float(i)
        else:
            assert (record.status, record.result_json, record.error) == (
                "failed", None, f"boom {i}")
            assert record.latency_ms is None
        assert record.started_at <= record.finished_at
        assert record.deadline_at == call.deadline_at
    assert {u: store.balance(u) for u in charged} == {u: 100 - c for u, c in charged.items()}
    assert_books(store)


def test_a_failed_call_frees_its_tokens_before_its_release_is_written(store):
    store.create_user("ann", "user", "x", 3, actor="t")
    first, second = new_call("c1", cost=3), new_call("c2", cost=3)
    store.begin_call(first)
    with busy_writer(store):
        assert store.finish_call(first, "failed", 1.0, error="boom").balance == 3
        # Its release changes no balance, so its tokens are free before it is written.
        assert store.begin_call(second) is None
        assert store.finish_call(second, "succeeded", 1.0, "[]").balance == 0
        with pytest.raises(InsufficientTokensError):
            store.begin_call(new_call("c3", cost=1))  # the capture's tokens stay held
    assert store.balance("ann") == 0
    assert [store.get_call(c).status for c in ("c1", "c2")] == ["failed", "succeeded"]
    assert_books(store)
