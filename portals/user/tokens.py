"""Portal page: the user's balance and their own ledger statement.

Streamlit runs this file as a script.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from tokenworks.portals.runtime import get_host
from tokenworks.portals.userkit import user_or_stop, when

LIMIT = 500
KINDS = {"grant": "granted", "adjustment": "adjusted", "hold": "held for a call",
         "capture": "call succeeded (held tokens spent)", "release": "call returned tokens"}


def page() -> None:
    user = user_or_stop()
    host = get_host()
    st.title("Tokens")
    st.metric("Balance", f"{host.balance(user.name)} tokens")
    entries = host.ledger(user.name, limit=LIMIT)
    st.subheader("Statement")
    st.caption("Newest first. A call holds its cost when it starts; the hold is kept if the "
               "call succeeds and given back if it does not.")
    if not entries:
        st.info("No ledger entries yet.")
        return
    frame = pd.DataFrame([{
        "when": when(entry.at), "what": KINDS.get(entry.kind, entry.kind),
        "amount": entry.amount, "balance after": entry.balance_after,
        "reason": entry.reason, "call": entry.call_id or "", "by": entry.actor,
    } for entry in entries])
    st.dataframe(frame, hide_index=True)
    if len(entries) == LIMIT:
        st.caption(f"The latest {LIMIT} entries.")


page()
