"""The embedded store on DuckDB: one process owns the file (DuckDB's lock), and one thread
owns its writes (duckdb_writer.py).

Running calls' holds live in memory (reservations.py), so a metered call is one write, when
it ends: appended to the call journal (call_journal.py, one synced line) before its caller
hears the outcome, then written to the tables by the writer behind the caller's back, many
calls per transaction (ledger_writes.py). Reads wait for what is queued, so whoever reads
after a call sees it. The SQL the engines share is sql_store.py's; this module adds the
calls' path, the cache's memory, and the writer's plumbing. docs/architecture.md says why.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

import duckdb

from ..errors import InsufficientTokensError, StorageUnavailableError, StoreLockedError
from . import private_files, schema
from .base import (
    BooksReport,
    CachedResult,
    CallRecord,
    CallStatus,
    NewCall,
    QuarantinedJournal,
    Settled,
    utcnow,
)
from .call_journal import CallJournal, quarantined
from .duckdb_writer import Writer, WriteStats
from .journal_replay import replay
from .ledger_writes import BalanceDrift, FinishedCall, write_finished
from .reservations import Reservation, ReservationBook
from .sql_store import SqlStore, Tx, insert_failure, put_cache_entry

log = logging.getLogger("tokenworks.store")
T = TypeVar("T")


class DuckDBStore(SqlStore):
    holds = "memory"
    engine = "duckdb"

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._private = self.path != ":memory:"
        if self._private:
            # The store's files are created 0600 (folders 0700) whatever the umask, the
            # WAL included, which DuckDB makes again after every checkpoint.
            private_files.acquire_private_umask()
            try:
                private_files.make_private_folder(Path(self.path).parent)
                private_files.tighten_store_files(Path(self.path))
            except BaseException:
                private_files.release_private_umask()
                raise
        try:
            self._conn = duckdb.connect(self.path)
        except duckdb.IOException as error:
            self._release_private()
            raise _explain_lock(self.path, error) from None
        except BaseException:
            self._release_private()
            raise
        # The store's statements touch a few rows each; DuckDB's worker threads would cost
        # more CPU per call than they save (docs/architecture.md). SET, not connect(config=...):
        # another connection to the same file in this process must not need it.
        self._conn.execute("SET threads = 1")
        self._book = ReservationBook(self._read_balance)
        self._writer = Writer(self._conn, self._apply, self._committed, self._retryable)
        try:
            self._write(lambda tx: schema.apply_migrations(tx.all, self.engine))
        except BaseException:
            self._writer.close()
            self._conn.close()
            self._release_private()
            raise
        # One process writes the file, so the state version is known without reads.
        self._version = self._read("SELECT version FROM state_version WHERE id = 1")[0][0]
        # Result cache entries not in the table yet, and a superset of the keys it holds,
        # so a miss (the common case) costs no query.
        self._unwritten_cache: dict[str, CachedResult] = {}
        self._cache_keys: set[str] = set()
        self._load_cache_keys()
        # Why the last write of calls to the tables failed, until one succeeds, and why the
        # journal of an earlier process could not be replayed (health).
        self._tables_problem: str | None = None
        self._replay_problem: str | None = None
        # A :memory: database dies with the process, so it needs no journal.
        self._journal = CallJournal(self.path) if self.path != ":memory:" else None
        if self._journal is not None:
            self._write_journal_leftovers()

    # -- the engine seam ----------------------------------------------------------------

    def _read(self, sql: str, params: Any = (), wait: bool = True) -> list[tuple[Any, ...]]:
        if wait:
            self._writer.wait()
        cursor = self._conn.cursor()
        try:
            return cursor.execute(sql, params or []).fetchall()
        finally:
            cursor.close()

    def _write(self, work: Callable[[Tx], T]) -> T:
        return self._writer.write(work)

    @contextmanager
    def _snapshot(self) -> Iterator[Tx]:
        self._writer.wait()
        cursor = self._conn.cursor()
        try:
            cursor.begin()
            yield Tx(cursor)
        finally:
            cursor.rollback()
            cursor.close()

    def _apply(self, tx: Tx, ops: Sequence[Any]) -> list[Any]:
        """One transaction's writes: functions in order, then the finished calls together."""
        results: list[Any] = [None] * len(ops)
        finished = []
        for index, op in enumerate(ops):
            if isinstance(op, FinishedCall):
                finished.append(op)
            else:
                results[index] = op(tx)
        self._write_finished(tx, finished)
        return results

    def _write_finished(self, tx: Tx, finished: list[FinishedCall]) -> None:
        # Balances before them: as this transaction left them so far, else as the last
        # commit did (the book learns every commit's balances).
        before = {user: tx.balances[user] if user in tx.balances else self._book.balance(user)
                  for user in {done.call.user for done in finished}}
        tx.balances.update(write_finished(tx.cursor, finished, before))
        tx.written.extend(done.reservation for done in finished)

    def _committed(self, tx: Tx) -> None:
        """After every commit, before any caller hears of it."""
        if tx.version is not None:
            self._version = tx.version
        if tx.balances or tx.written:
            self._book.committed(tx.balances, tx.written)

    def _retryable(self, error: Exception) -> bool:
        if isinstance(error, BalanceDrift):
            # Cannot happen while this process is the only writer; read them afresh.
            self._book.forget_balances(error.users)
            return True
        return isinstance(error, duckdb.TransactionException) or (
            isinstance(error, duckdb.ConstraintException) and "Duplicate key" in str(error))

    @property
    def write_stats(self) -> WriteStats:
        """How many writes, transactions and batches so far (a snapshot)."""
        return dataclasses.replace(self._writer.stats)

    def close(self) -> None:
        self._writer.close()  # writes what is queued first
        if self._journal is not None:
            self._journal.close()
        self._conn.close()
        self._release_private()

    def _release_private(self) -> None:
        if self._private:
            self._private = False  # once, however often close is called
            private_files.release_private_umask()

    # -- tokens -------------------------------------------------------------------------

    def adjust_balance(self, user: str, amount: int, kind: Literal["grant", "adjustment"],
                       actor: str, reason: str) -> int:
        if amount >= 0:
            return super().adjust_balance(user, amount, kind, actor, reason)
        # A take-back first reserves its amount, as a call does: it may not take tokens
        # that running calls hold, or their captures would hit the CHECK constraint.
        taken = self._book.reserve_take_back(user, -amount)

        def work(tx: Tx) -> int:
            balance = tx.move(user, amount, kind, actor, reason)
            tx.written.append(taken)
            tx.bump_version()
            return balance

        try:
            return self._write(work)
        finally:
            self._book.cancel(taken)  # a no-op once committed

    def _read_balance(self, user: str) -> int | None:
        # The committed balance, which is what the reservation book wants: pending calls
        # still hold their tokens in it until the tables have them.
        rows = self._read("SELECT balance FROM accounts WHERE user_name = ?", [user], wait=False)
        return rows[0][0] if rows else None

    # -- calls --------------------------------------------------------------------------

    def begin_call(self, call: NewCall, fresh: bool = False) -> CallRecord | None:
        # Reserve first, then look the id up: while we hold the reservation nobody else can
        # start or finish this call id, so the look-up cannot miss a call that just ended.
        try:
            reservation, new = self._book.reserve_call(call)
        except InsufficientTokensError:
            earlier = None if fresh else self._stored_call(call.call_id, wait=False)
            if earlier is None:
                raise
            return earlier  # a retry of a finished call is replayed, whatever the balance
        if not new:
            return _running(reservation)
        if not fresh:
            # A finished call of this id is either still in the book (not new, above) or
            # committed: no need to wait for the pending ones.
            earlier = self._stored_call(call.call_id, wait=False)
            if earlier is not None:
                self._book.cancel(reservation)
                return earlier
        return None

    def finish_call(
        self, call: NewCall, status: CallStatus, latency_ms: float,
        result_json: str | None = None, error: str | None = None, cached: bool = False,
    ) -> Settled | None:
        reservation = self._book.claim(call)
        if reservation is None:
            return None  # settled by the sweep, or not this call
        done = FinishedCall(reservation, status, latency_ms, result_json, error, "host",
                            cached=cached, finished_at=utcnow())
        final = _final_record(done)
        segment = None
        if self._journal is not None:
            try:
                # All that writing it takes: its final record, who settled it, and what it
                # was charged (checked against its status when the entry is replayed).
                segment = self._journal.append({**dataclasses.asdict(final),
                                                "actor": done.actor, "charged": final.charged})
            except StorageUnavailableError as failure:
                # Its outcome is not durable, so it is not an outcome: the call is refused
                # and forgotten (its tokens free again, nothing of it written); a retry with
                # its id runs it afresh.
                self._book.cancel(reservation)
                log.error("call %s refused, nothing charged: %s", call.call_id, failure)
                raise StorageUnavailableError(
                    f"storage unavailable: {failure}. The call's outcome could not be "
                    "recorded, so nothing was charged; try again later.") from failure
        # Until the tables have it, the book answers for the call with its final record:
        # only now, so that nobody (a retry replaying it) hears an outcome not yet durable.
        self._book.finished(reservation, final)
        self._writer.submit(done, lambda _, failure: self._call_written(done, segment, failure))
        # No read: the book knows the committed balance and the calls on their way.
        return Settled(self._book.balance_after_finished(call.user))

    def _call_written(self, done: FinishedCall, segment: int | None,
                      failure: BaseException | None) -> None:
        """The writer's answer for a call written behind its caller."""
        if failure is None:
            self._tables_problem = None
            if segment is not None and self._journal is not None:
                self._journal.written([segment])
            return
        # Kept in the journal, written at the next start; its tokens stay held meanwhile.
        log.error("call %s: not written", done.call.call_id, exc_info=failure)
        self._tables_problem = (f"calls cannot be written to the store's tables "
                                f"({type(failure).__name__}; see the log)")

    def record_failure(self, call_id: str, detail: str) -> None:
        """Behind the caller, like the call it belongs to (read after it, as calls are)."""
        def answer(_: Any, failure: BaseException | None) -> None:
            if failure is not None:  # diagnostics: the call itself is written
                log.warning("call %s: failure detail not kept", call_id, exc_info=failure)

        self._writer.submit(lambda tx: insert_failure(tx, call_id, detail), answer)

    def _write_journal_leftovers(self) -> None:
        """At start: write the calls an earlier process journaled but did not get into the
        tables, then delete its journal, or quarantine the parts of it that were wrong
        (journal_replay.py). Whatever happens, the store opens."""
        assert self._journal is not None

        def stored(ids: list[str]) -> set[str]:
            return {row[0] for row in self._read(
                "SELECT call_id FROM calls WHERE call_id IN (SELECT unnest(?::VARCHAR[]))",
                [ids])}

        def users(names: set[str]) -> set[str]:
            return {row[0] for row in self._read(
                "SELECT name FROM users WHERE name IN (SELECT unnest(?::VARCHAR[]))",
                [sorted(names)])}

        try:
            replay(self._journal, self._book, stored=stored, users=users,
                   write=self._write_each)
        except Exception as error:
            # Left in place: the next start replays them again (what is written is skipped).
            log.exception("call journal: the calls of an earlier process could not be "
                          "replayed; their journal is kept for the next start")
            self._replay_problem = (f"calls journaled before the last start are not in the "
                                    f"store's tables yet ({type(error).__name__}; see the log)")

    def _write_each(self, calls: list[FinishedCall]) -> list[BaseException | None]:
        """Write finished calls (the writer batches them); each one's error, or None."""
        errors: list[BaseException | None] = [None] * len(calls)
        for index, done in enumerate(calls):
            self._writer.submit(done, lambda _, error, i=index: errors.__setitem__(i, error))
        self._writer.wait()
        return errors

    def get_call(self, call_id: str) -> CallRecord | None:
        reservation = self._book.running(call_id)
        if reservation is not None:
            return _running(reservation)
        # Not in the book: committed, or never made. Nothing pending can change that.
        return self._stored_call(call_id, wait=False)

    def release_abandoned(self, deadline_before: datetime | None, reason: str) -> list[str]:
        released = []
        for reservation in self._book.claim_overdue(deadline_before):
            done = FinishedCall(reservation, "abandoned", None, None, reason, "sweep")
            try:
                self._write(done)
            finally:
                # Once committed, the book dropped the reservation with the commit's
                # balances; if the write failed, nothing was written and the tokens are free.
                self._book.cancel(reservation)
            released.append(done.call.call_id)
        if deadline_before is None:
            released += self._write(lambda tx: _release_stored_running(tx, reason))
        return released

    # -- state version, health, books ---------------------------------------------------

    def state_version(self) -> int:
        return self._version

    def known_state_version(self) -> int | None:
        return self._version  # kept in memory: this process is the file's one writer

    def storage_problem(self) -> str | None:
        journal = self._journal.problem if self._journal is not None else None
        return journal or self._tables_problem or self._replay_problem

    def quarantined_journals(self) -> list[QuarantinedJournal]:
        return [] if self.path == ":memory:" else quarantined(self.path)

    def verify_books(self) -> BooksReport:
        report = super().verify_books()
        # Holds in memory are holds too.
        report.open_holds += sum(1 for r in self._book.calls() if r.amount > 0)
        report.quarantined_journals = self.quarantined_journals()
        return report

    # -- the result cache: in memory until the table has it -----------------------------

    def _load_cache_keys(self) -> None:
        try:
            rows = self._read("SELECT cache_key FROM result_cache", wait=False)
        except duckdb.CatalogException:  # a store migrated only up to before the cache
            rows = []
        table = {key for (key,) in rows}
        # An entry is in the table or, until its write commits, in _unwritten_cache. A put
        # racing this assignment can lose its key here: its entry then reads as a miss
        # once written, never as a wrong answer, until the next reload.
        self._cache_keys = table | set(self._unwritten_cache)

    def cache_get(self, key: str, now: datetime) -> CachedResult | None:
        entry = self._unwritten_cache.get(key)
        if entry is not None:
            return entry if entry.expires_at > now else None
        if key not in self._cache_keys:
            return None
        return super().cache_get(key, now)

    def cache_put(self, entry: CachedResult) -> None:
        """Written behind the call that made it, like the call; not journaled: an entry
        lost to a crash is a cache miss, nothing more."""
        self._cache_keys.add(entry.key)  # before the write: the set stays a superset
        self._unwritten_cache[entry.key] = entry

        def answer(_: Any, failure: BaseException | None) -> None:
            if failure is not None:  # a lost entry is a later miss, nothing more
                log.warning("result cache: an entry was not kept", exc_info=failure)
            # Unless a newer entry replaced it meanwhile (then that one's write drops it).
            if self._unwritten_cache.get(entry.key) is entry:
                self._unwritten_cache.pop(entry.key, None)

        self._writer.submit(lambda tx: put_cache_entry(tx, entry), answer)

    def cache_clear(self, function: str | None, actor: str, reason: str) -> int:
        self._writer.wait()  # entries on their way to the table are cleared too
        try:
            return super().cache_clear(function, actor, reason)
        finally:
            self._load_cache_keys()

    def cache_purge(self, versions: dict[str, str], now: datetime) -> int:
        self._writer.wait()
        try:
            return super().cache_purge(versions, now)
        finally:
            self._load_cache_keys()


