"""The admin audit log as one list: the store's state changes (switches, costs, roles,
users, settings) merged with the admin side of the ledger (grants and take-backs).

Pure functions, no Streamlit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime

from tokenworks.store import LedgerEntry, StateChange

TOKENS = "tokens"  # target kind of a grant or a take-back
ADMIN_LEDGER_KINDS = ("grant", "adjustment")


@dataclass(frozen=True)
class AuditRow:
    at: datetime
    actor: str
    target_kind: str
    target: str
    field: str
    before: str | None
    after: str | None
    reason: str

    def text(self) -> str:
        return " ".join(str(value) for value in asdict(self).values() if value is not None)


def from_change(change: StateChange) -> AuditRow:
    return AuditRow(change.at, change.actor, change.target_kind, change.target, change.field,
                    change.before, change.after, change.reason)


def from_ledger(entry: LedgerEntry) -> AuditRow:
    """A grant or take-back: the field says which and how much, before/after are balances."""
    what = "grant" if entry.kind == "grant" else "take back"
    return AuditRow(entry.at, entry.actor, TOKENS, entry.user, f"{what} {abs(entry.amount)}",
                    str(entry.balance_after - entry.amount), str(entry.balance_after),
                    entry.reason)


def merge(changes: Iterable[StateChange], entries: Iterable[LedgerEntry]) -> list[AuditRow]:
    """Every row, newest first."""
    rows = [from_change(change) for change in changes]
    rows += [from_ledger(entry) for entry in entries if entry.kind in ADMIN_LEDGER_KINDS]
    return sorted(rows, key=lambda row: row.at, reverse=True)


def select(
    rows: Iterable[AuditRow], *, actor: str | None = None, kinds: Iterable[str] = (),
    text: str = "", since: datetime | None = None,
) -> list[AuditRow]:
    """Rows by this actor, of these target kinds (none given: all), containing ``text``
    (case-insensitive, anywhere in the row), at or after ``since``."""
    wanted = set(kinds)
    needle = text.strip().casefold()
    return [row for row in rows
            if (actor is None or row.actor == actor)
            and (not wanted or row.target_kind in wanted)
            and (since is None or row.at >= since)
            and (not needle or needle in row.text().casefold())]
