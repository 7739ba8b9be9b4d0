"""Finished calls written to DuckDB's tables, many at a time.

A call whose hold lived in memory (reservations.py) is written once, when it ends: its call
row with the final status, the hold and capture-or-release ledger rows, the balance change.
The writer thread (duckdb_writer.py) takes every call that finished meanwhile into one
transaction, and each kind of row goes in as one multi-row statement, because DuckDB's
cost is mostly per statement (docs/architecture.md). A few rows bind one value per cell
(``VALUES``); from COLUMNWISE_FROM rows on, one list per column, unnested, which DuckDB
plans once instead of once per cell.

The balance change is written compare-and-set from the balance the store knows, so if that
knowledge were ever wrong the write fails (BalanceDrift) instead of writing a ledger row
with a wrong balance_after.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import duckdb

from .base import CallStatus, NewCall, utcnow
from .reservations import Reservation
from .sql_store import CALL_COLUMNS

_CALL_TYPES = ("VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "BIGINT", "VARCHAR",
               "VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "TIMESTAMP", "TIMESTAMP",
               "TIMESTAMP", "DOUBLE", "BOOLEAN")
_LEDGER_COLUMNS = "occurred_at, user_name, kind, amount, call_id, actor, reason, balance_after"
_LEDGER_TYPES = ("TIMESTAMP", "VARCHAR", "VARCHAR", "BIGINT", "VARCHAR", "VARCHAR", "VARCHAR",
                 "BIGINT")
# From this many rows a statement binds one list per column instead of one value per cell.
COLUMNWISE_FROM = 3


@dataclass(frozen=True)
class FinishedCall:
    """A call that ran with its hold in memory, once it is over: what writing it takes."""

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


class BalanceDrift(Exception):
    """A compare-and-set found an account's balance other than the store knew it."""

    def __init__(self, users: list[str]) -> None:
        super().__init__(f"the stored balance of {', '.join(users)} is not what this "
                         "process last committed; nothing was written")
        self.users = users


def write_finished(
    cursor: duckdb.DuckDBPyConnection, calls: Sequence[FinishedCall], before: dict[str, int],
) -> dict[str, int]:
    """Write whole calls; returns the balances after of the accounts they touch.

    ``before`` holds each account's balance before these calls, as the store knows it from
    the transactions it committed (and the one being applied): no statement reads it back.
    No balance can go negative: the reservation made sure of it, and the CHECK constraint
    would refuse it.
    """
    if not calls:
        return {}
    now = utcnow()
    _insert_rows(cursor, "calls", CALL_COLUMNS, _CALL_TYPES, [_call_row(c, now) for c in calls])
    running = {done.call.user: before[done.call.user] for done in calls}
    ledger = []
    for done in calls:
        c = done.call
        if c.cost <= 0:
            continue
        succeeded = done.status == "succeeded"
        rows = [("hold", -c.cost, c.user, f"hold for {c.function}"),
                ("capture", 0, done.actor, f"{c.function} succeeded") if succeeded else
                ("release", c.cost, done.actor, f"{c.function} {done.status}: nothing charged")]
        for kind, amount, actor, reason in rows:
            running[c.user] += amount
            ledger.append((now, c.user, kind, amount, c.call_id, actor, reason, running[c.user]))
    _set_balances(cursor, {user: (before[user], after) for user, after in running.items()
                           if after != before[user]})
    _insert_rows(cursor, "ledger", _LEDGER_COLUMNS, _LEDGER_TYPES, ledger)
    return running


def _set_balances(cursor: duckdb.DuckDBPyConnection, changes: dict[str, tuple[int, int]]) -> None:
    """Compare-and-set: each account goes from its known balance to the new one."""
    if not changes:
        return
    if len(changes) == 1:  # the cheapest form for one account
        [(user, (old, new))] = changes.items()
        [count] = cursor.execute(
            "UPDATE accounts SET balance = ? WHERE user_name = ? AND balance = ?",
            [new, user, old]).fetchone()
    else:
        [count] = cursor.execute(
            "UPDATE accounts SET balance = v.new FROM (SELECT unnest(?::VARCHAR[]) AS "
            "user_name, unnest(?::BIGINT[]) AS old, unnest(?::BIGINT[]) AS new) v "
            "WHERE accounts.user_name = v.user_name AND accounts.balance = v.old",
            [list(changes), [old for old, _ in changes.values()],
             [new for _, new in changes.values()]]).fetchone()
    if count != len(changes):
        raise BalanceDrift(sorted(changes))


def _insert_rows(
    cursor: duckdb.DuckDBPyConnection, table: str, columns: str, types: Sequence[str],
    rows: Sequence[Sequence[object]],
) -> None:
    """One INSERT of ``rows`` (values in ``columns`` order, of these SQL ``types``), in order:
    the ledger's ids are drawn in row order, and each row's balance_after assumes it."""
    if not rows:
        return
    if len(rows) < COLUMNWISE_FROM:
        marks = f"({', '.join(['?'] * len(types))})"
        cursor.execute(f"INSERT INTO {table} ({columns}) VALUES {', '.join([marks] * len(rows))}",
                       [value for row in rows for value in row])
        return
    # Unnesting lists of one length side by side zips them, in list order.
    select = ", ".join(f"unnest(?::{sql_type}[])" for sql_type in types)
    cursor.execute(f"INSERT INTO {table} ({columns}) SELECT {select}",
                   [list(column) for column in zip(*rows, strict=True)])


def _call_row(done: FinishedCall, now: datetime) -> tuple[object, ...]:
    c = done.call
    return (c.call_id, c.user, c.function, c.plugin, c.plugin_version, c.cost, done.status,
            c.input_hash, c.input_json, done.result_json, done.error,
            done.reservation.started_at, c.deadline_at, done.finished_at or now,
            done.latency_ms, done.cached)
