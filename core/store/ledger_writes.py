"""Holds, settlements and ledger rows, written many at a time (DuckDB).

A metered call writes twice: a hold when it starts (its call row, the debit, a ledger row)
and a settlement when it ends (its final status, and a capture or release ledger row).
Under group commit (group_commit.py) one transaction carries the holds and settlements of
many threads. Written one statement per call they would still pay DuckDB's fixed cost per
statement (planning and execution, 2-4 ms on the machines measured), so each kind of row
is written for the whole batch by one multi-row statement: eight ledger rows in one INSERT
cost about 1.4x one row (docs/benchmarks.md). A lone request takes the one-row form of
each statement, which is cheaper than the multi-row form with one row.

Every balance change goes through change_balances: check and change in one statement, so
a balance never goes negative. The process-wide writer runs one transaction at a time, so
these statements never race each other (DESIGN.md, "Lost updates").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import duckdb

from ..errors import InsufficientTokensError, UnknownUserError
from .base import CallStatus, NewCall, utcnow

CALL_COLUMNS = (
    "call_id, user_name, function, plugin, plugin_version, cost, status, input_hash, "
    "input_json, result_json, error, started_at, deadline_at, finished_at, latency_ms"
)
_NEW_CALL = "(?, ?, ?, ?, ?, ?, 'running', ?, ?, NULL, NULL, ?, ?, NULL, NULL)"
_LEDGER_ROW = "(?, ?, ?, ?, ?, ?, ?, ?)"
_SETTLEMENT = "(?::VARCHAR, ?::VARCHAR, ?::BIGINT, ?::VARCHAR, ?::VARCHAR, ?::VARCHAR, ?::DOUBLE)"


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


class SettledElsewhere(Exception):
    """A batch's settlement found its call settled already; rerun them one by one."""


def write_calls(
    cursor: duckdb.DuckDBPyConnection, holds: Sequence[Hold], settles: Sequence[Settle],
) -> list[bool]:
    """Write settlements, then holds; returns one flag per settlement.

    A lone settlement whose call is not running (with that user and cost) returns False
    and writes nothing. Raises CallExists, UnknownUserError, InsufficientTokensError or
    SettledElsewhere; the caller rolls the transaction back.
    """
    settled = settle_calls(cursor, settles)
    rows = [_settlement_row(s) for s, done in zip(settles, settled, strict=True)
            if done and s.cost > 0]
    insert_calls(cursor, [hold.call for hold in holds])
    rows += [LedgerRow(c.user, "hold", -c.cost, c.call_id, c.user, f"hold for {c.function}")
             for c in (hold.call for hold in holds) if c.cost > 0]
    append_ledger(cursor, rows, must_exist={h.call.user for h in holds if h.call.cost == 0})
    return settled


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
            "finished_at = ? WHERE call_id = ? AND status = 'running' AND user_name = ? "
            "AND cost = ?",
            [s.status, s.result_json, s.error, s.latency_ms, now, s.call_id, s.user, s.cost],
        ).fetchone()
        return [count == 1]
    if len({s.call_id for s in settles}) < len(settles):
        raise SettledElsewhere("one call settled twice in a batch")
    [count] = cursor.execute(
        "UPDATE calls SET status = v.status, result_json = v.result_json, error = v.error, "
        "latency_ms = v.latency_ms, finished_at = ? "
        f"FROM (VALUES {', '.join([_SETTLEMENT] * len(settles))}) "
        "v(call_id, user_name, cost, status, result_json, error, latency_ms) "
        "WHERE calls.call_id = v.call_id AND calls.status = 'running' "
        "AND calls.user_name = v.user_name AND calls.cost = v.cost",
        [now, *(value for s in settles for value in (
            s.call_id, s.user, s.cost, s.status, s.result_json, s.error, s.latency_ms))],
    ).fetchone()
    if count != len(settles):
        raise SettledElsewhere(f"{len(settles) - count} of {len(settles)} calls not running")
    return [True] * len(settles)


def insert_calls(cursor: duckdb.DuckDBPyConnection, calls: Sequence[NewCall]) -> None:
    if not calls:
        return
    now = utcnow()
    try:
        cursor.execute(
            f"INSERT INTO calls ({CALL_COLUMNS}) VALUES {', '.join([_NEW_CALL] * len(calls))}",
            [value for c in calls for value in (
                c.call_id, c.user, c.function, c.plugin, c.plugin_version, c.cost,
                c.input_hash, c.input_json, now, c.deadline_at)],
        )
    except duckdb.ConstraintException as error:
        # Under the one writer a duplicate key can only mean the call id exists.
        raise CallExists from error


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
    values: list[object] = []
    now = utcnow()
    for row in rows:
        running[row.user] += row.amount
        values += [now, row.user, row.kind, row.amount, row.call_id, row.actor, row.reason,
                   running[row.user]]
    if rows:
        cursor.execute(
            "INSERT INTO ledger (occurred_at, user_name, kind, amount, call_id, actor, reason, "
            f"balance_after) VALUES {', '.join([_LEDGER_ROW] * len(rows))}",
            values,
        )
    return running


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


def _settlement_row(s: Settle) -> LedgerRow:
    if s.status == "succeeded":
        return LedgerRow(s.user, "capture", 0, s.call_id, s.actor, f"{s.function} succeeded")
    return LedgerRow(s.user, "release", s.cost, s.call_id, s.actor,
                     f"{s.function} {s.status}: nothing charged")
