"""Many threads on one Host and one account: no token may be lost or made up.

DuckDB can lose one of two racing UPDATEs of a row without an error (docs/architecture.md,
"Racing updates can be lost"); the store serializes writes to prevent it. These tests
would catch a change that lets two balance writes race again, on DuckDB's one writer with
holds in memory (one write a call, reservations in memory).
"""

from __future__ import annotations

import contextlib
import random
from collections import Counter
from datetime import timedelta

import pytest
from conftest import plugin_runs, run_threads

from tokenworks.errors import InsufficientTokensError
from tokenworks.host import Host
from tokenworks.meter import CallOutcome
from tokenworks.store import NewCall, utcnow

THREADS = 8
CALLS_PER_THREAD = 500
SHARED_IDS = 25  # call ids that every thread uses, so retries race each other
START = 10_000
COST = 2  # probe_maybe


def assert_balance_is_sum_of_ledger(host: Host, user: str) -> int:
    balance = host.balance(user)
    assert balance == sum(e.amount for e in host.ledger(user, limit=1_000_000))
    report = host.verify_books()
    assert report.ok, report.problems[:10]
    return balance


# DuckDB runs about 2 ms a statement on the 2-core machines measured here, so a metered
# call (two write transactions) costs ~13 ms and 8 x 500 calls take about a minute: that
# size runs as `slow`; the small size checks the same properties in the fast loop.


@pytest.mark.parametrize("calls_per_thread", [
    25, pytest.param(CALLS_PER_THREAD, marks=pytest.mark.slow, id="8x500")])
def test_threads_calling_one_host_charge_each_successful_call_id_once(make_host,
                                                                      calls_per_thread):
    host = make_host("meter_probe.py", sweep=False)
    host._store.create_user("ann", "user", "x", START, actor="test")
    outcomes: list[list[CallOutcome]] = [[] for _ in range(THREADS)]

    def work(thread: int) -> None:
        for i in range(calls_per_thread):
            if i % 10 == 0:
                # A shared id always carries the same input, as a client's retry would.
                k = (i // 10 + thread) % SHARED_IDS
                call_id, fail, tag = f"shared-{k}", k % 5 == 0, f"s{k}"
            else:
                n = thread * calls_per_thread + i
                call_id, fail, tag = f"t{thread}-{i}", i % 10 in (3, 7), f"n{n}"
            outcomes[thread].append(
                host.call("probe_maybe", "ann", {"fail": fail, "tag": tag}, call_id=call_id))

    run_threads(THREADS, work)

    every = [o for per_thread in outcomes for o in per_thread]
    assert len(every) == THREADS * calls_per_thread
    statuses = Counter(o.status for o in every)
    assert set(statuses) == {"succeeded", "failed"}, statuses
    assert 0.15 < statuses["failed"] / len(every) < 0.25  # ~20% fail by input
    # Every use of one call id reports the same outcome, and all but one are replays.
    by_id: dict[str, set[str]] = {}
    for outcome in every:
        by_id.setdefault(outcome.call_id, set()).add(outcome.status)
    assert all(len(seen) == 1 for seen in by_id.values())
    replayed = sum(o.replayed for o in every)
    assert replayed == len(every) - len(by_id)
    assert plugin_runs(host, "meter_probe")["probe_maybe"] == len(
        by_id)

    succeeded = {o.call_id for o in every if o.status == "succeeded"}
    balance = assert_balance_is_sum_of_ledger(host, "ann")
    assert balance == START - COST * len(succeeded)
    stored = host.calls("ann", limit=1_000_000)
    assert len(stored) == len(by_id)
    assert {c.call_id for c in stored if c.status == "succeeded"} == succeeded
    assert not [c for c in stored if c.status == "running"]


def test_mixed_debits_refunds_and_grants_on_one_account_lose_nothing(make_host):
    """The lost-update regression (docs/architecture.md), straight on the store: holds and captures,
    holds and releases, grants and take-backs all racing on the same row."""
    host = make_host("meter_probe.py", sweep=False)
    store = host._store
    store.create_user("ann", "user", "x", 500, actor="test")
    ops_per_thread = 40  # 320 racing writes: a few seconds at ~2 ms a DuckDB statement
    applied: list[Counter[str]] = [Counter() for _ in range(THREADS)]

    def work(thread: int) -> None:
        rng = random.Random(thread)  # reproducible mix per thread
        done = applied[thread]
        for i in range(ops_per_thread):
            roll = rng.random()
            if roll < 0.5:
                call_id, cost = f"c{thread}-{i}", rng.randint(1, 5)
                call = NewCall(
                    call_id=call_id, user="ann", function="probe_maybe",
                    plugin="meter_probe", plugin_version="local", cost=cost,
                    input_hash=call_id, input_json="{}",
                    deadline_at=utcnow() + timedelta(seconds=30))
                try:
                    store.begin_call(call)
                except InsufficientTokensError:
                    done["refused"] += 1
                    continue
                if roll < 0.3:  # a debit that sticks
                    assert store.finish_call(call, "succeeded", 1.0, "[]")
                    done["spent"] += cost
                else:  # a failed call: its hold comes back
                    assert store.finish_call(call, "failed", 1.0, error="boom")
            elif roll < 0.75:
                amount = rng.randint(1, 10)
                store.adjust_balance("ann", amount, "grant", "admin", "race grant")
                done["granted"] += amount
            else:
                amount = rng.randint(1, 10)
                try:
                    store.adjust_balance("ann", -amount, "adjustment", "admin", "race take")
                except InsufficientTokensError:
                    done["refused"] += 1
                else:
                    done["taken"] += amount

    run_threads(THREADS, work)

    total = sum(applied, Counter())
    balance = assert_balance_is_sum_of_ledger(host, "ann")
    assert balance == 500 + total["granted"] - total["taken"] - total["spent"]
    assert balance >= 0
    assert total["spent"] > 0 and total["granted"] > 0 and total["taken"] > 0


def test_concurrent_calls_for_several_users_keep_accounts_apart(make_host):
    user_count = 3
    host = make_host("meter_probe.py", sweep=False)
    users = [f"u{i}" for i in range(user_count)]
    for user in users:
        host._store.create_user(user, "user", "x", 40, actor="test")

    def work(thread: int) -> None:
        user = users[thread % user_count]
        for i in range(30):
            # Two threads share 40 tokens at 2 a call: some calls must be refused.
            with contextlib.suppress(InsufficientTokensError):
                host.call("probe_maybe", user, {"tag": f"{thread}-{i}"})

    run_threads(6, work)

    for user in users:
        succeeded = [c for c in host.calls(user, limit=10_000)
                     if c.status == "succeeded"]
        assert assert_balance_is_sum_of_ledger(host, user) == 40 - COST * len(succeeded)
        assert host.balance(user) == 0  # 60 attempts for 20 affordable calls
