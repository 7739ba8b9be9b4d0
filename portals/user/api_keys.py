"""Portal page: the user's REST API keys: create one (shown once), list them, revoke one.

Streamlit runs this file as a script.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from tokenworks.errors import TokenworksError
from tokenworks.portals.runtime import actor, get_host
from tokenworks.portals.userkit import user_or_stop, when

NAME_KEY, REVOKE_KEY = "tw_api_key_name", "tw_api_key_revoke"


def page() -> None:
    user = user_or_stop()
    host = get_host()
    st.title("API keys")
    st.caption("Call the functions over HTTP: send a key as `Authorization: Bearer <key>` to "
               "`/api` (the documentation is at [/api/docs](/api/docs)). A key acts as you "
               "and spends your tokens.")
    with st.form("tw_api_key_create", clear_on_submit=True):
        name = st.text_input("Name", key=NAME_KEY, placeholder="what the key is for",
                             max_chars=80)
        if st.form_submit_button("Create key", type="primary"):
            try:
                record, token = host.create_api_key(user.name, name, actor=actor(user))
            except TokenworksError as error:
                st.error(str(error))
            else:
                # Only the hash is stored: this run is the one chance to copy the key.
                st.success(f"Created key {record.key_id}. Copy it now: it is shown once.")
                st.code(token, language=None)
    keys = host.api_keys(user.name)
    if not keys:
        st.info("You have no API keys yet.")
        return
    st.dataframe(pd.DataFrame([{
        "key id": key.key_id, "name": key.name, "created": when(key.created_at),
        "status": "active" if key.active else f"revoked {when(key.revoked_at)}",
    } for key in keys]), hide_index=True)
    active = {key.key_id: key for key in keys if key.active}
    if not active:
        return
    chosen = st.selectbox("Revoke a key", list(active), index=None, key=REVOKE_KEY,
                          placeholder="Choose a key",
                          format_func=lambda kid: f"{kid} · {active[kid].name}")
    if chosen and st.button("Revoke", icon=":material/block:"):
        host.revoke_api_key(chosen, actor=actor(user), reason="revoked in the portal",
                            owner=user.name)
        st.session_state.pop(REVOKE_KEY, None)
        st.rerun()


page()
