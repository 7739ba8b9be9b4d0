"""DuckDB's one writer: a thread that owns the connection's writes.

Callers queue writes (a function of a transaction, or a finished call) and either wait for
their answer (``write``) or go on (``submit``, for finished calls already made durable in
the call journal). The thread takes everything queued, runs it in ONE transaction and
answers each caller; if anything in it raises, the transaction is rolled back and each
write is rerun alone, retried on a conflict, so one write's refusal or fault is nobody
else's. Why one writer, and why batches: docs/architecture.md.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from .sql_store import Tx

log = logging.getLogger("tokenworks.store")
RETRIES = 8
MAX_BATCH = 256  # writes per transaction: a bound on statement size

Apply = Callable[[Tx, Sequence[Any]], list[Any]]
Answer = Callable[[Any, BaseException | None], None]


@dataclass
class WriteStats:
    """Counters for tests and benchmarks; written by the writer thread only."""

    requests: int = 0  # writes answered (with a result or an exception)
    transactions: int = 0  # transactions committed
    batches: int = 0  # committed transactions that carried more than one write
    splits: int = 0  # batches rolled back and rerun write by write
    retries: int = 0  # transactions of one write retried (a conflict)


class _Request:
    __slots__ = ("answer", "error", "op", "result")

    def __init__(self, op: Any, answer: Answer | None) -> None:
        self.op, self.answer = op, answer
        self.result: Any = None
        self.error: BaseException | None = None


class Writer:
    def __init__(self, conn: duckdb.DuckDBPyConnection, apply: Apply,
                 committed: Callable[[Tx], None],
                 retryable: Callable[[Exception], bool]) -> None:
        self._cursor = conn.cursor()
        self._apply, self._committed, self._retryable = apply, committed, retryable
        self._changed = threading.Condition()
        self._queue: list[_Request] = []
        self._queued = 0  # requests ever queued
        self._done = 0  # requests answered, in queue order
        self._closing = False
        self.stats = WriteStats()
        self._thread = threading.Thread(target=self._run, name="tokenworks-writer", daemon=True)
        self._thread.start()
        # A daemon thread still inside DuckDB when the interpreter shuts down aborts the
        # process; a program that exits without closing its store gets the queue written.
        atexit.register(_close_at_exit, weakref.ref(self))

    def write(self, op: Any) -> Any:
        """Run ``op`` in a committed transaction and return its result (or raise its error)."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("the writer cannot wait for itself")
        request = _Request(op, None)
        self._wait_for(self._enqueue(request))
        if request.error is not None:
            raise request.error
        return request.result

    def submit(self, op: Any, answer: Answer) -> None:
        """Queue ``op`` without waiting; ``answer(result, error)`` runs on the writer thread."""
        self._enqueue(_Request(op, answer))

    def wait(self) -> None:
        """Return once everything queued before this call is answered."""
        if threading.current_thread() is not self._thread:
            with self._changed:
                target = self._queued
            self._wait_for(target)

    def queued(self) -> int:
        with self._changed:
            return len(self._queue)

    def close(self) -> None:
        """Write what is queued, then stop the thread (again: nothing)."""
        with self._changed:
            if self._closing and not self._thread.is_alive():
                return
            self._closing = True
            self._changed.notify_all()
        self._thread.join()
        self._cursor.close()

    def _enqueue(self, request: _Request) -> int:
        with self._changed:
            if self._closing:
                raise RuntimeError("the store is closed")
            self._queue.append(request)
            self._queued += 1
            self._changed.notify_all()
            return self._queued

    def _wait_for(self, number: int) -> None:
        with self._changed:
            while self._done < number:
                self._changed.wait()

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
                self._run_batch(batch)
            except BaseException as error:  # never let the thread die: callers would hang
                log.exception("store writer: a batch of %d failed", len(batch))
                for request in batch:
                    request.error = request.error or error
            for request in batch:
                if request.answer is not None:
                    try:
                        request.answer(request.result, request.error)
                    except Exception:
                        log.exception("store writer: answering a write failed")
            with self._changed:
                self._done += len(batch)
                self.stats.requests += len(batch)
                self._changed.notify_all()

    def _run_batch(self, batch: list[_Request]) -> None:
        if len(batch) > 1:
            try:
                results = self._transaction([request.op for request in batch])
            except Exception:
                self.stats.splits += 1
            else:
                self.stats.batches += 1
                for request, result in zip(batch, results, strict=True):
                    request.result = result
                return
        for request in batch:
            try:
                request.result = self._run_alone(request.op)
            except Exception as error:
                request.error = error

    def _run_alone(self, op: Any) -> Any:
        for attempt in range(RETRIES):
            try:
                return self._transaction([op])[0]
            except Exception as error:
                if attempt == RETRIES - 1 or not self._retryable(error):
                    raise
            self.stats.retries += 1
            time.sleep(0.001 * 2**attempt)
        raise AssertionError("unreachable")

    def _transaction(self, ops: list[Any]) -> list[Any]:
        tx = Tx(self._cursor)
        self._cursor.begin()
        try:
            results = self._apply(tx, ops)
            self._cursor.commit()
        except BaseException:
            self._cursor.rollback()
            raise
        self.stats.transactions += 1
        self._committed(tx)
        return results


def _close_at_exit(ref: weakref.ref[Writer]) -> None:
    writer = ref()
    if writer is not None and not writer._closing:
        writer.close()
