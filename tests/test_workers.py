"""Containment: every call runs in a worker process, and whatever a function does there
costs only that call (and its worker), never the host or another function's calls.

The functions are real plugins (tests/plugins/hostile.py, meter_probe.py) run by real
worker processes on a real store; the books are verified after each test.
"""

from __future__ import annotations

import resource
import threading
import time
from collections.abc import Callable

import pytest
from conftest import run_threads

from tokenworks.errors import BusyError
from tokenworks.host import Host

GRANT = 10_000


@pytest.fixture
def host(make_host: Callable[..., Host]) -> Host:
    host = make_host("hostile.py", "meter_probe.py", registry="[workers]\ncount = 2\n",
                     sweep=False)
    host._store.create_user("ann", "user", "x", GRANT, actor="test")
    return host


def assert_books(host: Host) -> None:
    report = host.verify_books()
    assert report.ok, report.problems
    assert report.open_holds == 0


def settled(host: Host, call_id: str) -> list[str]:
    return sorted(e.kind for e in host.ledger(limit=10_000) if e.call_id == call_id)


def wait_for_workers(host: Host, count: int) -> None:
    deadline = time.monotonic() + 10
    while host.worker_stats()["workers"] < count and time.monotonic() < deadline:
        time.sleep(0.02)
    assert host.worker_stats()["workers"] == count


@pytest.mark.parametrize(("function", "how"), [
    ("hostile_exit", "exited with status 3"),
    ("hostile_segfault", "was killed by SIGSEGV"),
])
def test_a_worker_that_dies_fails_only_its_call(host, function, how):
    outcome = host.call(function, "ann", {}, call_id="c-die")

    assert outcome.status == "failed" and outcome.charged == 0
    assert "worker process died" in outcome.error and "c-die" in outcome.error
    assert settled(host, "c-die") == ["hold", "release"]
    [failed] = host.failed_calls()
    assert failed.call_id == "c-die" and how in failed.detail
    # The pool refills, and the next call is answered as if nothing happened.
    assert host.call("probe_ok", "ann", {"text": "after"}).ok
    wait_for_workers(host, 2)
    assert host.balance("ann") == GRANT - 3
    assert_books(host)


def test_a_call_past_its_timeout_has_its_worker_killed_and_replaced(host):
    started = time.perf_counter()
    outcome = host.call("hostile_hang", "ann", {}, call_id="c-hang")
    elapsed = time.perf_counter() - started

    assert outcome.status == "timeout" and outcome.charged == 0
    assert elapsed < 3  # answered at the 0.5 s timeout, not after the hour's sleep
    assert "killed at the timeout" in host.failed_calls()[0].detail
    wait_for_workers(host, 2)
    assert host.call("hostile_ok", "ann", {}).ok
    assert_books(host)


def test_80_hung_calls_leave_other_functions_answering(host):
    """The review's break 1: hung calls held every thread until nothing answered."""
    outcomes: list[str] = []
    lock = threading.Lock()

    def hang(index: int) -> None:
        try:
            result = host.call("hostile_hang", "ann", {}).status
        except BusyError:
            result = "busy"
        with lock:
            outcomes.append(result)

    hung = threading.Thread(target=run_threads, args=(80, hang))
    hung.start()
    try:
        time.sleep(0.2)  # the hung calls have taken what they may
        for _ in range(10):
            started = time.perf_counter()
            assert host.call("probe_ok", "ann", {"text": "still here"}).ok
            # Not queued behind them: 80 hung calls one after another would take 40 s.
            assert time.perf_counter() - started < 2
    finally:
        hung.join(120)
    assert not hung.is_alive() and len(outcomes) == 80
    assert set(outcomes) <= {"timeout", "busy"} and "busy" in outcomes
    assert host.balance("ann") == GRANT - 10 * 3  # neither timeouts nor refusals cost
    assert_books(host)


def test_a_spinning_function_holds_only_its_own_worker(host):
    spinning = threading.Thread(target=host.call, args=("hostile_spin", "ann", {}))
    spinning.start()
    try:
        time.sleep(0.2)
        assert host.call("probe_ok", "ann", {"text": "beside a spinner"}).ok
    finally:
        spinning.join(10)
    assert host.failed_calls()[0].status == "timeout"
    assert_books(host)


def test_a_function_at_its_limit_with_a_full_queue_is_refused_at_once(make_host):
    host = make_host("hostile.py", registry="[workers]\ncount = 2\nqueue = 0\n", sweep=False)
    host._store.create_user("ann", "user", "x", GRANT, actor="test")
    assert host.function("hostile_hang").concurrency == 1  # half the workers
    first = threading.Thread(target=host.call, args=("hostile_hang", "ann", {}))
    first.start()
    try:
        time.sleep(0.2)
        started = time.perf_counter()
        with pytest.raises(BusyError, match="hostile_hang is busy") as refused:
            host.call("hostile_hang", "ann", {}, call_id="c-refused")
        assert time.perf_counter() - started < 0.5  # at once, not after a wait
        assert refused.value.retry_after >= 1
        assert "nothing was charged" in str(refused.value)
        assert host.call_record("c-refused") is None  # nothing written
        assert any("refused as busy" in reason for reason in host._workers.health())
    finally:
        first.join(10)
    assert host.balance("ann") == GRANT
    assert_books(host)


