"""The store's own troubles, shown to admins: call journal files quarantined at start-up.

A section for the Monitoring page, not a page. A quarantined file held a damaged line or a
call that failed its checks when the store replayed it (core/store/journal_replay.py): its
good calls were written, the rest are only in the file, which nothing replays or deletes.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from tokenworks.host import Host


def quarantined_journals_table(host: Host) -> pd.DataFrame:
    """One row per quarantined journal file: where it is, when and why it was set aside."""
    rows = [{"file": q.path,
             "quarantined (UTC)": q.quarantined_at.strftime("%Y-%m-%d %H:%M:%S")
             if q.quarantined_at else "unknown",
             "why": "; ".join(q.reasons)}
            for q in host.quarantined_journals()]
    return pd.DataFrame(rows, columns=["file", "quarantined (UTC)", "why"])


def show_quarantined_journals(host: Host) -> None:
    """A warning section when any journal file is quarantined; nothing otherwise."""
    table = quarantined_journals_table(host)
    if table.empty:
        return
    st.warning(
        f"{len(table)} call journal file(s) quarantined at start-up: something in them was "
        "damaged or failed its checks. Their good calls are in the books; the others are "
        "only in these files, kept for you to inspect (nothing replays or deletes them). "
        "`tokenworks ledger verify` lists them too.")
    # A table, not markdown: the reasons quote journal text, which must not be rendered.
    st.dataframe(table, hide_index=True, width="stretch")
