"""Admin page: the audit log of every admin action, filterable, and "verify the books".

Streamlit runs this file as a script (see navigation.py).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from tokenworks.host import Host
from tokenworks.portals import auditlog
from tokenworks.portals.admin import common
from tokenworks.portals.runtime import get_host, require_admin

ANY = "(anyone)"
LIMIT = 5000  # newest rows read from each source


def load(host: Host, since) -> list[auditlog.AuditRow]:
    changes = host.audit(LIMIT)
    entries = host.grants(since, LIMIT)
    return auditlog.merge(changes, entries)


def audit_log(host: Host) -> None:
    columns = st.columns([1, 1, 2, 2])
    label = columns[0].selectbox("Window", list(common.WINDOWS), index=3, key="audit_window")
    since = common.window_start(label)
    rows = load(host, since)
    actors = sorted({row.actor for row in rows})
    who = columns[1].selectbox("Actor", [ANY, *actors], key="audit_actor")
    kinds = columns[2].multiselect("Target kind", sorted({row.target_kind for row in rows}),
                                   key="audit_kinds", placeholder="all kinds")
    text = columns[3].text_input("Text", key="audit_text",
                                 placeholder="a user, a function, words of a reason…")
    shown = auditlog.select(rows, actor=None if who == ANY else who, kinds=kinds, text=text,
                            since=since)
    st.caption(f"{len(shown)} of {len(rows)} entries, newest first; times in UTC. "
               "Grants and take-backs come from the ledger (target kind \"tokens\").")
    table = pd.DataFrame([{
        "at": common.when(row.at), "actor": row.actor, "kind": row.target_kind,
        "target": row.target, "change": row.field, "before": row.before or "",
        "after": row.after or "", "reason": row.reason,
    } for row in shown], columns=["at", "actor", "kind", "target", "change", "before", "after",
                                  "reason"])
    st.dataframe(table, hide_index=True, width="stretch")


def books(host: Host) -> None:
    st.subheader("Verify the books")
    st.caption("Checks every balance against its ledger and every call's hold.")
    if not st.button("Verify the books", key="verify_books"):
        return
    require_admin()  # re-checked before the host call, as for every action
    report = host.verify_books()
    if report.ok:
        st.success("The books balance.", icon=":material/verified:")
    else:
        st.error(f"{len(report.problems)} problem(s) found.")
    cells = st.columns(3)
    cells[0].metric("Accounts", report.accounts)
    cells[1].metric("Ledger entries", report.ledger_entries)
    cells[2].metric("Open holds", report.open_holds)
    if report.problems:
        st.dataframe(pd.DataFrame({"problem": report.problems}), hide_index=True,
                     width="stretch")


def page() -> None:
    require_admin()
    host = get_host()
    common.header("Audit log", "Every admin action, who did it and why.")
    audit_log(host)
    books(host)


page()