def test_a_plugin_cannot_claim_more_workers_than_there_are(host):
    # hostile_ok asks for 256 at once; the host has 2 workers.
    assert host.function("hostile_ok").concurrency == 2


def test_a_result_over_the_size_limit_is_refused_and_never_reaches_the_host(host):
    """The review's break 7: 100 MB results were accepted, charged and held in memory."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB, the peak so far
    for index in range(4):
        outcome = host.call("hostile_big", "ann", {"megabytes": 100}, call_id=f"c-big{index}")
        assert outcome.status == "invalid_result" and outcome.charged == 0
        assert "over the limit of 16.0 MiB" in outcome.error
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown < 50 * 1024  # KiB: the host never held the results
    assert host.call("hostile_big", "ann", {"megabytes": 1}).ok  # under the limit: fine
    assert_books(host)


def test_a_worker_that_allocates_past_its_memory_limit_fails_that_call(make_host):
    host = make_host("hostile.py", registry="[workers]\ncount = 1\nmemory_mb = 200\n",
                     sweep=False)
    host._store.create_user("ann", "user", "x", GRANT, actor="test")

    outcome = host.call("hostile_hog", "ann", {"megabytes": 1024})

    assert outcome.status == "failed" and outcome.charged == 0
    assert "MemoryError" in host.failed_calls()[0].detail
    assert host.call("hostile_hog", "ann", {"megabytes": 50}).ok  # within the limit
    assert_books(host)


def test_a_result_that_is_not_blocks_gets_a_plain_message(host):
    outcome = host.call("hostile_dict", "ann", {})
    assert outcome.status == "invalid_result" and outcome.charged == 0
    assert "item 0" in outcome.error
    assert "union" not in outcome.error.lower() and "discriminator" not in outcome.error
    assert_books(host)


def test_a_worker_cannot_make_the_host_unpickle_its_messages(host, tmp_path):
    outcome = host.call("hostile_forge", "ann", {})

    assert outcome.status == "invalid_result" and outcome.charged == 0
    assert "malformed answer" in outcome.error
    assert not (tmp_path / "local_plugins" / "hostile.forged").exists()
    wait_for_workers(host, 2)  # the worker that lied was replaced
    assert host.call("hostile_ok", "ann", {}).ok
    assert_books(host)


def test_the_host_process_runs_no_function_code(host, tmp_path):
    """Functions run in workers: a function that ends its process leaves the host alive,
    and the pids the workers report are not the host's."""
    import os

    assert host.call("hostile_exit", "ann", {}).status == "failed"
    wait_for_workers(host, 2)  # the one that exited is replaced
    pids = {worker.pid for worker in host._workers._workers}
    assert pids and os.getpid() not in pids


def test_calls_running_at_shutdown_are_released_before_the_store_closes(make_host):
    host = make_host("hostile.py", registry="[workers]\ncount = 2\n", sweep=False)
    host._store.create_user("ann", "user", "x", GRANT, actor="test")
    outcomes = []
    running = threading.Thread(target=lambda: outcomes.append(
        host.call("hostile_spin", "ann", {}, call_id="c-shut")))
    running.start()
    time.sleep(0.3)  # it spins in its worker now
    host.close()  # stops the workers, waits for the call to be settled, closes the store
    running.join(5)

    [outcome] = outcomes
    assert outcome.status == "failed" and outcome.charged == 0
    assert "the host shut down while it ran" in outcome.error
    again = make_host("hostile.py", sweep=False)  # the same store, reopened
    assert again.call_record("c-shut").status == "failed"
    assert again.balance("ann") == GRANT
    assert_books(again)


def test_spare_workers_start_while_all_are_busy_and_stop_once_idle(make_host, monkeypatch):
    from tokenworks.workers import pool

    host = make_host("hostile.py", "meter_probe.py", registry="[workers]\ncount = 1\n",
                     sweep=False)
    host._store.create_user("ann", "user", "x", GRANT, actor="test")
    hung = threading.Thread(target=host.call, args=("hostile_hang", "ann", {}))
    hung.start()
    try:
        time.sleep(0.2)  # the one worker hangs: another function gets a spare
        assert host.call("probe_ok", "ann", {"text": "beside it"}).ok
        assert host.worker_stats()["workers"] == 2
    finally:
        hung.join(10)
    wait_for_workers(host, 2)  # the hung worker was replaced; the spare is idle
    monkeypatch.setattr(pool, "SPARE_IDLE", 0.0)
    assert host._workers.retire_idle() == 1
    assert host.worker_stats()["workers"] == 1
    assert host.call("probe_ok", "ann", {"text": "still served"}).ok
    assert_books(host)
