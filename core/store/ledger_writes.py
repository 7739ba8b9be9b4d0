"""Holds, settlements, whole calls and ledger rows, written many at a time (DuckDB).

With durable holds a metered call writes twice: a hold when it starts (its call row, the
debit, a ledger row) and a settlement when it ends (its final status, and a capture or
release ledger row). With holds in memory (reservations.py) it writes once, when it ends:
a Record (its call row with the final status, the hold and the capture or release ledger
rows, the balance change). Under group commit (group_commit.py) one transaction carries
the writes of many threads. Written one statement per call they would still pay DuckDB's
fixed cost per statement (planning and execution, 2-4 ms on the machines measured), so
each kind of row is written for the whole batch by one multi-row statement: eight ledger
rows in one INSERT cost about 1.4x one row (docs/benchmarks.md). A batch binds one list
per column and unnests them (``INSERT ... SELECT unnest(?::VARCHAR[]), ...``): DuckDB binds
and plans each parameter of a multi-row VALUES as its own expression, so a whole batch of
eight calls cost about a fifth more CPU written that way (docs/benchmarks.md). A lone
request takes the one-row VALUES form of each statement, which is the cheapest for one row.

Every balance change goes through change_balances (check and change in one statement, so
a balance never goes negative), except a whole call's: its tokens were reserved, so it is
written compare-and-set from the balance the store knows (set_balances). The process-wide
writer runs one transaction at a time, so these statements never race each other
(docs/duckdb.md, "Lost updates").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import duckdb

from ..errors import InsufficientTokensError, UnknownUserError
from .base import CallStatus, NewCall, utcnow
from .call_log import CALL_COLUMNS
from .reservations import Reservation

_CALL_TYPES = ("VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "BIGINT", "VARCHAR",
               "VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "TIMESTAMP", "TIMESTAMP",
               "TIMESTAMP", "DOUBLE", "BOOLEAN")
_LEDGER_COLUMNS = "occurred_at, user_name, kind, amount, call_id, actor, reason, balance_after"
_LEDGER_TYPES = ("TIMESTAMP", "VARCHAR", "VARCHAR", "BIGINT", "VARCHAR", "VARCHAR", "VARCHAR",
                 "BIGINT")
# From this many rows a statement binds one list per column instead of one value per cell
# (measured: one call row and its two ledger rows are cheapest as VALUES; eight calls'
# rows about 20% cheaper as lists, counting the whole transaction).
COLUMNWISE_FROM = 3
_SETTLEMENT = ("(?::VARCHAR, ?::VARCHAR, ?::BIGINT, ?::VARCHAR, ?::VARCHAR, ?::VARCHAR, "
               "?::DOUBLE, ?::BOOLEAN)")


@dataclass(frozen=True)
class Hold:
    """Record a new call and hold its cost (begin_call)."""

    call: NewCall


@dataclass(frozen=True)
class Settle:
    """Settle a running call: capture its hold on success, release it otherwise."""

    call_id: str
    user: str
    cost: int
    function: str
    status: CallStatus
    latency_ms: float | None
    result_json: str | None
    error: str | None
    actor: str
    cached: bool = False  # answered from the result cache


@dataclass(frozen=True)
class Record:
    """Write a call that ran with its hold in memory, once it is over: the call row with its
    final status, the hold and its capture or release, the balance change."""

    reservation: Reservation  # its call is the NewCall given to begin_call
    status: CallStatus
    latency_ms: float | None
    result_json: str | None
    error: str | None
    actor: str
    cached: bool = False  # answered from the result cache
    finished_at: datetime | None = None  # None: when it is written

    @property
    def call(self) -> NewCall:
        assert self.reservation.call is not None
        return self.reservation.call


@dataclass(frozen=True)
class Records:
    """Several Records in one request (the write-behind thread's batch)."""

    records: tuple[Record, ...]


@dataclass(frozen=True)
class LedgerRow:
    user: str
    kind: str
    amount: int
    call_id: str | None
    actor: str
    reason: str


class CallExists(Exception):
    """A hold's call id is taken; raised inside the transaction to roll it back."""


class BalanceDrift(Exception):
    """A compare-and-set found an account's balance other than the store knew it."""

    def __init__(self, users: list[str]) -> None:
        super().__init__(f"the stored balance of {', '.join(users)} is not what this "
                         "process last committed; nothing was written")
        self.users = users


class SettledElsewhere(Exception):
    """A batch's settlement found its call settled already; rerun them one by one."""


def write_calls(
    cursor: duckdb.DuckDBPyConnection, holds: Sequence[Hold], settles: Sequence[Settle],
) -> tuple[list[bool], dict[str, int]]:
    """Write settlements, then holds (durable holds); returns one flag per settlement, and
    the balances after of every account that has a ledger row here.

    A lone settlement whose call is not running (with that user and cost) returns False
    and writes nothing. Raises CallExists, UnknownUserError, InsufficientTokensError or
    SettledElsewhere; the caller rolls the transaction back.
    """
    settled = settle_calls(cursor, settles)
    rows = [_settlement_row(s.user, s.cost, s.call_id, s.function, s.status, s.actor)
            for s, done in zip(settles, settled, strict=True) if done and s.cost > 0]
    insert_calls(cursor, [_running_row(hold.call) for hold in holds])
    rows += [_hold_row(hold.call) for hold in holds if hold.call.cost > 0]
    balances = append_ledger(cursor, rows,
                             must_exist={h.call.user for h in holds if h.call.cost == 0})
    return settled, balances


def write_records(
    cursor: duckdb.DuckDBPyConnection, records: Sequence[Record], before: dict[str, int],
) -> dict[str, int]:
    """Write whole calls (holds in memory): call rows, hold and capture-or-release ledger
    rows, balance changes; returns the balances after of the accounts they touch.

    ``before`` holds each account's balance before these records, as the store knows it
    from the transactions it committed (and the one being applied). Knowing it saves the
    statements that would read it back (RETURNING, or a SELECT for a released call, which
    changes no balance); each changed balance is written compare-and-set, so if the store's
    knowledge were ever wrong the write fails (BalanceDrift) instead of writing a ledger
    row with a wrong balance_after. No balance can go negative: the reservation made sure
    of it, and the CHECK constraint would refuse it.
    """
    if not records:
        return {}
    now = utcnow()
    insert_calls(cursor, [_final_row(record, now) for record in records])
    running = {record.call.user: before[record.call.user] for record in records}
    rows: list[LedgerRow] = []
    for record in records:
        c = record.call
        if c.cost > 0:
            rows += [_hold_row(c), _settlement_row(c.user, c.cost, c.call_id, c.function,
                                                   record.status, record.actor)]
    values = _ledger_values(rows, running, now)
    set_balances(cursor, {user: (before[user], after) for user, after in running.items()
                          if after != before[user]})
    _insert_ledger(cursor, values)
    return running


def set_balances(
    cursor: duckdb.DuckDBPyConnection, changes: dict[str, tuple[int, int]],
) -> None:
    """Compare-and-set: each account goes from its known balance to the new one (>= 0)."""
    if not changes:
        return
    if len(changes) == 1:
        [(user, (old, new))] = changes.items()
        [count] = cursor.execute(
            "UPDATE accounts SET balance = ? WHERE user_name = ? AND balance = ?",
            [new, user, old]).fetchone()
    else:
        # Three lists, not three parameters per account (see COLUMNWISE_FROM).
        [count] = cursor.execute(
            "UPDATE accounts SET balance = v.new FROM (SELECT unnest(?::VARCHAR[]) AS user_name, "
            "unnest(?::BIGINT[]) AS old, unnest(?::BIGINT[]) AS new) v "
            "WHERE accounts.user_name = v.user_name AND accounts.balance = v.old",
            [list(changes), [old for old, _ in changes.values()],
             [new for _, new in changes.values()]],
        ).fetchone()
    if count != len(changes):
        raise BalanceDrift(sorted(changes))


def settle_calls(cursor: duckdb.DuckDBPyConnection, settles: Sequence[Settle]) -> list[bool]:
    """Mark the calls final. No RETURNING: the caller knows each call's user and cost
    (they are in the WHERE clause), and RETURNING doubles the statement's cost here."""
    now = utcnow()
    if not settles:
        return []
    if len(settles) == 1:
        [s] = settles
        [count] = cursor.execute(
            "UPDATE calls SET status = ?, result_json = ?, error = ?, latency_ms = ?, "
            "cached = ?, finished_at = ? WHERE call_id = ? AND status = 'running' "
            "AND user_name = ? AND cost = ?",
            [s.status, s.result_json, s.error, s.latency_ms, s.cached, now, s.call_id, s.user,
             s.cost],
        ).fetchone()
        return [count == 1]
    if len({s.call_id for s in settles}) < len(settles):
        raise SettledElsewhere("one call settled twice in a batch")
    [count] = cursor.execute(
        "UPDATE calls SET status = v.status, result_json = v.result_json, error = v.error, "
        "latency_ms = v.latency_ms, cached = v.cached, finished_at = ? "
        f"FROM (VALUES {', '.join([_SETTLEMENT] * len(settles))}) "
        "v(call_id, user_name, cost, status, result_json, error, latency_ms, cached) "
        "WHERE calls.call_id = v.call_id AND calls.status = 'running' "
        "AND calls.user_name = v.user_name AND calls.cost = v.cost",
        [now, *(value for s in settles for value in (
            s.call_id, s.user, s.cost, s.status, s.result_json, s.error, s.latency_ms,
            s.cached))],
    ).fetchone()
    if count != len(settles):
        raise SettledElsewhere(f"{len(settles) - count} of {len(settles)} calls not running")
    return [True] * len(settles)


def insert_calls(cursor: duckdb.DuckDBPyConnection, rows: Sequence[tuple[object, ...]]) -> None:
    """Insert call rows (CALL_COLUMNS order): running ones for holds, final ones for records."""
    try:
        insert_rows(cursor, "calls", CALL_COLUMNS, _CALL_TYPES, rows)
    except duckdb.ConstraintException as error:
        # Under the one writer a duplicate key can only mean the call id exists.
        raise CallExists from error


def insert_rows(
    cursor: duckdb.DuckDBPyConnection, table: str, columns: str, types: Sequence[str],
    rows: Sequence[Sequence[object]],
) -> None:
    """One INSERT of ``rows`` (values in ``columns`` order, of these SQL ``types``), in order:
    the ledger's ids are drawn in row order, and each row's balance_after assumes it."""
    if not rows:
        return
    if any(len(row) != len(types) for row in rows):
        raise ValueError(f"{table}: rows of {len(types)} values expected ({columns})")
    if len(rows) < COLUMNWISE_FROM:
        marks = f"({', '.join(['?'] * len(types))})"
        cursor.execute(f"INSERT INTO {table} ({columns}) VALUES {', '.join([marks] * len(rows))}",
                       [value for row in rows for value in row])
        return
    # Unnesting lists of one length side by side zips them, in list order.
    select = ", ".join(f"unnest(?::{sql_type}[])" for sql_type in types)
    cursor.execute(f"INSERT INTO {table} ({columns}) SELECT {select}",
                   [list(column) for column in zip(*rows, strict=True)])


def _running_row(c: NewCall) -> tuple[object, ...]:
    # started_at as the meter set it: it answers the call without reading the row back
    return (c.call_id, c.user, c.function, c.plugin, c.plugin_version, c.cost, "running",
            c.input_hash, c.input_json, None, None, c.started_at, c.deadline_at, None, None, False)


def _final_row(record: Record, now: datetime) -> tuple[object, ...]:
    c = record.call
    return (c.call_id, c.user, c.function, c.plugin, c.plugin_version, c.cost, record.status,
            c.input_hash, c.input_json, record.result_json, record.error,
            record.reservation.started_at, c.deadline_at, record.finished_at or now,
            record.latency_ms,
            record.cached)


def append_ledger(
    cursor: duckdb.DuckDBPyConnection, rows: Sequence[LedgerRow], must_exist: Iterable[str] = (),
) -> dict[str, int]:
    """Append ledger rows in order and change the balances they move; returns the balances
    after. Each row's balance_after is its account's running balance. Users in
    ``must_exist`` need no row but must have an account (UnknownUserError)."""
    net: dict[str, int] = {}
    for row in rows:
        net[row.user] = net.get(row.user, 0) + row.amount
    moving = {user: amount for user, amount in net.items() if amount}
    balances = change_balances(cursor, moving)
    running = {user: balance - moving[user] for user, balance in balances.items()}
    running |= read_balances(cursor, (set(net) | set(must_exist)) - set(moving))
    _insert_ledger(cursor, _ledger_values(rows, running, utcnow()))
    return running


def _ledger_values(rows: Sequence[LedgerRow], running: dict[str, int],
                   now: datetime) -> list[tuple[object, ...]]:
    """The INSERT rows of ``rows``; advances ``running`` (balances) past each row."""
    values: list[tuple[object, ...]] = []
    for row in rows:
        running[row.user] += row.amount
        values.append((now, row.user, row.kind, row.amount, row.call_id, row.actor, row.reason,
                       running[row.user]))
    return values


def _insert_ledger(cursor: duckdb.DuckDBPyConnection, rows: list[tuple[object, ...]]) -> None:
    insert_rows(cursor, "ledger", _LEDGER_COLUMNS, _LEDGER_TYPES, rows)


def change_balances(cursor: duckdb.DuckDBPyConnection, amounts: dict[str, int]) -> dict[str, int]:
    """The one form every balance change takes: check and change in one statement.

    Returns the new balances; raises UnknownUserError or InsufficientTokensError (for the
    first account refused) rather than let a balance go negative.
    """
    if not amounts:
        return {}
    if len(amounts) == 1:
        [(user, amount)] = amounts.items()
        rows = cursor.execute(
            "UPDATE accounts SET balance = balance + $amount "
            "WHERE user_name = $user AND balance + $amount >= 0 RETURNING user_name, balance",
            {"amount": amount, "user": user},
        ).fetchall()
    else:
        rows = cursor.execute(
            "UPDATE accounts SET balance = balance + v.amount "
            f"FROM (VALUES {', '.join(['(?::VARCHAR, ?::BIGINT)'] * len(amounts))}) "
            "v(user_name, amount) WHERE accounts.user_name = v.user_name "
            "AND accounts.balance + v.amount >= 0 RETURNING accounts.user_name, accounts.balance",
            [value for item in amounts.items() for value in item],
        ).fetchall()
    after = dict(rows)
    for user, amount in amounts.items():
        if user not in after:
            refuse_debit(cursor, user, -amount)
    return after


def read_balances(cursor: duckdb.DuckDBPyConnection, users: set[str]) -> dict[str, int]:
    if not users:
        return {}
    found = dict(cursor.execute(
        f"SELECT user_name, balance FROM accounts WHERE user_name IN "
        f"({', '.join(['?'] * len(users))})", sorted(users)).fetchall())
    missing = sorted(users - set(found))
    if missing:
        raise UnknownUserError(f"no such user: {missing[0]}")
    return found


def refuse_debit(cursor: duckdb.DuckDBPyConnection, user: str, amount: int) -> None:
    row = cursor.execute("SELECT balance FROM accounts WHERE user_name = ?", [user]).fetchone()
    if row is None:
        raise UnknownUserError(f"no such user: {user}")
    raise InsufficientTokensError(user, amount, row[0])


def _hold_row(c: NewCall) -> LedgerRow:
    return LedgerRow(c.user, "hold", -c.cost, c.call_id, c.user, f"hold for {c.function}")


def _settlement_row(user: str, cost: int, call_id: str, function: str, status: str,
                    actor: str) -> LedgerRow:
    if status == "succeeded":
        return LedgerRow(user, "capture", 0, call_id, actor, f"{function} succeeded")
    return LedgerRow(user, "release", cost, call_id, actor,
                     f"{function} {status}: nothing charged")
