"""The one Host of the portal process, and who is signed in to this Streamlit session.

Pages and HTTP routes share the Host through ``st.cache_resource`` (one object per process:
DuckDB lets one process own the store). Tests clear that cache between runs.
"""

from __future__ import annotations

import logging
import os
import threading

import streamlit as st

from tokenworks.host import Host
from tokenworks.store import User

from . import sessions

log = logging.getLogger("tokenworks.portals")
ADMIN_PASSWORD_ENV = "TOKENWORKS_ADMIN_PASSWORD"
USER_KEY = "tw_user"  # session_state: the signed-in user's name (server-side only)
READY = threading.Event()  # set once every plugin has warmed up (see /health)


@st.cache_resource(show_spinner=False)
def get_host() -> Host:
    """Open the host named by $TOKENWORKS_REGISTRY / $TOKENWORKS_STORE (as the CLI does)."""
    host = Host.from_registry(os.environ.get("TOKENWORKS_REGISTRY"),
                              os.environ.get("TOKENWORKS_STORE"))
    announce_first_admin(host)
    return host


def warm_up() -> None:
    """Open the host and warm every plugin; /health says "ok" from then on."""
    failed = get_host().warm()
    if failed:
        log.warning("plugins whose warm-up failed (they load on first use): %s",
                    ", ".join(failed))
    READY.set()


def announce_first_admin(host: Host) -> None:
    """A fresh store gets an admin; a generated password is printed once, here."""
    created = host.ensure_first_admin(os.environ.get(ADMIN_PASSWORD_ENV) or None)
    if created is None:
        return
    name, generated = created
    if generated:
        print(
            f"\n  tokenworks: created the first admin.\n"
            f"    user:     {name}\n    password: {generated}   (shown once)\n"
            f"  Change it with `tokenworks users password {name}`, or set "
            f"${ADMIN_PASSWORD_ENV} before the first start.\n", flush=True)
    else:
        print(f"\n  tokenworks: created the first admin {name!r} with the password from "
              f"${ADMIN_PASSWORD_ENV}.\n", flush=True)


def current_user() -> User | None:
    """The signed-in user, re-read from the store (so a role or balance change shows).

    The browser proves who it is with the signed session cookie set by the sign-in route;
    a session that already verified it keeps the name in session_state, which only
    server code can write.
    """
    host = get_host()
    name = st.session_state.get(USER_KEY)
    if name is None:
        token = st.context.cookies.get(sessions.COOKIE) if st.context.cookies else None
        name = sessions.verify(host, token) if token else None
        if name is None:
            return None
        st.session_state[USER_KEY] = name
    user = host.store.get_user(name)
    if user is None:  # deleted or renamed meanwhile
        st.session_state.pop(USER_KEY, None)
    return user


def require_admin() -> User:
    """Stop the page unless the signed-in user is an admin *now* (re-read from the store)."""
    user = current_user()
    if user is None or user.role != "admin":
        st.error("This page is for admins.")
        st.stop()
    return user


def actor(user: User) -> str:
    return f"portal:{user.name}"
