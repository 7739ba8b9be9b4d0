"""Keep an open session current without a reload.

A small fragment reruns every second: it shows the balance and, when the store's state
version has moved (a toggle, a cost, a grant, a role), reruns the whole page so catalogs,
costs and forms reflect it. Reading the version is a memory read in the host.
"""

from __future__ import annotations

import streamlit as st

from .runtime import get_host

SEEN_VERSION = "tw_seen_version"
POLL_SECONDS = 1.0


@st.fragment(run_every=POLL_SECONDS)
def balance_and_changes(user: str) -> None:
    host = get_host()
    version = host.store.state_version()
    seen = st.session_state.get(SEEN_VERSION)
    st.session_state[SEEN_VERSION] = version
    if seen is not None and seen != version:
        st.rerun(scope="app")
    st.metric("Balance", f"{host.store.balance(user)} tokens")
