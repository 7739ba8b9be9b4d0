"""Judging the books: verify_books' queries and the rules of a sound ledger, once for both
engines, so DuckDB and PostgreSQL cannot drift apart in what they call a problem.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .base import BooksReport

Query = Callable[[str], list[tuple[Any, ...]]]


def check_books(query: Query) -> BooksReport:
    """Run the checks with ``query`` (one statement's rows, all in one snapshot, so calls
    written meanwhile cannot skew the sums)."""
    report = BooksReport()
    report.accounts = query("SELECT count(*) FROM accounts")[0][0]
    report.ledger_entries = query("SELECT count(*) FROM ledger")[0][0]
    drift = query(
        "SELECT coalesce(a.user_name, l.user_name), a.balance, l.total FROM accounts a "
        "FULL OUTER JOIN (SELECT user_name, sum(amount)::BIGINT AS total FROM ledger "
        "GROUP BY user_name) l ON l.user_name = a.user_name "
        "WHERE a.balance IS DISTINCT FROM coalesce(l.total, 0)")
    for user, balance, total in drift:
        report.problems.append(f"{user}: balance {balance} but ledger sums to {total}")
    for user, balance in query("SELECT user_name, balance FROM accounts WHERE balance < 0"):
        report.problems.append(f"{user}: negative balance {balance}")
    # Each row's balance_after is its account's running total in id order: both engines
    # draw a ledger id only once the account's change is decided.
    for user, entry, said, total in query(
            "SELECT user_name, id, balance_after, total FROM (SELECT user_name, id, "
            "balance_after, (sum(amount) OVER (PARTITION BY user_name ORDER BY id))::BIGINT "
            "AS total FROM ledger) t WHERE balance_after <> total ORDER BY id LIMIT 10"):
        report.problems.append(
            f"{user}: ledger entry {entry} says {said} after it, but the running total is {total}")
    judge_holds(query(
        "SELECT l.call_id, count(*) FILTER (WHERE kind = 'hold'), "
        "count(*) FILTER (WHERE kind = 'capture'), count(*) FILTER (WHERE kind = 'release'), "
        "coalesce(sum(amount) FILTER (WHERE kind = 'hold'), 0)::BIGINT, "
        "coalesce(sum(amount) FILTER (WHERE kind = 'capture'), 0)::BIGINT, "
        "coalesce(sum(amount) FILTER (WHERE kind = 'release'), 0)::BIGINT, "
        "max(c.status), max(c.cost) FROM ledger l LEFT JOIN calls c ON c.call_id = l.call_id "
        "WHERE l.call_id IS NOT NULL GROUP BY l.call_id"), report)
    judge_unheld_calls(query(
        "SELECT c.call_id FROM calls c WHERE c.cost > 0 AND NOT EXISTS "
        "(SELECT 1 FROM ledger l WHERE l.call_id = c.call_id AND l.kind = 'hold')"), report)
    judge_negative_costs(query(
        "SELECT call_id, cost FROM calls WHERE cost < 0 ORDER BY call_id LIMIT 100"), report)
    return report

# One row per call id in the ledger: call_id, holds, captures, releases, held, captured,
# released (the three amounts), the call's status and cost (None if the call log lacks it).
HoldFacts = tuple[Any, int, int, int, int, int, int, str | None, int | None]


def judge_holds(rows: Iterable[HoldFacts], report: BooksReport) -> None:
    """A call's hold is taken once, settled at most once, and settled as its status says."""
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


def judge_unheld_calls(call_ids: Iterable[tuple[Any]], report: BooksReport) -> None:
    """Calls with a price but no hold in the ledger (the query finds them)."""
    for (call_id,) in call_ids:
        report.problems.append(f"call {call_id}: charged call with no hold in the ledger")


def judge_negative_costs(rows: Iterable[tuple[Any, int]], report: BooksReport) -> None:
    """Calls with a negative cost (the query finds them): a price below zero would pay the
    caller, and a call that holds nothing has no ledger row for the other checks to catch."""
    for call_id, cost in rows:
        report.problems.append(f"call {call_id}: negative cost {cost}")
