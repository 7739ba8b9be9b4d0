"""A bounded worker pool that survives functions which ignore their timeout.

Python cannot kill a thread, so a function that hangs past its timeout keeps its worker.
Once half the workers are held that way, new calls go to a fresh pool and the stuck
threads are left to finish on their own. Fresh pools stop after a cap, so a plugin that
hangs on every call costs a bounded number of threads, not the process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

log = logging.getLogger("tokenworks.workers")


class WorkerPool:
    def __init__(self, workers: int, max_stuck: int | None = None) -> None:
        self._workers = workers
        self._max_stuck = max_stuck if max_stuck is not None else 4 * workers
        self._lock = threading.Lock()
        self._stuck: set[Future[Any]] = set()
        self._pool = self._new_pool()

    def _new_pool(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="tokenworks-call")

    def submit(self, function: Callable[..., Any], *args: Any) -> Future[Any]:
        with self._lock:
            future = self._pool.submit(function, *args)
            future.tokenworks_pool = self._pool  # type: ignore[attr-defined]
            return future

    def abandon(self, future: Future[Any]) -> None:
        """Stop waiting for a future whose timeout passed; replace the pool if it clogs."""
        if future.cancel():
            return  # it never started: nothing is held
        with self._lock:
            self._stuck.add(future)
            in_pool = sum(1 for f in self._stuck if f.tokenworks_pool is self._pool)
            if in_pool * 2 >= self._workers and len(self._stuck) < self._max_stuck:
                log.warning("%d calls outlived their timeout; starting a fresh worker pool",
                            len(self._stuck))
                self._pool.shutdown(wait=False)
                self._pool = self._new_pool()
        future.add_done_callback(self._finished)

    def _finished(self, future: Future[Any]) -> None:
        with self._lock:
            self._stuck.discard(future)

    @property
    def stuck(self) -> int:
        """Threads still running a call that timed out."""
        with self._lock:
            return len(self._stuck)

    def shutdown(self) -> None:
        with self._lock:
            self._pool.shutdown(wait=False, cancel_futures=True)
