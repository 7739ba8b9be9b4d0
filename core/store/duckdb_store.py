"""The embedded store on DuckDB.

DuckDB facts measured on these machines (docs/duckdb.md) shape this module:
- one connection per process, a fresh cursor for every operation (a shared cursor
  fails at once with "connection is busy" under threads);
- write conflicts raise and must be rolled back and retried;
- on tables with a primary key, racing UPDATEs can lose a change without an error, so
  every write goes through one process-wide writer, one transaction at a time, and every
  balance change is written in one form (``ledger_writes.change_balances``).

The writer commits the writes that threads queue up meanwhile as one transaction
(group_commit.py); holds, settlements and whole calls, the writes of every metered call,
are gathered from such a batch and written with multi-row statements (ledger_writes.py).

The process holds the file exclusively, so by default running calls' holds live in memory
(holds="memory", reservations.py) and a metered call is ONE write, when it ends: appended
to the call journal (call_journal.py, one synced line) before its caller hears the
outcome, and written to the tables behind the caller's back (write_behind.py), many calls
per transaction. Reads wait for those writes, so whoever reads after a call sees it. The
durable holds of stores with several writer processes stay available (holds="durable")
and tested: begin_call then writes the hold and finish_call settles it, synchronously.
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

from ..errors import (
    InsufficientTokensError,
    StorageUnavailableError,
    StoreLockedError,
    TokenworksError,
    UnknownUserError,
)
from . import private_files
from .base import (
    BooksReport,
    CachedResult,
    CallRecord,
    CallStatus,
    FunctionOverrides,
    HoldsMode,
    LedgerEntry,
    NewCall,
    QuarantinedJournal,
    Role,
    Settled,
    StateChange,
    Store,
    User,
    utcnow,
)
from .books import judge_holds, judge_negative_costs, judge_unheld_calls
from .call_failures import CallFailureLog, FailureDetail
from .call_journal import CallJournal, quarantined
from .call_log import CallLogReads
from .duckdb_api import DuckDBApiStore
from .duckdb_cache import DuckDBResultCache
from .duckdb_sessions import DuckDBSessionStore
from .group_commit import GroupCommitWriter, WriteStats
from .journal_replay import replay
from .ledger_writes import (
    BalanceDrift,
    CallExists,
    Hold,
    LedgerRow,
    Record,
    Records,
    Settle,
    append_ledger,
    write_calls,
    write_records,
)
from .reservations import Reservation, ReservationBook
from .schema import MIGRATIONS
from .write_behind import WriteBehind

log = logging.getLogger("tokenworks.store")
T = TypeVar("T")
# What waits for the tables: a journaled call (its record and its journal segment, None
# without a journal, on a :memory: store), or a result cache entry.
Pending = tuple[Record, int | None] | CachedResult | FailureDetail
LEDGER_COLUMNS = "id, occurred_at, user_name, kind, amount, call_id, actor, reason, balance_after"


# DuckDBApiStore: the REST API's needs; DuckDBResultCache: the result cache;
# DuckDBSessionStore: portal sessions and sign-in throttling.
class DuckDBStore(CallLogReads, CallFailureLog, Store, DuckDBApiStore, DuckDBResultCache,
                  DuckDBSessionStore):
    marker = "?"  # DuckDB's parameter marker (call_log.py)

    def __init__(self, path: str | Path, holds: HoldsMode = "memory") -> None:
        self.path = str(path)
        if holds not in ("memory", "durable"):
            raise ValueError(f"holds must be 'memory' or 'durable', not {holds!r}")
        self.holds = holds
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
        # The store's statements touch a few rows each: with DuckDB's background worker
        # threads (one per core by default) every statement hands tasks to a worker and
        # waits for it, which cost 8-11% more CPU per metered call here and more wall time
        # on a busy machine (docs/benchmarks.md). Each caller's thread still runs its own
        # queries, so concurrent readers and the writer keep running side by side; what
        # is given up is parallelism inside one large query (a scan of a huge ledger).
        # SET, not connect(config=...): another connection to the same file in this
        # process (tests, tools) must not need the same configuration.
        self._conn.execute("SET threads = 1")
        self._book = ReservationBook(self._read_balance) if holds == "memory" else None
        # What the transaction being applied did to accounts and reservations; reported to
        # the book once it commits (_after_commit), forgotten if it rolls back.
        self._new_balances: dict[str, int] = {}
        self._written: list[Reservation] = []
        self._writer = GroupCommitWriter(self._conn, self._apply, self._after_commit)
        self._version_bumped = False
        self._migrate()
        # Holds in memory: finished calls go to the journal, then to the tables in the
        # background. A :memory: database dies with the process, so it needs no journal.
        self._journal: CallJournal | None = None
        self._behind: WriteBehind[Pending] | None = None
        self._unwritten_cache: dict[str, CachedResult] = {}
        # Why the last write of calls to the tables failed, until one succeeds, and why the
        # journal of an earlier process could not be replayed (health).
        self._tables_problem: str | None = None
        self._replay_problem: str | None = None
        self._load_cache_keys(self._conn)
        if self._book is not None:
            if self.path != ":memory:":
                self._journal = CallJournal(self.path)
                self._write_journal_leftovers()
            self._behind = WriteBehind(self._write_pending)
        # One process owns a DuckDB file, so every change passes through _write and the
        # state version can be served from memory: portals and calls read it constantly.
        self._version = self._read_version()

    # -- plumbing ---------------------------------------------------------------------

    @contextmanager
    def _cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        cursor = self._conn.cursor()
        try:
            yield cursor
        finally:
            cursor.close()

    def _write(self, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run ``work`` in a committed transaction through the process-wide writer.

        The transaction may carry other threads' writes too; if anything in it fails,
        ``work`` is rerun alone. Conflicts are rolled back and retried with backoff; errors
        raised by ``work`` itself (refusals) roll back and propagate.
        """
        return self._writer.write(work)

    def _apply(self, cursor: duckdb.DuckDBPyConnection, ops: Sequence[Any]) -> list[Any]:
        """Apply one transaction's requests: closures run in order, then the holds,
        settlements and records among them are written together (ledger_writes.write_calls).
        """
        self._new_balances, self._written = {}, []  # a rolled-back attempt's are void
        results: list[Any] = [None] * len(ops)  # a hold's or a record's result is None
        holds: list[Hold] = []
        settles: list[tuple[int, Settle]] = []
        records: list[Record] = []
        for index, op in enumerate(ops):
            if isinstance(op, Hold):
                holds.append(op)
            elif isinstance(op, Settle):
                settles.append((index, op))
            elif isinstance(op, Record):
                records.append(op)
            elif isinstance(op, Records):
                records.extend(op.records)
            else:
                results[index] = op(cursor)
        if holds or settles:
            settled, balances = write_calls(cursor, holds, [op for _, op in settles])
            self._noted(balances)
            for (index, _), done in zip(settles, settled, strict=True):
                results[index] = done
        if records:
            assert self._book is not None
            # Balances before the records: as this transaction left them so far, else as
            # the last commit did (the book learns every commit's balances).
            before = {user: self._new_balances[user] if user in self._new_balances
                      else self._book.balance(user) for user in {r.call.user for r in records}}
            self._noted(write_records(cursor, records, before),
                        *(record.reservation for record in records))
        return results

    def _noted(self, balances: dict[str, int], *written: Reservation) -> None:
        """Note, in the transaction being applied, accounts' balances after it and the
        reservations it writes (only the writer's leader runs this)."""
        self._new_balances.update(balances)
        self._written.extend(written)

    def _after_commit(self) -> None:
        """Called by the writer after every commit, before any caller sees its result."""
        self._refresh_version()
        if self._book is not None and (self._new_balances or self._written):
            self._book.committed(self._new_balances, self._written)
        self._new_balances, self._written = {}, []

    @property
    def write_stats(self) -> WriteStats:
        """How many write requests, transactions and batches so far (a snapshot)."""
        return dataclasses.replace(self._writer.stats)

    def _read(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """One statement's rows, once every call finished so far is in the tables."""
        self._await_pending()
        return self._peek(sql, params)

    def _peek(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """One statement's rows as committed now, without waiting for pending calls: for
        reads that the calls on their way to the tables cannot change."""
        with self._cursor() as cursor:
            return cursor.execute(sql, params or []).fetchall()

    def _write_statement(self, sql: str, params: list[Any]) -> None:
        self._write(lambda cursor: cursor.execute(sql, params))

    def _await_pending(self) -> None:
        if self._behind is not None:
            self._behind.wait()

    def _migrate(self) -> None:
        def apply(cursor: duckdb.DuckDBPyConnection) -> None:
            cursor.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, description VARCHAR, applied_at TIMESTAMP)"
            )
            done = {row[0] for row in cursor.execute("SELECT version FROM schema_migrations")
                    .fetchall()}
            for version, description, statements in MIGRATIONS:
                if version in done:
                    continue
                for statement in statements:
                    cursor.execute(statement)
                cursor.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                    [version, description, utcnow()],
                )

        self._write(apply)

    def schema_version(self) -> int:
        return self._read("SELECT max(version) FROM schema_migrations")[0][0] or 0

    def close(self) -> None:
        if self._behind is not None:
            self._behind.close()  # writes what is pending first
        if self._journal is not None:
            self._journal.close()
        self._conn.close()
        self._release_private()

    def _release_private(self) -> None:
        if self._private:
            self._private = False  # once, however often close is called
            private_files.release_private_umask()

    # -- admin-state primitives (always inside _write) ---------------------------------

    def _bump_version(self, cursor: duckdb.DuckDBPyConnection) -> None:
        cursor.execute("UPDATE state_version SET version = version + 1 WHERE id = 1")
        self._version_bumped = True  # only the writer's leader runs this

    def _refresh_version(self) -> None:
        """Called by the writer after every commit, before any caller sees its result.

        A flag left set by a transaction that rolled back costs one needless read later.
        """
        if self._version_bumped:
            self._version_bumped = False
            self._version = self._read_version()

    def _log_change(
        self, cursor: duckdb.DuckDBPyConnection, actor: str, target_kind: str, target: str,
        field: str, before: Any, after: Any, reason: str,
    ) -> None:
        cursor.execute(
            "INSERT INTO state_changes (occurred_at, actor, target_kind, target, field, before, "
            "after, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [utcnow(), actor, target_kind, target, field, _text(before), _text(after), reason],
        )

    # -- users ------------------------------------------------------------------------

    def create_user(
        self, name: str, role: Role, password_hash: str, starting_grant: int, actor: str
    ) -> User:
        def work(cursor: duckdb.DuckDBPyConnection) -> User:
            if cursor.execute("SELECT 1 FROM users WHERE name = ?", [name]).fetchone():
                raise TokenworksError(f"user {name!r} exists already")
            created = utcnow()
            cursor.execute("INSERT INTO users VALUES (?, ?, ?, ?)",
                           [name, role, password_hash, created])
            cursor.execute("INSERT INTO accounts VALUES (?, 0)", [name])
            if starting_grant:
                self._noted(append_ledger(cursor, [LedgerRow(
                    name, "grant", starting_grant, None, actor, "starting grant")]))
            self._log_change(cursor, actor, "user", name, "created", None, role, "new user")
            self._bump_version(cursor)
            return User(name, role, created, starting_grant)

        return self._write(work)

    def get_user(self, name: str) -> User | None:
        rows = self._read(
            "SELECT u.name, u.role, u.created_at, a.balance FROM users u "
            "JOIN accounts a ON a.user_name = u.name WHERE u.name = ?", [name])
        return User(*rows[0]) if rows else None

    def password_hash(self, name: str) -> str | None:
        rows = self._read("SELECT password_hash FROM users WHERE name = ?", [name])
        return rows[0][0] if rows else None

    def list_users(self) -> list[User]:
        rows = self._read(
            "SELECT u.name, u.role, u.created_at, a.balance FROM users u "
            "JOIN accounts a ON a.user_name = u.name ORDER BY u.name")
        return [User(*row) for row in rows]

    def set_role(self, name: str, role: Role, actor: str, reason: str) -> None:
        def work(cursor: duckdb.DuckDBPyConnection) -> None:
            row = cursor.execute("SELECT role FROM users WHERE name = ?", [name]).fetchone()
            if row is None:
                raise UnknownUserError(f"no such user: {name}")
            cursor.execute("UPDATE users SET role = ? WHERE name = ?", [role, name])
            self._log_change(cursor, actor, "user", name, "role", row[0], role, reason)
            self._bump_version(cursor)

        self._write(work)

    def set_password_hash(self, name: str, password_hash: str, actor: str, reason: str) -> None:
        def work(cursor: duckdb.DuckDBPyConnection) -> None:
            if not cursor.execute("SELECT 1 FROM users WHERE name = ?", [name]).fetchone():
                raise UnknownUserError(f"no such user: {name}")
            cursor.execute("UPDATE users SET password_hash = ? WHERE name = ?",
                           [password_hash, name])
            self._end_user_sessions(cursor, name, "password changed", utcnow())
            self._log_change(cursor, actor, "user", name, "password", None, "changed", reason)

        self._write(work)

    # -- tokens -----------------------------------------------------------------------

    def adjust_balance(
        self, user: str, amount: int, kind: Literal["grant", "adjustment"], actor: str,
        reason: str,
    ) -> int:
        # With holds in memory a take-back first reserves its amount, as a call does: it may
        # not take tokens that running calls hold, or their captures would hit the CHECK.
        taken = None
        if self._book is not None and amount < 0:
            taken = self._book.reserve_take_back(user, -amount)

        def work(cursor: duckdb.DuckDBPyConnection) -> int:
            balances = append_ledger(cursor, [LedgerRow(user, kind, amount, None, actor, reason)])
            self._noted(balances, *([taken] if taken else []))
            self._bump_version(cursor)
            return balances[user]

        try:
            return self._write(work)
        finally:
            if taken is not None:
                self._book.cancel(taken)  # type: ignore[union-attr]  # no-op once committed

    def balance(self, user: str) -> int:
        self._await_pending()
        balance = self._read_balance(user)
        if balance is None:
            raise UnknownUserError(f"no such user: {user}")
        return balance

    def _read_balance(self, user: str) -> int | None:
        # The committed balance, which is what the reservation book wants: pending calls
        # still hold their tokens in it until the tables have them.
        rows = self._peek("SELECT balance FROM accounts WHERE user_name = ?", [user])
        return rows[0][0] if rows else None

    def ledger(self, user: str | None = None, limit: int = 100) -> list[LedgerEntry]:
        where, params = ("WHERE user_name = ?", [user]) if user else ("", [])
        rows = self._read(
            f"SELECT {LEDGER_COLUMNS} FROM ledger {where} ORDER BY id DESC LIMIT ?",
            [*params, limit])
        return [LedgerEntry(*row) for row in rows]

    # -- calls ------------------------------------------------------------------------

    def begin_call(self, call: NewCall, fresh: bool = False) -> CallRecord | None:
        if self._book is None:
            try:
                self._writer.write(Hold(call))
            except CallExists:
                return self.get_call(call.call_id)
            return None
        # Reserve first, then look the id up: while we hold the reservation nobody else can
        # start or finish this call id, so the look-up cannot miss a call that just ended.
        try:
            reservation, new = self._book.reserve_call(call)
        except InsufficientTokensError:
            earlier = None if fresh else self._stored_call(call.call_id, self._peek)
            if earlier is None:
                raise
            return earlier  # a retry of a finished call is replayed, whatever the balance
        if not new:
            return _running(reservation)
        if not fresh:
            # A finished call of this id is either still in the book (not new, above) or
            # committed: no need to wait for the pending ones.
            earlier = self._stored_call(call.call_id, self._peek)
            if earlier is not None:
                self._book.cancel(reservation)
                return earlier
        return None

    def finish_call(
        self, call: NewCall, status: CallStatus, latency_ms: float,
        result_json: str | None = None, error: str | None = None, cached: bool = False,
    ) -> Settled | None:
        if self._book is None:
            done = self._writer.write(Settle(call.call_id, call.user, call.cost, call.function,
                                             status, latency_ms, result_json, error,
                                             actor="host", cached=cached))
            return Settled() if done else None
        reservation = self._book.claim(call)
        if reservation is None:
            return None  # settled by the sweep, or not this call
        record = Record(reservation, status, latency_ms, result_json, error, "host",
                        cached=cached, finished_at=utcnow())
        final = _final_record(record)
        segment = None
        if self._journal is not None:
            try:
                # All that writing it takes: its final record, who settled it, and what it
                # was charged (checked against its status when the entry is replayed).
                segment = self._journal.append({**dataclasses.asdict(final),
                                                "actor": record.actor, "charged": final.charged})
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
        assert self._behind is not None
        self._behind.submit((record, segment))
        # No read: the book knows the committed balance and the calls on their way.
        return Settled(self._book.balance_after_finished(call.user))

    def _write_pending(self, pending: list[Pending]) -> None:
        """The write-behind thread's work: journaled calls into the tables, all in one
        transaction, or one by one if that fails (so one bad call cannot hold up others);
        then the result cache's new entries."""
        calls = [item for item in pending if isinstance(item, tuple)]
        entries = [item for item in pending if isinstance(item, CachedResult)]
        failures = [item for item in pending if isinstance(item, FailureDetail)]
        if calls:
            try:
                self._writer.write(Records(tuple(record for record, _ in calls)))
                written = calls
            except Exception:
                written = [item for item in calls if self._write_one_pending(item[0])]
            if len(written) == len(calls):
                self._tables_problem = None
            if self._journal is not None:
                self._journal.written([segment for _, segment in written
                                       if segment is not None])
        if entries:
            try:
                self._write_cache_entries(entries)
            except Exception:  # a lost entry is a later miss, nothing more
                log.warning("result cache: %d entries not kept", len(entries), exc_info=True)
        if failures:
            sql = self._insert_failure_sql()
            now = utcnow()
            try:
                self._write(lambda cursor: cursor.executemany(
                    sql, [[f.call_id, now, f.detail] for f in failures]))
            except Exception:  # diagnostics: the calls themselves are written
                log.warning("%d failed calls' details not kept", len(failures), exc_info=True)

    def record_failure(self, call_id: str, detail: str) -> None:
        """Behind the caller, like the call it belongs to (read after it, as calls are)."""
        if self._behind is None:
            super().record_failure(call_id, detail)
        else:
            self._behind.submit(FailureDetail(call_id, detail))

    def _write_one_pending(self, record: Record) -> bool:
        for attempt in (1, 2):
            try:
                self._writer.write(record)
                return True
            except BalanceDrift as drift:
                # Cannot happen while this process is the only writer; read them afresh.
                self._book.forget_balances(drift.users)  # type: ignore[union-attr]
                if attempt == 2:
                    log.exception("call %s: not written", record.call.call_id)
                    self._tables_problem = _tables_problem(drift)
            except Exception as error:
                log.exception("call %s: not written", record.call.call_id)
                self._tables_problem = _tables_problem(error)
                break
        # Kept in the journal, written at the next start; its tokens stay held meanwhile.
        return False

    def _write_journal_leftovers(self) -> None:
        """At start: write the calls an earlier process journaled but did not get into the
        tables, then delete its journal, or quarantine the parts of it that were wrong
        (journal_replay.py). Whatever happens, the store opens."""
        assert self._journal is not None and self._book is not None

        def stored(ids: list[str]) -> set[str]:
            return {row[0] for row in self._peek(
                "SELECT call_id FROM calls WHERE call_id IN (SELECT unnest(?::VARCHAR[]))",
                [ids])}

        def users(names: set[str]) -> set[str]:
            return {row[0] for row in self._peek(
                "SELECT name FROM users WHERE name IN (SELECT unnest(?::VARCHAR[]))",
                [sorted(names)])}

        try:
            replay(self._journal, self._book, stored=stored, users=users,
                   write=lambda records: self._writer.write(Records(tuple(records))))
        except Exception as error:
            # Left in place: the next start replays them again (what is written is skipped).
            log.exception("call journal: the calls of an earlier process could not be "
                          "replayed; their journal is kept for the next start")
            self._replay_problem = (f"calls journaled before the last start are not in the "
                                    f"store's tables yet ({type(error).__name__}; see the log)")

    def _write_record(self, record: Record) -> None:
        try:
            self._writer.write(record)
        except BalanceDrift as drift:
            # Cannot happen while this process is the only writer; if it ever does, the
            # call is not written (nothing charged) and the next call reads the balance.
            self._book.forget_balances(drift.users)  # type: ignore[union-attr]
            raise
        finally:
            # Once committed, the book dropped the reservation with the commit's balances;
            # if the write failed, nothing was written and the tokens are free again.
            self._book.cancel(record.reservation)  # type: ignore[union-attr]

    def get_call(self, call_id: str) -> CallRecord | None:
        reservation = self._book.running(call_id) if self._book is not None else None
        if reservation is not None:
            return _running(reservation)
        # Not in the book: committed, or never made. Nothing pending can change that.
        return self._stored_call(call_id, self._peek)

    def release_abandoned(self, deadline_before: datetime | None, reason: str) -> list[str]:
        # The sweep knows nothing of these calls, so it reads their user and cost; a call
        # its worker settles meanwhile is no longer running, and its Settle writes nothing.
        query = "SELECT call_id, user_name, cost, function FROM calls WHERE status = 'running'"
        if deadline_before is None:
            rows = self._read(query)
        else:
            rows = self._read(f"{query} AND deadline_at < ?", [deadline_before])
        released = []
        for call_id, user, cost, function in rows:
            if self._writer.write(Settle(call_id, user, cost, function, "abandoned", None, None,
                                         reason, actor="sweep")):
                released.append(call_id)
        # Holds in memory: the call is written as it ends when its worker is gone or late.
        for reservation in self._book.claim_overdue(deadline_before) if self._book else []:
            self._write_record(Record(reservation, "abandoned", None, None, reason, "sweep"))
            released.append(reservation.call.call_id)  # type: ignore[union-attr]
        return released

    # -- admin state ------------------------------------------------------------------

    def function_overrides(self) -> dict[str, FunctionOverrides]:
        rows = self._read("SELECT name, enabled, cost FROM function_state")
        return {name: FunctionOverrides(enabled, cost) for name, enabled, cost in rows}

    def plugin_overrides(self) -> dict[str, bool]:
        return dict(self._read("SELECT name, enabled FROM plugin_state"))

    def set_function_override(
        self, name: str, field: Literal["enabled", "cost"], value: bool | int,
        before: bool | int | None, actor: str, reason: str,
    ) -> None:
        if field not in ("enabled", "cost"):
            raise ValueError(f"unknown function setting {field!r}")

        def work(cursor: duckdb.DuckDBPyConnection) -> None:
            cursor.execute(
                f"INSERT INTO function_state (name, {field}) VALUES (?, ?) "
                f"ON CONFLICT (name) DO UPDATE SET {field} = excluded.{field}",
                [name, value],
            )
            self._log_change(cursor, actor, "function", name, field, before, value, reason)
            self._bump_version(cursor)

        self._write(work)

    def set_plugin_enabled(
        self, name: str, enabled: bool, before: bool, actor: str, reason: str
    ) -> None:
        def work(cursor: duckdb.DuckDBPyConnection) -> None:
            cursor.execute(
                "INSERT INTO plugin_state VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET enabled = excluded.enabled",
                [name, enabled],
            )
            self._log_change(cursor, actor, "plugin", name, "enabled", before, enabled, reason)
            self._bump_version(cursor)

        self._write(work)

    def get_setting(self, key: str) -> str | None:
        rows = self._read("SELECT value FROM settings WHERE key = ?", [key])
        return rows[0][0] if rows else None

    def set_setting(
        self, key: str, value: str, actor: str, reason: str, *, secret: bool = False
    ) -> None:
        def work(cursor: duckdb.DuckDBPyConnection) -> None:
            row = cursor.execute("SELECT value FROM settings WHERE key = ?", [key]).fetchone()
            cursor.execute(
                "INSERT INTO settings VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value", [key, value])
            before = row[0] if row else None
            if secret:
                before, value_logged = ("set" if row else None), "set"
            else:
                value_logged = value
            self._log_change(cursor, actor, "setting", key, "value", before, value_logged,
                             reason)
            self._bump_version(cursor)

        self._write(work)

    def state_changes(self, limit: int = 100) -> list[StateChange]:
        rows = self._read(
            "SELECT id, occurred_at, actor, target_kind, target, field, before, after, reason "
            "FROM state_changes ORDER BY id DESC LIMIT ?", [limit])
        return [StateChange(*row) for row in rows]

    def state_version(self) -> int:
        return self._version

    def known_state_version(self) -> int | None:
        return self._version  # kept in memory: this process is the file's one writer

    def _read_version(self) -> int:
        return self._peek("SELECT version FROM state_version WHERE id = 1")[0][0]

    # -- storage health -----------------------------------------------------------------

    def storage_problem(self) -> str | None:
        journal = self._journal.problem if self._journal is not None else None
        return journal or self._tables_problem or self._replay_problem

    def quarantined_journals(self) -> list[QuarantinedJournal]:
        return [] if self.path == ":memory:" else quarantined(self.path)

    # -- checks -----------------------------------------------------------------------

    def verify_books(self) -> BooksReport:
        report = BooksReport()
        self._await_pending()
        # Read everything in one transaction so a concurrent call cannot skew the sums.
        with self._cursor() as cursor:
            cursor.begin()
            try:
                report.accounts = cursor.execute("SELECT count(*) FROM accounts").fetchone()[0]
                report.ledger_entries = cursor.execute("SELECT count(*) FROM ledger").fetchone()[0]
                _check_balances(cursor, report)
                _check_holds(cursor, report)
            finally:
                cursor.rollback()
        if self._book is not None:  # holds in memory are holds too
            report.open_holds += sum(1 for r in self._book.calls() if r.amount > 0)
        report.quarantined_journals = self.quarantined_journals()
        return report

    # -- queries added for the portals --------------------------------------------------

    def ledger_of_kinds(
        self, kinds: tuple[str, ...], since: datetime | None = None, limit: int = 1000,
    ) -> list[LedgerEntry]:
        if not kinds:
            return []
        marks = ", ".join("?" for _ in kinds)
        where, params = f"kind IN ({marks})", list(kinds)
        if since is not None:
            where, params = f"{where} AND occurred_at >= ?", [*params, since]
        rows = self._read(
            f"SELECT {LEDGER_COLUMNS} FROM ledger WHERE {where} ORDER BY id DESC LIMIT ?",
            [*params, limit])
        return [LedgerEntry(*row) for row in rows]


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


