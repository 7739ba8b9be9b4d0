"""The merged audit log and its filters, from hand-made rows (no Streamlit, no store)."""

from __future__ import annotations

from datetime import datetime, timedelta

from tokenworks.portals import auditlog
from tokenworks.store import LedgerEntry, StateChange

T0 = datetime(2025, 3, 1, 12, 0, 0)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


CHANGES = [
    StateChange(1, at(0), "portal:admin", "function", "alpha", "cost", "1", "4", "price review"),
    StateChange(2, at(10), "cli:root", "plugin", "tools", "enabled", "true", "false", "Outage"),
]
ENTRIES = [
    LedgerEntry(1, at(5), "ann", "grant", 5, None, "portal:admin", "welcome", 25),
    LedgerEntry(2, at(6), "ann", "adjustment", -3, None, "portal:admin", "too much", 22),
    LedgerEntry(3, at(7), "ann", "hold", -2, "c1", "ann", "call", 20),  # not an admin action
]


def test_merge_is_newest_first_and_keeps_only_admin_ledger_entries() -> None:
    rows = auditlog.merge(CHANGES, ENTRIES)
    assert [(row.target_kind, row.field) for row in rows] == [
        ("plugin", "enabled"), ("tokens", "take back 3"), ("tokens", "grant 5"),
        ("function", "cost")]
    take_back = rows[1]
    assert (take_back.target, take_back.before, take_back.after, take_back.reason) == (
        "ann", "25", "22", "too much")


def test_select_by_actor_kind_text_and_time() -> None:
    rows = auditlog.merge(CHANGES, ENTRIES)
    assert [r.field for r in auditlog.select(rows, actor="cli:root")] == ["enabled"]
    assert len(auditlog.select(rows, kinds=["tokens"])) == 2
    assert len(auditlog.select(rows, kinds=["tokens", "plugin"])) == 3
    assert [r.target for r in auditlog.select(rows, text="outage")] == ["tools"]
    assert [r.field for r in auditlog.select(rows, text=" ANN ")] == [
        "take back 3", "grant 5"]
    assert len(auditlog.select(rows, since=at(6))) == 2
    assert auditlog.select(rows, actor="portal:admin", kinds=["plugin"]) == []
    assert auditlog.select(rows) == rows
