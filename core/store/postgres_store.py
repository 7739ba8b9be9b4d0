"""The store on PostgreSQL: several `tokenworks serve` replicas (writer processes) on one
database, through psycopg 3 and a connection pool.

The SQL both engines share is sql_store.py's; this module adds PostgreSQL's own: durable
holds (a call's start and its settlement are one statement each, so every replica sees what
is reserved and exactly one of a worker and any sweep settles a call), connections that
fail over, and a state version read from the database and trusted for ``version_ttl``
seconds, so other replicas' changes reach this one within that time. Lock order, to stay
free of deadlocks: the call row, then the account row, then the state version row.
docs/postgres.md says more.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from ..errors import StoreUnavailableError
from . import schema
from .base import CallRecord, CallStatus, NewCall, Settled, utcnow
from .sql_store import CALL_COLUMNS, SqlStore, Tx, refuse

T = TypeVar("T")
CONNECT_TIMEOUT = 10  # seconds; an unreachable server is reported, not waited for
POOL_TIMEOUT = 30.0  # seconds a thread waits for a free connection
VERSION_TTL = 0.5  # seconds a read of the state version is trusted (replicas see changes)
# Any constant: replicas starting together take it so that one of them migrates.
MIGRATION_LOCK = 0x746F6B656E  # "token"
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


class PostgresStore(SqlStore):
    holds = "durable"
    shared = True
    engine = "postgres"
    lock_rows = " FOR UPDATE"

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

    # -- plumbing: the engine seam ------------------------------------------------------

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

    def _read(self, sql: Any, params: Any = (), wait: bool = True) -> list[tuple[Any, ...]]:
        """One statement in autocommit (no BEGIN/COMMIT round trips). A connection the
        server dropped (restart, failover) fails once; the pool replaces it, so retry once."""
        for attempt in (1, 2):
            try:
                with self._connection() as conn:
                    return conn.execute(_markers(sql), params).fetchall()
            except (psycopg.OperationalError, _ConnectionLost):
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _write(self, work: Callable[[Tx], T]) -> T:
        with self._transaction() as conn:
            tx = Tx(conn, _markers)
            result = work(tx)
        if tx.version is not None:
            self._saw_version(tx.version)
        return result

    def _write_one(self, sql: str, params: Any) -> list[tuple[Any, ...]]:
        with self._connection() as conn:  # one statement: autocommit, no BEGIN and COMMIT
            return Tx(conn, _markers).all(sql, params)

    @contextmanager
    def _snapshot(self) -> Iterator[Tx]:
        with self._transaction() as conn:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield Tx(conn, _markers)

    def close(self) -> None:
        self._pool.close()

    def _saw_version(self, version: int) -> None:
        with self._version_lock:
            self._version = max(self._version, version)  # never back: reads may race
            self._version_read_at = time.monotonic()

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
                refuse(Tx(conn, _markers), call.user, call.cost)
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
            rows = self._read(f"{query} AND deadline_at < ?", [deadline_before])
        return [call_id for call_id, user, cost, function in rows
                if self._settle(call_id, user, cost, function, "abandoned", None, None, reason,
                                actor="sweep") is not None]

    # -- the state version --------------------------------------------------------------

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


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _markers(sql: Any) -> Any:
    """The shared SQL's ``?`` markers as psycopg's (composed SQL passes as it is)."""
    return _translated(sql) if isinstance(sql, str) else sql


@functools.lru_cache(maxsize=1024)
def _translated(sql: str) -> str:
    return sql.replace("%", "%%").replace("?", "%s")


def migrate(conn: psycopg.Connection) -> None:
    """Apply the migrations this database has not seen, all in one transaction (PostgreSQL's
    DDL is transactional); the advisory lock makes replicas that start together wait for the
    first one's migrations instead of applying them twice."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        schema.apply_migrations(Tx(conn, _markers).all, "postgres")
