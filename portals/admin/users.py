"""Admin page: users, roles, tokens, anyone's ledger, the self sign-up switch, and
signing a user out everywhere.

Streamlit runs this file as a script (see navigation.py).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from tokenworks.errors import InsufficientTokensError, TokenworksError
from tokenworks.host import Host
from tokenworks.portals.admin import common
from tokenworks.portals.runtime import get_host, require_admin

ROLES = ["user", "admin"]
LEDGER_ROWS = 200


def users_table(host: Host) -> list[str]:
    users = sorted(host.users(), key=lambda user: user.name)
    rows = [{"user": user.name, "role": user.role, "balance": user.balance,
             "created (UTC)": common.when(user.created_at)} for user in users]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    return [user.name for user in users]


def create_user_form(host: Host) -> None:
    with st.form("create_user"):
        st.markdown("**Create a user**")
        name = st.text_input("User name", key="new_name")
        role = st.radio("Role", ROLES, horizontal=True, key="new_role")
        password = st.text_input("Password (empty: generate one)", type="password",
                                 key="new_password")
        if st.form_submit_button("Create", key="create_submit"):
            def create(who: str) -> str:
                user, generated = host.add_user(name.strip(), role=role,
                                                password=password or None, actor=who)
                message = f"Created {user.name} ({user.role}) with {user.balance} tokens."
                if generated:
                    message += f" Their password, shown once: `{generated}`"
                return message
            common.act(create)


def role_form(host: Host, names: list[str]) -> None:
    with st.form("set_role"):
        st.markdown("**Set a role**")
        name = st.selectbox("User", names, key="role_user")
        role = st.radio("Role", ROLES, horizontal=True, key="role_value")
        reason = st.text_input("Reason (required)", key="role_reason")
        if st.form_submit_button("Set role", key="role_submit"):
            def set_role(who: str) -> str | None:
                current = host.user(name)
                if current is not None and current.role == role:
                    return None
                host.set_role(name, role, actor=who, reason=reason)
                return f"{name} is now {'an admin' if role == 'admin' else 'a user'}."
            common.act(set_role, reason)


def tokens_form(host: Host, names: list[str]) -> None:
    with st.form("tokens"):
        st.markdown("**Grant or take back tokens**")
        name = st.selectbox("User", names, key="tokens_user")
        direction = st.radio("Action", ["grant", "take back"], horizontal=True,
                             key="tokens_direction")
        amount = st.number_input("Tokens", min_value=1, step=1, value=10, key="tokens_amount")
        reason = st.text_input("Reason (required)", key="tokens_reason")
        if st.form_submit_button("Apply", key="tokens_submit"):
            signed = int(amount) if direction == "grant" else -int(amount)

            def apply(who: str) -> str:
                try:
                    balance = host.grant(name, signed, actor=who, reason=reason)
                except InsufficientTokensError as error:
                    raise TokenworksError(
                        f"Cannot take back {-signed} tokens: {name} has {error.balance}. "
                        "Nothing was changed.") from None
                verb = "Granted" if signed > 0 else "Took back"
                return f"{verb} {abs(signed)} tokens: {name} now has {balance}."
            common.act(apply, reason)


def signup_form(host: Host) -> None:
    enabled = host.self_signup_enabled()
    with st.form("self_signup"):
        st.markdown(f"**Self sign-up** is **{'on' if enabled else 'off'}**")
        state = st.radio("Switch to", ["on", "off"], index=1 if enabled else 0, horizontal=True,
                         key="signup_state")
        reason = st.text_input("Reason (required)", key="signup_reason")
        if st.form_submit_button("Apply", key="signup_submit"):
            wanted = state == "on"

            def switch(who: str) -> str | None:
                if host.self_signup_enabled() == wanted:
                    return None
                host.set_self_signup(wanted, actor=who, reason=reason)
                return f"Self sign-up switched {state}."
            common.act(switch, reason)


def sessions_form(host: Host, names: list[str]) -> None:
    with st.form("end_sessions"):
        st.markdown("**Sign out everywhere**")
        st.caption("Ends every portal session of the user; their open pages go to the "
                   "sign-in page within seconds. API keys are not affected.")
        name = st.selectbox("User", names, key="sessions_user")
        reason = st.text_input("Reason (required)", key="sessions_reason")
        if st.form_submit_button("Sign out everywhere", key="sessions_submit"):
            def end(who: str) -> str:
                ended = host.end_sessions(name, actor=who, reason=reason)
                return f"Ended {ended} portal session{'s' if ended != 1 else ''} of {name}."
            common.act(end, reason)


def ledger_view(host: Host, names: list[str]) -> None:
    st.subheader("A user's ledger")
    name = st.selectbox("User", names, key="ledger_user")
    if name is None:
        return
    entries = host.ledger(name, limit=LEDGER_ROWS)
    rows = [{"at (UTC)": common.when(entry.at), "kind": entry.kind, "amount": entry.amount,
             "balance after": entry.balance_after, "call": entry.call_id or "",
             "actor": entry.actor, "reason": entry.reason} for entry in entries]
    st.caption(f"Newest first; the last {LEDGER_ROWS} entries at most.")
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def page() -> None:
    require_admin()
    host = get_host()
    common.header("Users and tokens",
                  "Roles, grants and take-backs need a reason and are audited.")
    names = users_table(host)
    left, middle, right = st.columns(3)
    with left:
        create_user_form(host)
    with middle:
        role_form(host, names)
        signup_form(host)
    with right:
        tokens_form(host, names)
        sessions_form(host, names)
    ledger_view(host, names)


page()
