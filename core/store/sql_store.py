"""The SQL both engines share, written once with ``?`` markers, over a small engine seam.

An engine (duckdb_store.py, postgres_store.py) supplies how to read (``_read``), how to run
a write transaction (``_write``, which hands the work a Tx), a consistent snapshot for the
books (``_snapshot``), and ``lock_rows``, the clause that locks rows a transaction reads
(PostgreSQL's FOR UPDATE; DuckDB has one writer and needs none). Each engine keeps its own
way of starting and settling calls, and of knowing the state version.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any, Literal, NoReturn, TypeVar

from ..errors import InsufficientTokensError, TokenworksError, UnknownUserError
from .base import (
    ApiKey,
    BooksReport,
    CachedResult,
    CallMetrics,
    CallRecord,
    FailedCall,
    FunctionOverrides,
    LedgerEntry,
    LedgerKind,
    PortalSession,
    Role,
    StateChange,
    Store,
    ThrottleRule,
    User,
    utcnow,
)
from .books import check_books

T = TypeVar("T")
# CallRecord's fields, in order.
CALL_COLUMNS = ("call_id, user_name, function, plugin, plugin_version, cost, status, "
                "input_hash, input_json, result_json, error, started_at, deadline_at, "
                "finished_at, latency_ms, cached")
LEDGER_COLUMNS = "id, occurred_at, user_name, kind, amount, call_id, actor, reason, balance_after"
KEY_COLUMNS = "key_id, user_name, name, secret_hash, created_at, revoked_at"
CACHE_COLUMNS = "cache_key, function, plugin_version, result_json, created_at, expires_at"
SESSION_COLUMNS = ("token_hash, user_name, created_at, last_seen_at, idle_expires_at, "
                   "expires_at, ended_at, end_reason")
USER_SELECT = ("SELECT u.name, u.role, u.created_at, a.balance FROM users u "
               "JOIN accounts a ON a.user_name = u.name")
FAILED_STATUSES = ("failed", "timeout", "invalid_result", "abandoned")


class Tx:
    """One write transaction as the shared SQL sees it, and what it did that the engine
    learns once it commits (the state version it raised, balances it left)."""

    def __init__(self, cursor: Any, translate: Callable[[str], str] = str) -> None:
        self.cursor = cursor
        self._translate = translate
        self.version: int | None = None
        self.balances: dict[str, int] = {}
        self.written: list[Any] = []  # DuckDB: reservations this transaction writes

    def execute(self, sql: str, params: Any = ()) -> Any:
        return self.cursor.execute(self._translate(sql), params)

    def one(self, sql: str, params: Any = ()) -> Any:
        return self.execute(sql, params).fetchone()

    def all(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        cursor = self.execute(sql, params)
        return cursor.fetchall() if cursor.description is not None else []

    def bump_version(self) -> None:
        [self.version] = self.one(
            "UPDATE state_version SET version = version + 1 WHERE id = 1 RETURNING version")

    def log_change(self, actor: str, target_kind: str, target: str, field: str, before: Any,
                   after: Any, reason: str) -> None:
        self.execute(
            "INSERT INTO state_changes (occurred_at, actor, target_kind, target, field, "
            "before, after, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [utcnow(), actor, target_kind, target, field, _text(before), _text(after), reason])

    def move(self, user: str, amount: int, kind: str, actor: str, reason: str,
             call_id: str | None = None) -> int:
        """Change a balance with its ledger row; returns the new balance. The UPDATE checks
        and changes the balance (locking the account row on PostgreSQL) before the INSERT
        draws the ledger id, so ids follow each account's changes."""
        row = self.one("UPDATE accounts SET balance = balance + ? WHERE user_name = ? "
                       "AND balance + ? >= 0 RETURNING balance", [amount, user, amount])
        if row is None:
            refuse(self, user, -amount)
        self.execute("INSERT INTO ledger (occurred_at, user_name, kind, amount, call_id, actor, "
                     "reason, balance_after) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     [utcnow(), user, kind, amount, call_id, actor, reason, row[0]])
        self.balances[user] = row[0]
        return row[0]


class _Refused(Exception):
    """Rolls back a throttle transaction that counted nothing."""

    def __init__(self, wait: float) -> None:
        self.wait = wait


class SqlStore(Store):
    lock_rows = ""  # appended to a SELECT whose rows the transaction goes on to change
    engine: str  # the schema's name for the engine (schema.Engines)

    # -- the engine seam ----------------------------------------------------------------
    @abc.abstractmethod
    def _read(self, sql: str, params: Any = (), wait: bool = True) -> list[tuple[Any, ...]]:
        """One statement's rows. ``wait=False``: the caller does not need the calls on their
        way to the tables (an engine that writes them behind the caller may skip waiting)."""

    @abc.abstractmethod
    def _write(self, work: Callable[[Tx], T]) -> T:
        """Run ``work`` in a committed transaction; an exception it raises rolls it back."""

    @abc.abstractmethod
    def _snapshot(self) -> AbstractContextManager[Tx]:
        """A read-only transaction that sees one consistent state."""

    def _write_one(self, sql: str, params: Any) -> list[tuple[Any, ...]]:
        """One statement in a transaction of its own; its rows (RETURNING)."""
        return self._write(lambda tx: tx.all(sql, params))

    def _stored_call(self, call_id: str, wait: bool = True) -> CallRecord | None:
        rows = self._read(f"SELECT {CALL_COLUMNS} FROM calls WHERE call_id = ?", [call_id],
                          wait)
        return CallRecord(*rows[0]) if rows else None

    # -- users ------------------------------------------------------------------------
    def schema_version(self) -> int:
        return self._read("SELECT max(version) FROM schema_migrations")[0][0] or 0

    def create_user(
        self, name: str, role: Role, password_hash: str, starting_grant: int, actor: str
    ) -> User:
        created = utcnow()

        def work(tx: Tx) -> User:
            # Conditional, so two replicas creating one name cannot both succeed.
            if tx.one("INSERT INTO users VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING "
                      "RETURNING name", [name, role, password_hash, created]) is None:
                raise TokenworksError(f"user {name!r} exists already")
            tx.execute("INSERT INTO accounts VALUES (?, 0)", [name])
            if starting_grant:
                tx.move(name, starting_grant, "grant", actor, "starting grant")
            else:
                tx.balances[name] = 0
            tx.log_change(actor, "user", name, "created", None, role, "new user")
            tx.bump_version()
            return User(name, role, created, starting_grant)

        return self._write(work)

    def get_user(self, name: str) -> User | None:
        rows = self._read(f"{USER_SELECT} WHERE u.name = ?", [name])
        return User(*rows[0]) if rows else None

    def password_hash(self, name: str) -> str | None:
        rows = self._read("SELECT password_hash FROM users WHERE name = ?", [name])
        return rows[0][0] if rows else None

    def list_users(self) -> list[User]:
        return [User(*row) for row in self._read(f"{USER_SELECT} ORDER BY u.name")]

    def set_role(self, name: str, role: Role, actor: str, reason: str) -> None:
        def work(tx: Tx) -> None:
            row = tx.one(f"SELECT role FROM users WHERE name = ?{self.lock_rows}", [name])
            if row is None:
                raise UnknownUserError(f"no such user: {name}")
            tx.execute("UPDATE users SET role = ? WHERE name = ?", [role, name])
            tx.log_change(actor, "user", name, "role", row[0], role, reason)
            tx.bump_version()

        self._write(work)

    def set_password_hash(self, name: str, password_hash: str, actor: str, reason: str) -> None:
        def work(tx: Tx) -> None:
            if tx.one("UPDATE users SET password_hash = ? WHERE name = ? RETURNING name",
                      [password_hash, name]) is None:
                raise UnknownUserError(f"no such user: {name}")
            _end_sessions(tx, name, "password changed", utcnow())
            tx.log_change(actor, "user", name, "password", None, "changed", reason)

        self._write(work)

    # -- tokens -----------------------------------------------------------------------
    def adjust_balance(
        self, user: str, amount: int, kind: Literal["grant", "adjustment"], actor: str,
        reason: str,
    ) -> int:
        def work(tx: Tx) -> int:
            balance = tx.move(user, amount, kind, actor, reason)
            tx.bump_version()
            return balance

        return self._write(work)

    def balance(self, user: str) -> int:
        rows = self._read("SELECT balance FROM accounts WHERE user_name = ?", [user])
        if not rows:
            raise UnknownUserError(f"no such user: {user}")
        return rows[0][0]

    def ledger(self, user: str | None = None, limit: int = 100) -> list[LedgerEntry]:
        where, params = ("WHERE user_name = ?", [user]) if user else ("", [])
        rows = self._read(f"SELECT {LEDGER_COLUMNS} FROM ledger {where} ORDER BY id DESC "
                          "LIMIT ?", [*params, limit])
        return [LedgerEntry(*row) for row in rows]

    def ledger_of_kinds(
        self, kinds: tuple[LedgerKind, ...], since: datetime | None = None, limit: int = 1000,
    ) -> list[LedgerEntry]:
        if not kinds:
            return []
        where, params = f"kind IN ({', '.join('?' for _ in kinds)})", list(kinds)
        if since is not None:
            where, params = f"{where} AND occurred_at >= ?", [*params, since]
        rows = self._read(f"SELECT {LEDGER_COLUMNS} FROM ledger WHERE {where} "
                          "ORDER BY id DESC LIMIT ?", [*params, limit])
        return [LedgerEntry(*row) for row in rows]

    # -- the call log -----------------------------------------------------------------
    def list_calls(self, user: str | None = None, limit: int = 100) -> list[CallRecord]:
        where, params = ("WHERE user_name = ?", [user]) if user else ("", [])
        rows = self._read(f"SELECT {CALL_COLUMNS} FROM calls {where} ORDER BY started_at DESC "
                          "LIMIT ?", [*params, limit])
        return [CallRecord(*row) for row in rows]

    def calls_since(self, since: datetime, user: str | None = None) -> list[CallRecord]:
        where, params = ("AND user_name = ?", [user]) if user else ("", [])
        rows = self._read(f"SELECT {CALL_COLUMNS} FROM calls WHERE started_at >= ? {where} "
                          "ORDER BY started_at", [since, *params])
        return [CallRecord(*row) for row in rows]

    def record_failure(self, call_id: str, detail: str) -> None:
        self._write(lambda tx: insert_failure(tx, call_id, detail))

    def failed_calls(self, limit: int = 100, function: str | None = None,
                     user: str | None = None) -> list[FailedCall]:
        statuses = ", ".join(f"'{status}'" for status in FAILED_STATUSES)
        where, params = "", []
        for column, value in (("function", function), ("user_name", user)):
            if value is not None:
                where += f" AND c.{column} = ?"
                params.append(value)
        rows = self._read(
            "SELECT c.call_id, c.started_at, c.function, c.user_name, c.status, c.error, "
            "f.detail FROM calls c LEFT JOIN call_failures f ON f.call_id = c.call_id "
            f"WHERE c.status IN ({statuses}){where} ORDER BY c.started_at DESC LIMIT ?",
            [*params, limit])
        return [FailedCall(*row) for row in rows]

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

        def work(tx: Tx) -> None:
            tx.execute(f"INSERT INTO function_state (name, {field}) VALUES (?, ?) "
                       f"ON CONFLICT (name) DO UPDATE SET {field} = excluded.{field}",
                       [name, value])
            tx.log_change(actor, "function", name, field, before, value, reason)
            tx.bump_version()

        self._write(work)

    def set_plugin_enabled(
        self, name: str, enabled: bool, before: bool, actor: str, reason: str
    ) -> None:
        def work(tx: Tx) -> None:
            tx.execute("INSERT INTO plugin_state VALUES (?, ?) "
                       "ON CONFLICT (name) DO UPDATE SET enabled = excluded.enabled",
                       [name, enabled])
            tx.log_change(actor, "plugin", name, "enabled", before, enabled, reason)
            tx.bump_version()

        self._write(work)

    def get_setting(self, key: str) -> str | None:
        rows = self._read("SELECT value FROM settings WHERE key = ?", [key])
        return rows[0][0] if rows else None

    def set_setting(
        self, key: str, value: str, actor: str, reason: str, *, secret: bool = False
    ) -> None:
        def work(tx: Tx) -> None:
            row = tx.one(f"SELECT value FROM settings WHERE key = ?{self.lock_rows}", [key])
            tx.execute("INSERT INTO settings VALUES (?, ?) "
                       "ON CONFLICT (key) DO UPDATE SET value = excluded.value", [key, value])
            before, logged = (row[0] if row else None), value
            if secret:
                before, logged = ("set" if row else None), "set"
            tx.log_change(actor, "setting", key, "value", before, logged, reason)
            tx.bump_version()

        self._write(work)

    def state_changes(self, limit: int = 100) -> list[StateChange]:
        rows = self._read(
            "SELECT id, occurred_at, actor, target_kind, target, field, before, after, reason "
            "FROM state_changes ORDER BY id DESC LIMIT ?", [limit])
        return [StateChange(*row) for row in rows]

    def verify_books(self) -> BooksReport:
        with self._snapshot() as tx:
            return check_books(tx.all)

    # -- REST API keys and metrics ------------------------------------------------------
    def create_api_key(self, key: ApiKey, actor: str) -> None:
        def work(tx: Tx) -> None:
            tx.execute(f"INSERT INTO api_keys ({KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                       [key.key_id, key.user, key.name, key.secret_hash, key.created_at,
                        key.revoked_at])
            tx.log_change(actor, "api_key", key.key_id, "created", None,
                          f"{key.user}: {key.name}", "new API key")

        self._write(work)

    def get_api_key(self, key_id: str) -> ApiKey | None:
        rows = self._read(f"SELECT {KEY_COLUMNS} FROM api_keys WHERE key_id = ?", [key_id])
        return ApiKey(*rows[0]) if rows else None

    def list_api_keys(self, user: str | None = None) -> list[ApiKey]:
        where, params = ("WHERE user_name = ?", [user]) if user else ("", [])
        rows = self._read(f"SELECT {KEY_COLUMNS} FROM api_keys {where} "
                          "ORDER BY created_at DESC, key_id", params)
        return [ApiKey(*row) for row in rows]

    def revoke_api_key(self, key_id: str, actor: str, reason: str) -> bool:
        def work(tx: Tx) -> bool:
            # Conditional, so two replicas revoking the same key log it once.
            if tx.one("UPDATE api_keys SET revoked_at = ? WHERE key_id = ? "
                      "AND revoked_at IS NULL RETURNING key_id", [utcnow(), key_id]) is None:
                return False
            tx.log_change(actor, "api_key", key_id, "revoked", "active", "revoked", reason)
            tx.bump_version()  # the API caches keys per state version
            return True

        return self._write(work)

    def call_metrics(self, buckets_ms: tuple[float, ...]) -> list[CallMetrics]:
        # One aggregate query: never reads the stored results (images can be large).
        counts = "".join(f", count(*) FILTER (WHERE latency_ms <= {float(bound)!r})"
                         for bound in buckets_ms)
        rows = self._read(
            "SELECT function, status, count(*), "
            "coalesce(sum(CASE WHEN status = 'succeeded' THEN cost ELSE 0 END), 0)::BIGINT, "
            f"coalesce(sum(latency_ms), 0), count(latency_ms){counts} "
            "FROM calls GROUP BY function, status ORDER BY function, status")
        return [CallMetrics(function, status, int(calls), int(tokens), float(total),
                            int(measured), tuple(int(n) for n in rest))
                for function, status, calls, tokens, total, measured, *rest in rows]

    # -- the result cache ---------------------------------------------------------------
    def cache_get(self, key: str, now: datetime) -> CachedResult | None:
        rows = self._read(f"SELECT {CACHE_COLUMNS} FROM result_cache "
                          "WHERE cache_key = ? AND expires_at > ?", [key, now], wait=False)
        return CachedResult(*rows[0]) if rows else None

    def cache_put(self, entry: CachedResult) -> None:
        self._write(lambda tx: put_cache_entry(tx, entry))

    def cache_clear(self, function: str | None, actor: str, reason: str) -> int:
        def work(tx: Tx) -> int:
            where, params = ("WHERE function = ?", [function]) if function else ("", [])
            dropped = len(tx.all(f"DELETE FROM result_cache {where} RETURNING cache_key",
                                 params))
            tx.log_change(actor, "cache", function or "*", "cleared", f"{dropped} entries",
                          "0 entries", reason)
            tx.bump_version()
            return dropped

        return self._write(work)

    def cache_purge(self, versions: dict[str, str], now: datetime) -> int:
        # Replicas running other plugin versions (a rolling upgrade) purge each other's
        # entries; that costs cache misses, never a wrong answer.
        current = sorted(versions.items())
        return len(self._write_one(
            "DELETE FROM result_cache WHERE expires_at <= ? OR NOT EXISTS (SELECT 1 FROM "
            "(SELECT unnest(?::TEXT[]) AS function, unnest(?::TEXT[]) AS version) v "
            "WHERE v.function = result_cache.function "
            "AND v.version = result_cache.plugin_version) RETURNING cache_key",
            [now, [function for function, _ in current], [version for _, version in current]]))

    # -- portal sessions and sign-in throttling -------------------------------------------
    def create_portal_session(self, session: PortalSession) -> None:
        self._write_one(f"INSERT INTO portal_sessions ({SESSION_COLUMNS}) VALUES "
                        "(?, ?, ?, ?, ?, ?, ?, ?)",
                        [session.token_hash, session.user, session.created_at,
                         session.last_seen_at, session.idle_expires_at, session.expires_at,
                         session.ended_at, session.end_reason])

    def get_portal_session(self, token_hash: str) -> PortalSession | None:
        rows = self._read(f"SELECT {SESSION_COLUMNS} FROM portal_sessions WHERE token_hash = ?",
                          [token_hash], wait=False)
        return PortalSession(*rows[0]) if rows else None

    def touch_portal_session(self, token_hash: str, seen_at: datetime,
                             idle_expires_at: datetime) -> None:
        self._write_one("UPDATE portal_sessions SET last_seen_at = ?, idle_expires_at = ? "
                        "WHERE token_hash = ? AND ended_at IS NULL",
                        [seen_at, idle_expires_at, token_hash])

    def end_portal_session(self, token_hash: str, reason: str, at: datetime) -> bool:
        return bool(self._write_one(
            "UPDATE portal_sessions SET ended_at = ?, end_reason = ? "
            "WHERE token_hash = ? AND ended_at IS NULL RETURNING token_hash",
            [at, reason, token_hash]))

    def end_user_sessions(self, user: str, reason: str, at: datetime,
                          actor: str | None = None) -> int:
        def work(tx: Tx) -> int:
            ended = _end_sessions(tx, user, reason, at)
            if actor is not None:
                tx.log_change(actor, "user", user, "sessions", f"{ended} live", "ended", reason)
            return ended

        return self._write(work)

    def live_session_count(self, user: str, now: datetime) -> int:
        return self._read(
            "SELECT count(*) FROM portal_sessions WHERE user_name = ? AND ended_at IS NULL "
            "AND idle_expires_at > ? AND expires_at > ?", [user, now, now], wait=False)[0][0]

    def throttle_take(self, rules: list[ThrottleRule], now: datetime) -> float:
        # Keys in sorted order, so two attempts locking rows (PostgreSQL) cannot deadlock.
        ordered = sorted(rules, key=lambda rule: rule.key)

        def work(tx: Tx) -> None:
            found = {}
            for rule in ordered:
                # Make the row exist, so there is a row to lock even for a first attempt.
                tx.execute("INSERT INTO sign_in_throttle VALUES (?, ?, 0) "
                           "ON CONFLICT (key) DO NOTHING", [rule.key, now])
                found[rule.key] = tx.one("SELECT window_ends_at, attempts FROM sign_in_throttle "
                                         f"WHERE key = ?{self.lock_rows}", [rule.key])
            for rule in ordered:
                ends, attempts = found[rule.key]
                if ends > now and attempts >= rule.limit:
                    raise _Refused(max((ends - now).total_seconds(), 0.001))
            for rule in ordered:
                ends, attempts = found[rule.key]
                if ends <= now:  # a new window starts with this attempt
                    ends, attempts = now + timedelta(seconds=rule.window_seconds), 0
                tx.execute("UPDATE sign_in_throttle SET window_ends_at = ?, attempts = ? "
                           "WHERE key = ?", [ends, attempts + 1, rule.key])

        try:
            self._write(work)
        except _Refused as refused:  # rolled back: nothing counted
            return refused.wait
        return 0.0

    def throttle_refund(self, key: str) -> None:
        self._write_one("UPDATE sign_in_throttle SET attempts = attempts - 1 "
                        "WHERE key = ? AND attempts > 0", [key])

    def purge_sign_in_state(self, now: datetime, keep_ended: float = 86400.0) -> int:
        ended_before = now - timedelta(seconds=keep_ended)

        def work(tx: Tx) -> int:
            sessions = tx.all("DELETE FROM portal_sessions WHERE expires_at <= ? OR "
                              "idle_expires_at <= ? OR ended_at <= ? RETURNING token_hash",
                              [ended_before, ended_before, ended_before])
            windows = tx.all("DELETE FROM sign_in_throttle WHERE window_ends_at <= ? "
                             "RETURNING key", [now])
            return len(sessions) + len(windows)

        return self._write(work)


