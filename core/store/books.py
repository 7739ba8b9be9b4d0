"""Judging the books: the checks every engine's verify_books applies to what its SQL found.

Each engine gathers the facts in its own dialect (per call: how many holds, captures and
releases, their amounts, the call's status and cost); the rules of a sound ledger live here
once, so DuckDB and PostgreSQL cannot drift apart in what they call a problem.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .base import BooksReport

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
