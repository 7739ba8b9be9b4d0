"""The store on PostgreSQL: several `tokenworks serve` replicas (writer processes) on one
database, through psycopg 3 and a connection pool.

What changes from DuckDB (duckdb_store.py), and why:
- Holds are durable (base.py, "holds"): begin_call writes the call row, the debit and the
  hold ledger row in one transaction, so every replica sees what is reserved and a crash
  leaves the hold for the sweep. An in-memory book would let two replicas spend the same
  tokens.
- No process-wide writer: PostgreSQL's row locks serialize what must be serialized. Every
  balance change is one conditional UPDATE (``balance + amount >= 0``, re-checked by
  PostgreSQL on the newest row version when it waited for a lock) whose RETURNING gives the
  ledger row's balance_after, in the same statement; the account row stays locked until
  commit, and the ledger id is drawn after the lock, so ids follow each account's changes.
- A settlement is a conditional UPDATE of the call row (``status = 'running'``): of a worker
  and a sweep (of any replica) settling one call, exactly one wins.
- The state version is read from the database, trusted for ``version_ttl`` seconds, so other
  replicas' toggles and costs reach this one's catalog within that time (plus one catalog
  refresh) at the cost of at most a few reads a second, whatever the call rate. This
  process's own changes are seen at once. No listener thread: nothing to re-arm after a
  reconnect.
- Lock order, to stay free of deadlocks: the call row, then the account row, then the
  state version row, always in that order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Literal, NoReturn

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from ..errors import (
    InsufficientTokensError,
    StoreUnavailableError,
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
    Settled,
    StateChange,
    Store,
    User,
    utcnow,
)
from .call_failures import CallFailureLog
from .call_log import CALL_COLUMNS, CallLogReads
from .postgres_api import PostgresApiStore
from .postgres_books import verify_books
from .postgres_cache import PostgresResultCache
from .postgres_schema import migrate
from .postgres_sessions import PostgresSessionStore

LEDGER_COLUMNS = "id, occurred_at, user_name, kind, amount, call_id, actor, reason, balance_after"
CONNECT_TIMEOUT = 10  # seconds; an unreachable server is reported, not waited for
POOL_TIMEOUT = 30.0  # seconds a thread waits for a free connection
VERSION_TTL = 0.5  # seconds a read of the state version is trusted (replicas see changes)

# One balance change and its ledger row, in one statement: the UPDATE checks and changes
# the balance (and locks the account row), the INSERT draws its id after that lock.
_MOVE = (
    "WITH moved AS (UPDATE accounts SET balance = balance + %(amount)s "
    "WHERE user_name = %(user)s AND balance + %(amount)s >= 0 RETURNING balance) "
    "INSERT INTO ledger (occurred_at, user_name, kind, amount, call_id, actor, reason, "
    "balance_after) SELECT %(at)s, %(user)s, %(kind)s, %(amount)s, %(call_id)s, %(actor)s, "
    "%(reason)s, balance FROM moved RETURNING balance_after"
)
# The start of a call in one statement, so in one autocommit transaction (no BEGIN and
# COMMIT round trips): insert the call row (ON CONFLICT: an existing id is the idempotent
# replay; a concurrent insert of the same id makes this one wait for its outcome), debit the
# account conditionally and write the hold ledger row with the balance the UPDATE returned.
# A refusal must write nothing, so the statement then fails on purpose: the cast of a text
# that is no integer raises and the whole statement, the call row included, rolls back. The
# cast's argument names a column (not a constant or a parameter), so the planner cannot fold
# it and raise on every call; CASE evaluates its arms in order, so the account look-up of a
# cost-0 call runs only for a call that was inserted and held nothing.
_REFUSED = "tokenworks: call refused"
_BEGIN = (
    "WITH new_call AS (INSERT INTO calls (" + CALL_COLUMNS + ") VALUES (%(call_id)s, %(user)s, "
    "%(function)s, %(plugin)s, %(plugin_version)s, %(cost)s, 'running', %(input_hash)s, "
    "%(input_json)s, NULL, NULL, %(started_at)s, %(deadline_at)s, NULL, NULL, false) "
    "ON CONFLICT (call_id) DO NOTHING RETURNING call_id), "
    "moved AS (UPDATE accounts SET balance = balance - %(cost)s WHERE user_name = %(user)s "
    "AND %(cost)s > 0 AND balance >= %(cost)s AND EXISTS (SELECT 1 FROM new_call) "
    "RETURNING balance), "
    "held AS (INSERT INTO ledger (occurred_at, user_name, kind, amount, call_id, actor, reason, "
    "balance_after) SELECT %(at)s, %(user)s, 'hold', -%(cost)s, %(call_id)s, %(user)s, "
    "%(reason)s, balance FROM moved RETURNING id), "
    "outcome AS (SELECT (SELECT count(*) FROM new_call) AS inserted, "
    "(SELECT count(*) FROM held) AS held) "
    "SELECT inserted, CASE WHEN inserted = 0 OR held = 1 THEN held "
    "WHEN %(cost)s = 0 AND EXISTS (SELECT 1 FROM accounts WHERE user_name = %(user)s) THEN 0 "
    "ELSE CAST('" + _REFUSED + " ' || inserted AS integer) END FROM outcome"
)
# A settlement in one statement (so in one transaction, without BEGIN and COMMIT): the call
# row goes from running to final, and only if it did, the capture (amount 0) or release row
# is written with the account's balance change. It answers whether it settled the call and
# the balance after (NULL for a call that cost nothing), which the API returns: no read back.
_SETTLE = (
    "WITH done AS (UPDATE calls SET status = %(status)s, result_json = %(result_json)s, "
    "error = %(error)s, latency_ms = %(latency_ms)s, cached = %(cached)s, finished_at = %(at)s "
    "WHERE call_id = %(call_id)s AND status = 'running' AND user_name = %(user)s "
    "AND cost = %(cost)s RETURNING call_id), "
    "moved AS (UPDATE accounts SET balance = balance + %(amount)s WHERE user_name = %(user)s "
    "AND %(cost)s > 0 AND EXISTS (SELECT 1 FROM done) RETURNING balance), "
    "settled AS (INSERT INTO ledger (occurred_at, user_name, kind, amount, call_id, actor, "
    "reason, balance_after) SELECT %(at)s, %(user)s, %(kind)s, %(amount)s, %(call_id)s, "
    "%(actor)s, %(reason)s, balance FROM moved RETURNING id) "
    "SELECT (SELECT count(*) FROM done), (SELECT balance FROM moved)"
)


class _ConnectionLost(StoreUnavailableError):
    """A pooled connection broke mid-request (a server restart, a failover, a network
    fault): a StorageUnavailableError, so a call answers 503, not 500."""


class PostgresStore(CallLogReads, CallFailureLog, Store, PostgresApiStore, PostgresResultCache,
                    PostgresSessionStore):
    holds = "durable"
    shared = True
    marker = "%s"

    def __init__(self, url: str, pool_size: int = 10, version_ttl: float = VERSION_TTL) -> None:
        self.url = url
        self.where = describe_url(url)
        self._version_ttl = version_ttl
        with self._connect() as conn:  # fail here, on one line, when the server is away
            migrate(conn)
        self._pool = ConnectionPool(
            url, min_size=1, max_size=max(pool_size, 2), open=False, name="tokenworks",
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT},
            timeout=POOL_TIMEOUT)
        self._pool.open()
        self._version_lock = threading.Lock()
        self._version = -1
        self._version_read_at = float("-inf")
        self.state_version()

    # -- plumbing ---------------------------------------------------------------------

    def _connect(self) -> psycopg.Connection:
        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
        except psycopg.Error as error:
            raise StoreUnavailableError(
                f"cannot reach the PostgreSQL store at {self.where}: {_first_line(error)}"
            ) from None

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection]:
        try:
            with self._pool.connection() as conn:
                try:
                    yield conn
                except psycopg.OperationalError as error:
                    if conn.broken:  # the server went away mid-request: storage unavailable
                        raise _ConnectionLost(
                            f"the connection to the PostgreSQL store at {self.where} was lost: "
                            f"{_first_line(error)}") from error
                    raise
        except (psycopg.OperationalError, _ConnectionLost):
            # The server restarted or dropped connections: the pool still holds the other
            # dead ones. Test them now, so this is the only request that fails.
            self._pool.check()
            raise
        except PoolTimeout:
            raise StoreUnavailableError(
                f"no connection to the PostgreSQL store at {self.where} within "
                f"{POOL_TIMEOUT:.0f} s (server down, or every connection busy)") from None

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection]:
        """A transaction on a pooled connection: committed if the block ends normally, rolled
        back if it raises (refusals raise, so they write nothing)."""
        with self._connection() as conn, conn.transaction():
            yield conn

    def _read(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[tuple]:
        """One statement in autocommit (no BEGIN/COMMIT round trips). A connection the
        server dropped (restart, failover) fails once; the pool replaces it, so retry once."""
        for attempt in (1, 2):
            try:
                with self._connection() as conn:
                    return conn.execute(sql, params).fetchall()
            except (psycopg.OperationalError, _ConnectionLost):
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _write_statement(self, sql: str, params: list[Any]) -> None:
        with self._transaction() as conn:
            conn.execute(sql, params)

    def schema_version(self) -> int:
        return self._read("SELECT max(version) FROM schema_migrations")[0][0] or 0

    def close(self) -> None:
        self._pool.close()

    # -- admin-state primitives ---------------------------------------------------------

    def _bump_version(self, conn: psycopg.Connection) -> int:
        """Raise the state version in the caller's transaction; returns the new version,
        which the caller passes to _saw_version once it committed."""
        [version] = conn.execute(
            "UPDATE state_version SET version = version + 1 WHERE id = 1 RETURNING version"
        ).fetchone()
        return version

    def _saw_version(self, version: int) -> None:
        with self._version_lock:
            self._version = max(self._version, version)  # never back: reads may race
            self._version_read_at = time.monotonic()

    def _log_change(
        self, conn: psycopg.Connection, actor: str, target_kind: str, target: str,
        field: str, before: Any, after: Any, reason: str,
    ) -> None:
        conn.execute(
            "INSERT INTO state_changes (occurred_at, actor, target_kind, target, field, before, "
            "after, reason) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (utcnow(), actor, target_kind, target, field, _text(before), _text(after), reason))

    def _move(self, conn: psycopg.Connection, user: str, amount: int, kind: str,
              call_id: str | None, actor: str, reason: str) -> int:
        """Change a balance with its ledger row; returns the new balance. Raises
        UnknownUserError or InsufficientTokensError (the caller's transaction rolls back)."""
        row = conn.execute(_MOVE, {"amount": amount, "user": user, "at": utcnow(),
                                   "kind": kind, "call_id": call_id, "actor": actor,
                                   "reason": reason}).fetchone()
        if row is None:
            _refuse(conn, user, -amount)
        return row[0]

    # -- users ------------------------------------------------------------------------

    def create_user(
        self, name: str, role: Role, password_hash: str, starting_grant: int, actor: str
    ) -> User:
        created = utcnow()
        with self._transaction() as conn:
            # Conditional, so two replicas creating one name cannot both succeed.
            if conn.execute("INSERT INTO users VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING "
                            "RETURNING name", (name, role, password_hash, created)).fetchone() \
                    is None:
                raise TokenworksError(f"user {name!r} exists already")
            conn.execute("INSERT INTO accounts VALUES (%s, 0)", (name,))
            if starting_grant:
                self._move(conn, name, starting_grant, "grant", None, actor, "starting grant")
            self._log_change(conn, actor, "user", name, "created", None, role, "new user")
            version = self._bump_version(conn)
        self._saw_version(version)
        return User(name, role, created, starting_grant)

    def get_user(self, name: str) -> User | None:
        rows = self._read(
            "SELECT u.name, u.role, u.created_at, a.balance FROM users u "
            "JOIN accounts a ON a.user_name = u.name WHERE u.name = %s", (name,))
        return User(*rows[0]) if rows else None

    def password_hash(self, name: str) -> str | None:
        rows = self._read("SELECT password_hash FROM users WHERE name = %s", (name,))
        return rows[0][0] if rows else None

    def list_users(self) -> list[User]:
        rows = self._read(
            "SELECT u.name, u.role, u.created_at, a.balance FROM users u "
            "JOIN accounts a ON a.user_name = u.name ORDER BY u.name")
        return [User(*row) for row in rows]

    def set_role(self, name: str, role: Role, actor: str, reason: str) -> None:
        with self._transaction() as conn:
            row = conn.execute("SELECT role FROM users WHERE name = %s FOR UPDATE",
                               (name,)).fetchone()
            if row is None:
                raise UnknownUserError(f"no such user: {name}")
            conn.execute("UPDATE users SET role = %s WHERE name = %s", (role, name))
            self._log_change(conn, actor, "user", name, "role", row[0], role, reason)
            version = self._bump_version(conn)
        self._saw_version(version)

    def set_password_hash(self, name: str, password_hash: str, actor: str, reason: str) -> None:
        with self._transaction() as conn:
            if conn.execute("UPDATE users SET password_hash = %s WHERE name = %s RETURNING name",
                            (password_hash, name)).fetchone() is None:
                raise UnknownUserError(f"no such user: {name}")
            self._end_user_sessions(conn, name, "password changed", utcnow())
            self._log_change(conn, actor, "user", name, "password", None, "changed", reason)

    # -- tokens -----------------------------------------------------------------------

    def adjust_balance(
        self, user: str, amount: int, kind: Literal["grant", "adjustment"], actor: str,
        reason: str,
    ) -> int:
        # Held tokens are already off the balance (durable holds), so a take-back can never
        # take what a running call holds: the conditional UPDATE sees only what is free.
        with self._transaction() as conn:
            balance = self._move(conn, user, amount, kind, None, actor, reason)
            version = self._bump_version(conn)
        self._saw_version(version)
        return balance

    def balance(self, user: str) -> int:
        rows = self._read("SELECT balance FROM accounts WHERE user_name = %s", (user,))
        if not rows:
            raise UnknownUserError(f"no such user: {user}")
        return rows[0][0]

    def ledger(self, user: str | None = None, limit: int = 100) -> list[LedgerEntry]:
        where, params = ("WHERE user_name = %s", [user]) if user else ("", [])
        rows = self._read(
            f"SELECT {LEDGER_COLUMNS} FROM ledger {where} ORDER BY id DESC LIMIT %s",
            [*params, limit])
        return [LedgerEntry(*row) for row in rows]

    def ledger_of_kinds(
        self, kinds: tuple[str, ...], since: datetime | None = None, limit: int = 1000,
    ) -> list[LedgerEntry]:
        if not kinds:
            return []
        where, params = "kind = ANY(%s)", [list(kinds)]
        if since is not None:
            where, params = f"{where} AND occurred_at >= %s", [*params, since]
        rows = self._read(
            f"SELECT {LEDGER_COLUMNS} FROM ledger WHERE {where} ORDER BY id DESC LIMIT %s",
            [*params, limit])
        return [LedgerEntry(*row) for row in rows]

    # -- calls ------------------------------------------------------------------------

    def begin_call(self, call: NewCall, fresh: bool = False) -> CallRecord | None:
        # ``fresh`` saves nothing here: the INSERT ... ON CONFLICT is the look-up. If another
        # replica is inserting the same id right now, PostgreSQL makes this one wait for it.
        with self._connection() as conn:  # one statement: its own transaction
            try:
                [inserted, _] = conn.execute(_BEGIN, {
                    "call_id": call.call_id, "user": call.user, "function": call.function,
                    "plugin": call.plugin, "plugin_version": call.plugin_version,
                    "cost": call.cost, "input_hash": call.input_hash,
                    "input_json": call.input_json, "at": utcnow(),
                    "started_at": call.started_at, "deadline_at": call.deadline_at,
                    "reason": f"hold for {call.function}"}).fetchone()
            except psycopg.errors.InvalidTextRepresentation as error:
                if _REFUSED not in str(error):
                    raise
                # Refused, and nothing written. Why (unknown user, or the balance now) is
                # read afterwards: a refusal is rare, and the common path stays one statement.
                _refuse(conn, call.user, call.cost)
            if inserted:
                return None
        return self.get_call(call.call_id)  # the id exists: the idempotent replay

    def finish_call(
        self, call: NewCall, status: CallStatus, latency_ms: float,
        result_json: str | None = None, error: str | None = None, cached: bool = False,
    ) -> Settled | None:
        return self._settle(call.call_id, call.user, call.cost, call.function, status,
                            latency_ms, result_json, error, actor="host", cached=cached)

    def _settle(self, call_id: str, user: str, cost: int, function: str, status: str,
                latency_ms: float | None, result_json: str | None, error: str | None,
                actor: str, cached: bool = False) -> Settled | None:
        captured = status == "succeeded"
        with self._connection() as conn:  # one statement: its own transaction
            done, balance = conn.execute(_SETTLE, {
                "status": status, "result_json": result_json, "error": error,
                "latency_ms": latency_ms, "cached": cached, "at": utcnow(), "call_id": call_id,
                "user": user,
                "cost": cost, "amount": 0 if captured else cost,
                "kind": "capture" if captured else "release", "actor": actor,
                "reason": f"{function} succeeded" if captured
                else f"{function} {status}: nothing charged"}).fetchone()
        return Settled(balance) if done == 1 else None

    def get_call(self, call_id: str) -> CallRecord | None:
        return self._stored_call(call_id)

    def release_abandoned(self, deadline_before: datetime | None, reason: str) -> list[str]:
        # Several replicas may sweep at once, and a call's own worker may finish it
        # meanwhile: the conditional settlement lets exactly one of them settle it.
        query = "SELECT call_id, user_name, cost, function FROM calls WHERE status = 'running'"
        if deadline_before is None:
            rows = self._read(query)
        else:
            rows = self._read(f"{query} AND deadline_at < %s", (deadline_before,))
        return [call_id for call_id, user, cost, function in rows
                if self._settle(call_id, user, cost, function, "abandoned", None, None, reason,
                                actor="sweep") is not None]

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
        with self._transaction() as conn:
            conn.execute(
                f"INSERT INTO function_state (name, {field}) VALUES (%s, %s) "
                f"ON CONFLICT (name) DO UPDATE SET {field} = excluded.{field}", (name, value))
            self._log_change(conn, actor, "function", name, field, before, value, reason)
            version = self._bump_version(conn)
        self._saw_version(version)

    def set_plugin_enabled(
        self, name: str, enabled: bool, before: bool, actor: str, reason: str
    ) -> None:
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO plugin_state VALUES (%s, %s) "
                "ON CONFLICT (name) DO UPDATE SET enabled = excluded.enabled", (name, enabled))
            self._log_change(conn, actor, "plugin", name, "enabled", before, enabled, reason)
            version = self._bump_version(conn)
        self._saw_version(version)

    def get_setting(self, key: str) -> str | None:
        rows = self._read("SELECT value FROM settings WHERE key = %s", (key,))
        return rows[0][0] if rows else None

    def set_setting(
        self, key: str, value: str, actor: str, reason: str, *, secret: bool = False
    ) -> None:
        with self._transaction() as conn:
            row = conn.execute("SELECT value FROM settings WHERE key = %s FOR UPDATE",
                               (key,)).fetchone()
            conn.execute(
                "INSERT INTO settings VALUES (%s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))
            before = row[0] if row else None
            if secret:
                before, value_logged = ("set" if row else None), "set"
            else:
                value_logged = value
            self._log_change(conn, actor, "setting", key, "value", before, value_logged,
                             reason)
            version = self._bump_version(conn)
        self._saw_version(version)

    def state_changes(self, limit: int = 100) -> list[StateChange]:
        rows = self._read(
            "SELECT id, occurred_at, actor, target_kind, target, field, before, after, reason "
            "FROM state_changes ORDER BY id DESC LIMIT %s", (limit,))
        return [StateChange(*row) for row in rows]

    def known_state_version(self) -> int | None:
        # As trusted as state_version's own answer without a read; None once it is stale.
        if time.monotonic() - self._version_read_at < self._version_ttl:
            return self._version
        return None

    def state_version(self) -> int:
        if time.monotonic() - self._version_read_at < self._version_ttl:
            return self._version
        asked = time.monotonic()
        [(version,)] = self._read("SELECT version FROM state_version WHERE id = 1")
        with self._version_lock:
            self._version = max(self._version, version)
            self._version_read_at = max(self._version_read_at, asked)
            return self._version

    # -- checks -----------------------------------------------------------------------

    def verify_books(self) -> BooksReport:
        with self._transaction() as conn:
            return verify_books(conn)


def describe_url(url: str) -> str:
    """Where a libpq URL points, for messages: host, port and database, never the password."""
    try:
        parts = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as error:
        raise StoreUnavailableError(f"not a valid PostgreSQL URL: {_first_line(error)}") from None
    host = parts.get("host") or "localhost"
    port = parts.get("port") or "5432"
    where = f"{host}:{port}" if not str(host).startswith("/") else f"socket {host}"
    return f"{where}/{parts.get('dbname') or parts.get('user') or ''}"


def _refuse(conn: psycopg.Connection, user: str, amount: int) -> NoReturn:
    row = conn.execute("SELECT balance FROM accounts WHERE user_name = %s", (user,)).fetchone()
    if row is None:
        raise UnknownUserError(f"no such user: {user}")
    raise InsufficientTokensError(user, amount, row[0])


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
