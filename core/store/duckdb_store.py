"""The embedded store on DuckDB.

DuckDB facts measured on these machines (see DESIGN.md) shape this module:
- one connection per process, a fresh cursor for every operation (a shared cursor
  fails at once with "connection is busy" under threads);
- write conflicts raise and must be rolled back and retried;
- on tables with a primary key, racing UPDATEs can lose a change without an error, so
  every write goes through one process-wide lock and every balance change is written in
  one form (``_change_balance``).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

import duckdb

from ..errors import (
    InsufficientTokensError,
    StoreLockedError,
    TokenworksError,
    UnknownUserError,
)
from .base import (
    BooksReport,
    CallRecord,
    CallStatus,
    FunctionOverrides,
    LedgerEntry,
    NewCall,
    Role,
    StateChange,
    Store,
    User,
    utcnow,
)
from .schema import MIGRATIONS

T = TypeVar("T")
RETRIES = 8
CALL_COLUMNS = (
    "call_id, user_name, function, plugin, plugin_version, cost, status, input_hash, "
    "input_json, result_json, error, started_at, deadline_at, finished_at, latency_ms"
)
LEDGER_COLUMNS = "id, occurred_at, user_name, kind, amount, call_id, actor, reason, balance_after"


class DuckDBStore(Store):
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = duckdb.connect(self.path)
        except duckdb.IOException as error:
            raise _explain_lock(self.path, error) from None
        self._write_lock = threading.Lock()
        self._version_bumped = False
        self._migrate()
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
        """Run ``work`` in one transaction behind the process-wide write lock.

        Conflicts are rolled back and retried with backoff; errors raised by ``work``
        itself (refusals) roll back and propagate.
        """
        with self._write_lock:
            for attempt in range(RETRIES):
                self._version_bumped = False
                with self._cursor() as cursor:
                    cursor.begin()
                    try:
                        result = work(cursor)
                        cursor.commit()
                    except (duckdb.TransactionException, duckdb.ConstraintException) as error:
                        cursor.rollback()
                        if attempt == RETRIES - 1 or not _retryable(error):
                            raise
                    except BaseException:
                        cursor.rollback()
                        raise
                    else:
                        if self._version_bumped:
                            self._version = self._read_version()
                        return result
                time.sleep(0.001 * 2**attempt)
        raise AssertionError("unreachable")

    def _read(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        with self._cursor() as cursor:
            return cursor.execute(sql, params or []).fetchall()

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
        self._conn.close()

    # -- ledger primitives (always inside _write) -------------------------------------

    @staticmethod
    def _change_balance(cursor: duckdb.DuckDBPyConnection, user: str, amount: int) -> int | None:
        """The one form every balance change takes: check and change in one statement.

        Returns the new balance, or None when the account is missing or would go negative.
        """
        row = cursor.execute(
            "UPDATE accounts SET balance = balance + $amount "
            "WHERE user_name = $user AND balance + $amount >= 0 RETURNING balance",
            {"amount": amount, "user": user},
        ).fetchone()
        return None if row is None else row[0]

    @staticmethod
    def _append_ledger(
        cursor: duckdb.DuckDBPyConnection, user: str, kind: str, amount: int,
        call_id: str | None, actor: str, reason: str, balance_after: int,
    ) -> None:
        cursor.execute(
            "INSERT INTO ledger (occurred_at, user_name, kind, amount, call_id, actor, reason, "
            "balance_after) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [utcnow(), user, kind, amount, call_id, actor, reason, balance_after],
        )

    @staticmethod
    def _refuse_debit(cursor: duckdb.DuckDBPyConnection, user: str, amount: int) -> None:
        row = cursor.execute("SELECT balance FROM accounts WHERE user_name = ?", [user]).fetchone()
        if row is None:
            raise UnknownUserError(f"no such user: {user}")
        raise InsufficientTokensError(user, amount, row[0])

    def _bump_version(self, cursor: duckdb.DuckDBPyConnection) -> None:
        cursor.execute("UPDATE state_version SET version = version + 1 WHERE id = 1")
        self._version_bumped = True  # _write holds the lock; it refreshes after commit

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
                balance = self._change_balance(cursor, name, starting_grant)
                self._append_ledger(cursor, name, "grant", starting_grant, None, actor,
                                    "starting grant", balance)
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

    # -- tokens -----------------------------------------------------------------------

    def adjust_balance(
        self, user: str, amount: int, kind: Literal["grant", "adjustment"], actor: str,
        reason: str,
    ) -> int:
        def work(cursor: duckdb.DuckDBPyConnection) -> int:
            balance = self._change_balance(cursor, user, amount)
            if balance is None:
                self._refuse_debit(cursor, user, -amount)
            self._append_ledger(cursor, user, kind, amount, None, actor, reason, balance)
            self._bump_version(cursor)
            return balance

        return self._write(work)

    def balance(self, user: str) -> int:
        rows = self._read("SELECT balance FROM accounts WHERE user_name = ?", [user])
        if not rows:
            raise UnknownUserError(f"no such user: {user}")
        return rows[0][0]

    def ledger(self, user: str | None = None, limit: int = 100) -> list[LedgerEntry]:
        where, params = ("WHERE user_name = ?", [user]) if user else ("", [])
        rows = self._read(
            f"SELECT {LEDGER_COLUMNS} FROM ledger {where} ORDER BY id DESC LIMIT ?",
            [*params, limit])
        return [LedgerEntry(*row) for row in rows]

    # -- calls ------------------------------------------------------------------------

    def begin_call(self, call: NewCall) -> CallRecord | None:
        def work(cursor: duckdb.DuckDBPyConnection) -> None:
            # Insert first: under the write lock a duplicate key can only mean the call id
            # exists, and the common path saves a look-up.
            try:
                cursor.execute(
                    f"INSERT INTO calls ({CALL_COLUMNS}) VALUES "
                    "(?, ?, ?, ?, ?, ?, 'running', ?, ?, NULL, NULL, ?, ?, NULL, NULL)",
                    [call.call_id, call.user, call.function, call.plugin, call.plugin_version,
                     call.cost, call.input_hash, call.input_json, utcnow(), call.deadline_at],
                )
            except duckdb.ConstraintException as error:
                raise _CallExists from error
            if call.cost > 0:
                balance = self._change_balance(cursor, call.user, -call.cost)
                if balance is None:
                    self._refuse_debit(cursor, call.user, call.cost)
                self._append_ledger(cursor, call.user, "hold", -call.cost, call.call_id,
                                    call.user, f"hold for {call.function}", balance)
            elif not cursor.execute("SELECT 1 FROM accounts WHERE user_name = ?",
                                    [call.user]).fetchone():
                raise UnknownUserError(f"no such user: {call.user}")

        try:
            self._write(work)
        except _CallExists:
            return self.get_call(call.call_id)
        return None

    def finish_call(
        self, call_id: str, status: CallStatus, latency_ms: float,
        result_json: str | None = None, error: str | None = None,
    ) -> bool:
        def work(cursor: duckdb.DuckDBPyConnection) -> bool:
            return self._settle(cursor, call_id, status, latency_ms, result_json, error,
                                actor="host")

        return self._write(work)

    def _settle(
        self, cursor: duckdb.DuckDBPyConnection, call_id: str, status: CallStatus,
        latency_ms: float | None, result_json: str | None, error: str | None, actor: str,
    ) -> bool:
        row = cursor.execute(
            "UPDATE calls SET status = ?, result_json = ?, error = ?, latency_ms = ?, "
            "finished_at = ? WHERE call_id = ? AND status = 'running' "
            "RETURNING user_name, cost, function",
            [status, result_json, error, latency_ms, utcnow(), call_id],
        ).fetchone()
        if row is None:
            return False
        user, cost, function = row
        if cost > 0:
            if status == "succeeded":
                cursor.execute(
                    "INSERT INTO ledger (occurred_at, user_name, kind, amount, call_id, actor, "
                    "reason, balance_after) SELECT ?, ?, 'capture', 0, ?, ?, ?, balance "
                    "FROM accounts WHERE user_name = ?",
                    [utcnow(), user, call_id, actor, f"{function} succeeded", user],
                )
            else:
                balance = self._change_balance(cursor, user, cost)
                self._append_ledger(cursor, user, "release", cost, call_id, actor,
                                    f"{function} {status}: nothing charged", balance)
        return True

    def get_call(self, call_id: str) -> CallRecord | None:
        rows = self._read(f"SELECT {CALL_COLUMNS} FROM calls WHERE call_id = ?", [call_id])
        return CallRecord(*rows[0]) if rows else None

    def list_calls(self, user: str | None = None, limit: int = 100) -> list[CallRecord]:
        where, params = ("WHERE user_name = ?", [user]) if user else ("", [])
        rows = self._read(
            f"SELECT {CALL_COLUMNS} FROM calls {where} ORDER BY started_at DESC LIMIT ?",
            [*params, limit])
        return [CallRecord(*row) for row in rows]

    def release_abandoned(self, deadline_before: datetime | None, reason: str) -> list[str]:
        if deadline_before is None:
            rows = self._read("SELECT call_id FROM calls WHERE status = 'running'")
        else:
            rows = self._read("SELECT call_id FROM calls WHERE status = 'running' "
                              "AND deadline_at < ?", [deadline_before])
        released = []
        for (call_id,) in rows:
            def work(cursor: duckdb.DuckDBPyConnection, call_id: str = call_id) -> bool:
                return self._settle(cursor, call_id, "abandoned", None, None, reason,
                                    actor="sweep")

            if self._write(work):
                released.append(call_id)
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

    def state_changes(self, limit: int = 100) -> list[StateChange]:
        rows = self._read(
            "SELECT id, occurred_at, actor, target_kind, target, field, before, after, reason "
            "FROM state_changes ORDER BY id DESC LIMIT ?", [limit])
        return [StateChange(*row) for row in rows]

    def state_version(self) -> int:
        return self._version

    def _read_version(self) -> int:
        return self._read("SELECT version FROM state_version WHERE id = 1")[0][0]

    # -- checks -----------------------------------------------------------------------

    def verify_books(self) -> BooksReport:
        report = BooksReport()
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
        return report


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
    for call_id, holds, captures, releases, held, captured, released, status, cost in rows:
        where = f"call {call_id}"
        if holds != 1:
            report.problems.append(f"{where}: {holds} holds")
        if captures and releases:
            report.problems.append(f"{where}: hold both captured and released")
        if captures + releases > 1:
            report.problems.append(f"{where}: hold settled {captures + releases} times")
        if captured:
            report.problems.append(f"{where}: capture moved {captured} tokens")
        if releases and released != -held:
            report.problems.append(f"{where}: released {released} of {-held} held")
        if status is None:
            report.problems.append(f"{where}: ledger names a call that is not in the call log")
            continue
        if -held != cost:
            report.problems.append(f"{where}: held {-held} but the call cost {cost}")
        if status == "running":
            report.open_holds += 1 if not (captures or releases) else 0
        elif status == "succeeded" and not captures:
            report.problems.append(f"{where}: succeeded but its hold was not captured")
        elif status != "succeeded" and not releases:
            report.problems.append(f"{where}: {status} but its hold was not released")
    orphans = cursor.execute(
        "SELECT c.call_id FROM calls c WHERE c.cost > 0 AND NOT EXISTS "
        "(SELECT 1 FROM ledger l WHERE l.call_id = c.call_id AND l.kind = 'hold')"
    ).fetchall()
    for (call_id,) in orphans:
        report.problems.append(f"call {call_id}: charged call with no hold in the ledger")


class _CallExists(Exception):
    """Raised inside a transaction to roll it back when a call id is taken."""


def _retryable(error: Exception) -> bool:
    text = str(error)
    return isinstance(error, duckdb.TransactionException) or "Duplicate key" in text


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