def _final_record(record: Record) -> CallRecord:
    c = record.call
    return CallRecord(c.call_id, c.user, c.function, c.plugin, c.plugin_version, c.cost,
                      record.status, c.input_hash, c.input_json, record.result_json,
                      record.error, record.reservation.started_at, c.deadline_at,
                      record.finished_at, record.latency_ms, record.cached)


def _check_balances(cursor: duckdb.DuckDBPyConnection, report: BooksReport) -> None:
    drift = cursor.execute(
        "SELECT coalesce(a.user_name, l.user_name), a.balance, l.total FROM accounts a "
        "FULL OUTER JOIN (SELECT user_name, sum(amount) AS total FROM ledger "
        "GROUP BY user_name) l ON l.user_name = a.user_name "
        "WHERE a.balance IS DISTINCT FROM coalesce(l.total, 0)"
    ).fetchall()
    for user, balance, total in drift:
        report.problems.append(f"{user}: balance {balance} but ledger sums to {total}")
    for user, balance in cursor.execute(
            "SELECT user_name, balance FROM accounts WHERE balance < 0").fetchall():
        report.problems.append(f"{user}: negative balance {balance}")
    # Each row's balance_after is its account's running total: rows written from the
    # balance the process knows (ledger_writes.write_records) must agree with the sums.
    for user, entry, said, total in cursor.execute(
            "SELECT user_name, id, balance_after, sum(amount) OVER (PARTITION BY user_name "
            "ORDER BY id) AS total FROM ledger QUALIFY balance_after <> total "
            "ORDER BY id LIMIT 10").fetchall():
        report.problems.append(
            f"{user}: ledger entry {entry} says {said} after it, but the running total is {total}")


