"""Write-behind: finished calls reach the tables from a background thread, many at a time.

The store has made each call durable in the call journal (call_journal.py) before handing
it here, so its caller has its outcome already; this thread only moves calls from the
journal into the tables, as many per transaction as have queued up. Readers that must see
every call finished so far (a balance, a history, the books) ``wait`` for the queue to
drain up to the moment they asked: read-your-writes, at the cost of one transaction's wait
when calls are pending and none when they are not.
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger("tokenworks.store")
T = TypeVar("T")

MAX_BATCH = 256  # items per write: a bound on one transaction's size


class WriteBehind(Generic[T]):
    def __init__(self, write: Callable[[list[T]], None]) -> None:
        self._write = write  # writes a batch; handles its own failures
        self._changed = threading.Condition()
        self._queue: list[T] = []
        self._submitted = 0
        self._done = 0
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="tokenworks-write-behind",
                                        daemon=True)
        self._thread.start()
        # A daemon thread still inside DuckDB when the interpreter shuts down aborts the
        # process; a program that exits without closing its store gets the queue written.
        atexit.register(_close_at_exit, weakref.ref(self))

    def submit(self, item: T) -> None:
        with self._changed:
            if self._closing:
                raise RuntimeError("the store is closed")
            self._queue.append(item)
            self._submitted += 1
            self._changed.notify_all()

    def wait(self) -> None:
        """Return once everything submitted before this call is written (or given up)."""
        if threading.current_thread() is self._thread:
            return  # the writer reading for itself
        with self._changed:
            target = self._submitted
            while self._done < target:
                self._changed.wait()

    def pending(self) -> int:
        with self._changed:
            return self._submitted - self._done

    def close(self) -> None:
        """Write what is queued, then stop the thread (again: nothing)."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._queue and not self._closing:
                    self._changed.wait()
                if not self._queue:
                    return
                batch = self._queue[:MAX_BATCH]
                del self._queue[:MAX_BATCH]
            try:
                self._write(batch)
            except BaseException:  # never let the thread die: readers would wait forever
                log.exception("write-behind: a batch of %d failed", len(batch))
            with self._changed:
                self._done += len(batch)
                self._changed.notify_all()


def _close_at_exit(ref: weakref.ref[WriteBehind]) -> None:
    behind = ref()
    if behind is not None:
        behind.close()
