"""Replaying the call journal at start: the calls an earlier process journaled but did not
get into the tables (it was killed, or lost power) are checked, then written once.

A journal line is trusted only as far as it checks out: its checksum says it was written
whole, not that what it says is sound (a bug, a hand edit or a damaged disk can write a
valid line with a missing field or a negative cost). So every entry is checked before it is
written: required fields present and typed, a known final status, a cost >= 0, ``charged``
(when the entry says it) consistent with the status, its user known, and, for a call that
captures, tokens to cover it. The ledger rows are made from the checked status and cost
(ledger_writes.write_finished), so they are consistent with them: a hold of the cost, then
a capture only for a succeeded call, else a release of the whole cost.

A bad entry is skipped and kept: its segment is quarantined (call_journal.quarantine), as
is a segment with a damaged line, after its good entries are written. Nothing here stops the
store from opening: the caller logs anything unexpected and carries on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ..errors import InsufficientTokensError, UnknownUserError
from .base import FINAL_STATUSES, NewCall
from .call_journal import CallJournal, Leftover
from .ledger_writes import FinishedCall
from .reservations import Reservation, ReservationBook

log = logging.getLogger("tokenworks.store")

_TEXT, _NUMBER = (str,), (int, float)
_NONE = (type(None),)
FIELDS: dict[str, tuple[type, ...]] = {
    "call_id": _TEXT, "user": _TEXT, "function": _TEXT, "plugin": _TEXT,
    "plugin_version": _TEXT, "cost": (int,), "status": _TEXT, "input_hash": _TEXT,
    "input_json": _TEXT, "result_json": _TEXT + _NONE, "error": _TEXT + _NONE,
    "started_at": _TEXT, "deadline_at": _TEXT, "finished_at": _TEXT,
    "latency_ms": _NUMBER + _NONE, "cached": (bool,), "actor": _TEXT,
}
TIMES = ("started_at", "deadline_at", "finished_at")


def entry_problems(entry: dict[str, Any]) -> list[str]:
    """What is wrong with one journal entry on its own (no store needed); [] if nothing.
    Fields not named here (a later version's optional ones) are left alone."""
    problems = []
    for name, types in FIELDS.items():
        if name not in entry:
            problems.append(f"{name} is missing")
        elif not isinstance(entry[name], types) or (
                isinstance(entry[name], bool) and bool not in types):
            problems.append(f"{name} has the wrong type ({type(entry[name]).__name__})")
    if problems:
        return problems
    status, cost = entry["status"], entry["cost"]
    if not entry["call_id"]:
        problems.append("call_id is empty")
    if status not in FINAL_STATUSES:
        problems.append(f"status {status!r} is not a final status")
    if cost < 0:
        problems.append(f"cost {cost} is negative")
    if "charged" in entry:
        expected = cost if status == "succeeded" else 0
        if entry["charged"] != expected or isinstance(entry["charged"], bool):
            problems.append(f"charged {entry['charged']!r} but a {status} call of cost "
                            f"{cost} is charged {expected}")
    if entry["latency_ms"] is not None and entry["latency_ms"] < 0:
        problems.append(f"latency_ms {entry['latency_ms']} is negative")
    for name in TIMES:
        try:
            datetime.fromisoformat(entry[name])
        except ValueError:
            problems.append(f"{name} {entry[name]!r} is not a time")
    return problems


def call_of(entry: dict[str, Any]) -> NewCall:
    """The call a checked entry journaled."""
    return NewCall(entry["call_id"], entry["user"], entry["function"], entry["plugin"],
                   entry["plugin_version"], entry["cost"], entry["input_hash"],
                   entry["input_json"], datetime.fromisoformat(entry["deadline_at"]),
                   datetime.fromisoformat(entry["started_at"]))


def replay(
    journal: CallJournal, book: ReservationBook, *,
    stored: Callable[[list[str]], set[str]], users: Callable[[set[str]], set[str]],
    write: Callable[[list[FinishedCall]], list[BaseException | None]],
) -> None:
    """Write the leftover segments' good calls the tables lack, then delete each segment,
    or quarantine it if anything in it was wrong. ``stored`` answers which call ids the
    tables have, ``users`` which user names exist; ``write`` writes calls and answers
    each one's error (None: written)."""
    leftovers = journal.leftovers()
    if not leftovers:
        return
    # Per segment: (line number, what is wrong with it); 0 for the file as a whole.
    reasons: dict[int, list[tuple[int, str]]] = {id(left): list(left.damage)
                                                 for left in leftovers}
    checked: list[tuple[Leftover, int, dict[str, Any]]] = []
    for leftover in leftovers:
        for number, entry in leftover.entries:
            problems = entry_problems(entry)
            if problems:
                reasons[id(leftover)].append((number, "; ".join(problems)))
            else:
                checked.append((leftover, number, entry))
    present = stored([entry["call_id"] for _, _, entry in checked])
    known = users({entry["user"] for _, _, entry in checked})
    seen: dict[str, dict[str, Any]] = {}
    todo: list[tuple[Leftover, int, FinishedCall]] = []
    already = 0
    for leftover, number, entry in checked:
        problem = None
        call_id = entry["call_id"]
        if call_id in seen:
            if seen[call_id] != entry:
                problem = f"call {call_id} is journaled twice, differently"
        elif call_id in present:
            already += 1
        else:
            if entry["user"] not in known:
                problem = f"user {entry['user']!r} does not exist"
            else:
                try:
                    todo.append((leftover, number, _record(entry, book)))
                except InsufficientTokensError as error:
                    problem = (f"call {call_id} costs {error.needed} but {error.user} has "
                               f"{error.balance} tokens left")
                except UnknownUserError as error:
                    problem = str(error)
        seen.setdefault(call_id, entry)
        if problem is not None:
            reasons[id(leftover)].append((number, problem))
    failed = _write_all(todo, book, write)
    for leftover, number, error in failed:
        reasons[id(leftover)].append((number, f"not written: {error}"))
    log.warning("call journal: %d calls of an earlier process were not in the tables and are "
                "written now (%d were there already; %d lines bad or damaged)",
                len(todo) - len(failed), already, sum(len(r) for r in reasons.values()))
    journal.settle_leftovers([(left, [_said(*reason) for reason in sorted(reasons[id(left)])])
                              for left in leftovers])


def _said(line: int, problem: str) -> str:
    return f"line {line}: {problem}" if line else problem


def _record(entry: dict[str, Any], book: ReservationBook) -> FinishedCall:
    call = call_of(entry)
    if entry["status"] == "succeeded":
        # Its tokens must still be there: the call held them when it ran.
        reservation, _ = book.reserve_call(call)
    else:  # it captures nothing: its tokens were freed when it ended
        reservation = Reservation(call.user, call.cost, call, call.started_at, freed=True)
    return FinishedCall(reservation, entry["status"], entry["latency_ms"],
                        entry["result_json"], entry["error"], entry["actor"],
                        cached=entry["cached"],
                        finished_at=datetime.fromisoformat(entry["finished_at"]))


def _write_all(
    todo: list[tuple[Leftover, int, FinishedCall]], book: ReservationBook,
    write: Callable[[list[FinishedCall]], list[BaseException | None]],
) -> list[tuple[Leftover, int, str]]:
    """Write them (the store's writer batches them and isolates a failing one); returns
    those not written. If none can be written, the fault is the store's, not theirs: that
    is raised, and the journal stays as it is for the next start."""
    try:
        errors = write([record for _, _, record in todo]) if todo else []
    finally:
        for _, _, record in todo:
            book.cancel(record.reservation)  # no-op once committed
    failed = [(leftover, number, f"{type(error).__name__}: {error}")
              for (leftover, number, _), error in zip(todo, errors, strict=True) if error]
    if failed and len(failed) == len(todo):
        raise next(error for error in errors if error is not None)
    return failed