def _check_holds(cursor: duckdb.DuckDBPyConnection, report: BooksReport) -> None:
    rows = cursor.execute(
        "SELECT l.call_id, "
        "sum(CASE WHEN kind = 'hold' THEN 1 ELSE 0 END), "
        "sum(CASE WHEN kind = 'capture' THEN 1 ELSE 0 END), "
        "sum(CASE WHEN kind = 'release' THEN 1 ELSE 0 END), "
        "sum(CASE WHEN kind = 'hold' THEN amount ELSE 0 END), "
        "sum(CASE WHEN kind = 'capture' THEN amount ELSE 0 END), "
        "sum(CASE WHEN kind = 'release' THEN amount ELSE 0 END), "
        "any_value(c.status), any_value(c.cost) "
        "FROM ledger l LEFT JOIN calls c ON c.call_id = l.call_id "
        "WHERE l.call_id IS NOT NULL GROUP BY l.call_id"
    ).fetchall()
    judge_holds(rows, report)
    orphans = cursor.execute(
        "SELECT c.call_id FROM calls c WHERE c.cost > 0 AND NOT EXISTS "
        "(SELECT 1 FROM ledger l WHERE l.call_id = c.call_id AND l.kind = 'hold')"
    ).fetchall()
    judge_unheld_calls(orphans, report)
    judge_negative_costs(cursor.execute(
        "SELECT call_id, cost FROM calls WHERE cost < 0 ORDER BY call_id LIMIT 100").fetchall(),
        report)


def _tables_problem(error: BaseException) -> str:
    """Why calls cannot reach the tables, for a public health answer: the error's kind only
    (DuckDB's messages name files); the log has the rest."""
    return f"calls cannot be written to the store's tables ({type(error).__name__}; see the log)"


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


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