def _release_stored_running(tx: Tx, reason: str) -> list[str]:
    """Release calls the tables hold as running: only a store whose holds were durable (an
    earlier version's) has them, left by a crash; settled as the sweep settles a call."""
    released = []
    for call_id, user, cost, function in tx.all(
            "UPDATE calls SET status = 'abandoned', error = ?, finished_at = ? "
            "WHERE status = 'running' RETURNING call_id, user_name, cost, function",
            [reason, utcnow()]):
        if cost > 0:
            tx.move(user, cost, "release", "sweep", f"{function} abandoned: nothing charged",
                    call_id)
        released.append(call_id)
    return released


def _running(reservation: Reservation) -> CallRecord:
    """The record of a call that runs with its hold in memory (it is written when it ends),
    or, once it is over, its final record until the tables have it."""
    if reservation.final is not None:
        return reservation.final
    c = reservation.call
    assert c is not None
    return CallRecord(c.call_id, c.user, c.function, c.plugin, c.plugin_version, c.cost,
                      "running", c.input_hash, c.input_json, None, None,
                      reservation.started_at, c.deadline_at, None, None)


def _final_record(done: FinishedCall) -> CallRecord:
    c = done.call
    return CallRecord(c.call_id, c.user, c.function, c.plugin, c.plugin_version, c.cost,
                      done.status, c.input_hash, c.input_json, done.result_json, done.error,
                      done.reservation.started_at, c.deadline_at, done.finished_at,
                      done.latency_ms, done.cached)


def _explain_lock(path: str, error: duckdb.IOException) -> Exception:
    message = str(error)
    if "lock" not in message.lower():
        return error
    holder = re.search(r"held in (.+?) \(PID (\d+)\)", message)
    who = f"process {holder.group(2)} ({holder.group(1)})" if holder else "another process"
    return StoreLockedError(
        f"the store {path} is in use by {who}. DuckDB lets one process open a store file; "
        "stop that process or use it (e.g. the running `tokenworks serve`), "
        "or run several processes on PostgreSQL."
    )
