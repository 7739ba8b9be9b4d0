"""Group commit: the writes of many threads, committed as one DuckDB transaction.

Why this exists: every store write runs behind one process-wide writer, deliberately,
because DuckDB can lose one of two racing updates of a row without an error (docs/duckdb.md).
With one transaction per write, threads queued for that writer one commit at a time and
8 threads got no more done than one, while each transaction costs milliseconds of fixed
overhead (BEGIN, per-statement planning, COMMIT). So a write is a request in a queue:

- whichever thread finds no transaction running becomes the leader, takes every request
  queued so far, runs them all on one cursor in ONE transaction, commits once and hands
  each request its result;
- the other threads (followers) wait until their request is done, or until the leader
  steps down and one of them leads the next batch;
- a lone caller finds nobody leading and runs at once. Only when other threads have been
  writing too may a leader wait, briefly and boundedly, for them to queue (_gather).

If anything in a batch raises (a refusal, a duplicate call id, a conflict), the whole
batch is rolled back and each of its requests is rerun alone, in its own transaction with
retries: one request's refusal never changes another's outcome, nothing partial is ever
committed, and a result or an exception reaches only the caller whose request it is.

What a request is (a closure or a typed operation) and how a list of them is applied on a
cursor is the store's business: the writer takes an ``apply(cursor, ops) -> results``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

RETRIES = 8
MAX_BATCH = 256  # requests per transaction; a bound on statement size, rarely reached
MAX_DELAY = 0.002  # seconds a leader may wait for siblings (see _gather)

Apply = Callable[[duckdb.DuckDBPyConnection, Sequence[Any]], list[Any]]


@dataclass
class WriteStats:
    """Counters for tests and benchmarks; written by the leader only."""

    requests: int = 0  # requests answered (with a result or an exception)
    transactions: int = 0  # transactions committed
    batches: int = 0  # committed transactions that carried more than one request
    splits: int = 0  # batches rolled back and rerun request by request
    delays: int = 0  # times a leader waited for siblings before starting


class _Request:
    __slots__ = ("done", "error", "op", "result", "thread")

    def __init__(self, op: Any) -> None:
        self.op = op
        self.thread = threading.get_ident()
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None

    def finish(self, result: Any = None, error: BaseException | None = None) -> None:
        self.result, self.error = result, error
        self.done = True  # last: a follower that sees done reads result and error

    def outcome(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result


class GroupCommitWriter:
    def __init__(
        self, conn: duckdb.DuckDBPyConnection, apply: Apply,
        after_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self._conn = conn
        self._apply = apply
        self._after_commit = after_commit
        self._lock = threading.Lock()  # guards everything below
        self._stepped_down = threading.Condition(self._lock)
        self._arrived = threading.Condition(self._lock)
        self._queue: list[_Request] = []
        self._leading = False
        self._recent: tuple[set[int], set[int]] = (set(), set())  # threads of the last batches
        self._last_seconds = 0.0  # how long the last transaction took
        self.stats = WriteStats()

    def write(self, op: Any) -> Any:
        """Apply ``op`` in a committed transaction, maybe with others'; return its result."""
        request = _Request(op)
        with self._lock:
            self._queue.append(request)
            self._arrived.notify()
        while True:
            batch = self._lead_or_wait(request)
            if not batch:
                return request.outcome()
            started = time.perf_counter()
            try:
                self._run(batch)
            finally:
                with self._lock:
                    self._leading = False
                    self._recent = (self._recent[1], {r.thread for r in batch})
                    self._last_seconds = time.perf_counter() - started
                    self._stepped_down.notify_all()

    def _lead_or_wait(self, request: _Request) -> list[_Request]:
        """Wait while another thread leads; then [] if our request is done, else a batch."""
        with self._lock:
            leading = False
            try:
                while self._leading and not request.done:
                    self._stepped_down.wait()
                if request.done:
                    return []
                self._leading = leading = True
                self._gather()
            except BaseException:  # e.g. KeyboardInterrupt while waiting: withdraw
                with contextlib.suppress(ValueError):
                    self._queue.remove(request)
                if leading:
                    self._leading = False
                    self._stepped_down.notify_all()
                raise
            batch = self._queue[:MAX_BATCH]
            del self._queue[:MAX_BATCH]
            return batch

    def _gather(self) -> None:
        """Wait a moment for siblings: threads that wrote in the last two batches and have
        no request queued yet (PostgreSQL's commit_delay and commit_siblings, in spirit).

        Without it, N busy threads split into two cohorts that take turns: one cohort's
        batch runs while the other gets its results and makes its next request, so every
        batch carries about N/2 requests. A transaction's cost hardly grows with its size
        (docs/benchmarks.md), so one batch of N costs about as much as one of N/2. The
        wait ends as soon as they have all arrived, and lasts at most half as long as the
        last transaction took (and MAX_DELAY). A lone caller, or a thread that is the
        only recent writer, never waits.
        """
        expected = len(self._recent[0] | self._recent[1])
        if len(self._queue) >= expected:
            return
        self.stats.delays += 1
        deadline = time.perf_counter() + min(MAX_DELAY, self._last_seconds / 2)
        while len(self._queue) < expected:
            left = deadline - time.perf_counter()
            if left <= 0:
                return
            self._arrived.wait(left)

    def _run(self, batch: list[_Request]) -> None:
        try:
            if len(batch) > 1 and self._run_together(batch):
                return
            for request in batch:
                try:
                    request.finish(self._run_alone(request.op))
                except Exception as error:
                    request.finish(error=error)
        except BaseException as error:
            # e.g. KeyboardInterrupt in the leader: no follower may wait forever.
            for request in batch:
                if not request.done:
                    request.finish(error=error)
            raise
        finally:
            self.stats.requests += len(batch)

    def _run_together(self, batch: list[_Request]) -> bool:
        """One transaction for the whole batch; False (all rolled back) if anything raised."""
        try:
            results = self._transaction([request.op for request in batch])
        except Exception:
            self.stats.splits += 1
            return False
        self.stats.batches += 1
        for request, result in zip(batch, results, strict=True):
            request.finish(result)
        return True

    def _run_alone(self, op: Any) -> Any:
        """One transaction for one request; conflicts are rolled back and retried."""
        for attempt in range(RETRIES):
            try:
                return self._transaction([op])[0]
            except (duckdb.TransactionException, duckdb.ConstraintException) as error:
                if attempt == RETRIES - 1 or not _retryable(error):
                    raise
            time.sleep(0.001 * 2**attempt)
        raise AssertionError("unreachable")

    def _transaction(self, ops: list[Any]) -> list[Any]:
        cursor = self._conn.cursor()
        try:
            cursor.begin()
            try:
                results = self._apply(cursor, ops)
                cursor.commit()
            except BaseException:
                cursor.rollback()
                raise
        finally:
            cursor.close()
        self.stats.transactions += 1
        self._after_commit()
        return results


def _retryable(error: Exception) -> bool:
    return isinstance(error, duckdb.TransactionException) or "Duplicate key" in str(error)