def refuse(tx: Tx, user: str, amount: int) -> NoReturn:
    """Why a debit of ``amount`` was refused: no such user, or too few tokens."""
    row = tx.one("SELECT balance FROM accounts WHERE user_name = ?", [user])
    if row is None:
        raise UnknownUserError(f"no such user: {user}")
    raise InsufficientTokensError(user, amount, row[0])


def insert_failure(tx: Tx, call_id: str, detail: str) -> None:
    tx.execute("INSERT INTO call_failures VALUES (?, ?, ?) ON CONFLICT (call_id) DO NOTHING",
               [call_id, utcnow(), detail])


def put_cache_entry(tx: Tx, entry: CachedResult) -> None:
    """Insert, replacing any entry under the key (of two racing misses the last one wins)."""
    tx.execute(f"INSERT INTO result_cache ({CACHE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "
               "ON CONFLICT (cache_key) DO UPDATE SET result_json = excluded.result_json, "
               "created_at = excluded.created_at, expires_at = excluded.expires_at",
               [entry.key, entry.function, entry.plugin_version, entry.result_json,
                entry.created_at, entry.expires_at])


def _end_sessions(tx: Tx, user: str, reason: str, at: datetime) -> int:
    return len(tx.all("UPDATE portal_sessions SET ended_at = ?, end_reason = ? "
                      "WHERE user_name = ? AND ended_at IS NULL RETURNING token_hash",
                      [at, reason, user]))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)

