"""verify_books on PostgreSQL: the checks of the DuckDB store, in PostgreSQL's SQL.

They run in one REPEATABLE READ transaction, so calls other replicas write meanwhile
cannot skew the sums (every query sees the same snapshot).
"""

from __future__ import annotations

import psycopg

from .base import BooksReport
from .books import judge_holds, judge_negative_costs, judge_unheld_calls


def verify_books(conn: psycopg.Connection) -> BooksReport:
    report = BooksReport()
    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
    report.accounts = conn.execute("SELECT count(*) FROM accounts").fetchone()[0]
    report.ledger_entries = conn.execute("SELECT count(*) FROM ledger").fetchone()[0]
    _check_balances(conn, report)
    _check_holds(conn, report)
    return report


def _check_balances(conn: psycopg.Connection, report: BooksReport) -> None:
    drift = conn.execute(
        "SELECT coalesce(a.user_name, l.user_name), a.balance, l.total FROM accounts a "
        "FULL OUTER JOIN (SELECT user_name, sum(amount)::bigint AS total FROM ledger "
        "GROUP BY user_name) l ON l.user_name = a.user_name "
        "WHERE a.balance IS DISTINCT FROM coalesce(l.total, 0)"
    ).fetchall()
    for user, balance, total in drift:
        report.problems.append(f"{user}: balance {balance} but ledger sums to {total}")
    for user, balance in conn.execute(
            "SELECT user_name, balance FROM accounts WHERE balance < 0").fetchall():
        report.problems.append(f"{user}: negative balance {balance}")
    # Each row's balance_after is its account's running total in id order: the store takes
    # the account's row lock before it draws a ledger id, so ids follow the balance changes.
    for user, entry, said, total in conn.execute(
            "SELECT user_name, id, balance_after, total FROM (SELECT user_name, id, "
            "balance_after, (sum(amount) OVER (PARTITION BY user_name ORDER BY id))::bigint "
            "AS total FROM ledger) t WHERE balance_after <> total ORDER BY id LIMIT 10"
    ).fetchall():
        report.problems.append(
            f"{user}: ledger entry {entry} says {said} after it, but the running total is {total}")


def _check_holds(conn: psycopg.Connection, report: BooksReport) -> None:
    rows = conn.execute(
        "SELECT l.call_id, "
        "count(*) FILTER (WHERE kind = 'hold'), "
        "count(*) FILTER (WHERE kind = 'capture'), "
        "count(*) FILTER (WHERE kind = 'release'), "
        "coalesce(sum(amount) FILTER (WHERE kind = 'hold'), 0)::bigint, "
        "coalesce(sum(amount) FILTER (WHERE kind = 'capture'), 0)::bigint, "
        "coalesce(sum(amount) FILTER (WHERE kind = 'release'), 0)::bigint, "
        "max(c.status), max(c.cost) "
        "FROM ledger l LEFT JOIN calls c ON c.call_id = l.call_id "
        "WHERE l.call_id IS NOT NULL GROUP BY l.call_id"
    ).fetchall()
    judge_holds(rows, report)
    orphans = conn.execute(
        "SELECT c.call_id FROM calls c WHERE c.cost > 0 AND NOT EXISTS "
        "(SELECT 1 FROM ledger l WHERE l.call_id = c.call_id AND l.kind = 'hold')"
    ).fetchall()
    judge_unheld_calls(orphans, report)
    judge_negative_costs(conn.execute(
        "SELECT call_id, cost FROM calls WHERE cost < 0 ORDER BY call_id LIMIT 100").fetchall(),
        report)
