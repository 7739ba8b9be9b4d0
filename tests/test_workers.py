"""Functions that ignore their timeout must not starve the calls after them."""

from __future__ import annotations

import threading
import time

from tokenworks.workers import WorkerPool


def test_a_clogged_pool_is_replaced_and_later_calls_still_run():
    release = threading.Event()
    pool = WorkerPool(workers=2)
    try:
        hung = [pool.submit(release.wait, 10) for _ in range(2)]
        time.sleep(0.05)  # both workers are now inside release.wait
        for future in hung:
            pool.abandon(future)
        assert pool.stuck == 2
        # Without a fresh pool this would queue behind the two hung calls.
        assert pool.submit(lambda: "ran").result(timeout=1) == "ran"
    finally:
        release.set()
        pool.shutdown()
    deadline = time.monotonic() + 2
    while pool.stuck and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pool.stuck == 0  # the stuck threads finished on their own and were forgotten


def test_abandoning_a_call_that_never_started_holds_nothing():
    release = threading.Event()
    pool = WorkerPool(workers=1)
    try:
        running = pool.submit(release.wait, 10)
        queued = pool.submit(lambda: "never")
        pool.abandon(queued)
        assert queued.cancelled() and pool.stuck == 0
        assert not running.done()
    finally:
        release.set()
        pool.shutdown()


def test_fresh_pools_stop_at_the_cap():
    release = threading.Event()
    pool = WorkerPool(workers=2, max_stuck=1)
    try:
        hung = [pool.submit(release.wait, 10) for _ in range(2)]
        time.sleep(0.05)
        for future in hung:
            pool.abandon(future)  # at the cap already: no fresh pool
        blocked = pool.submit(lambda: "queued")
        time.sleep(0.05)
        assert not blocked.done()
    finally:
        release.set()
        pool.shutdown()
