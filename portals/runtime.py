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
SESSION_KEY = "tw_session"  # session_state: the session cookie (server-side only)
READY = threading.Event()  # set once every plugin has warmed up (see /health)


@st.cache_resource(show_spinner=False)
def get_host() -> Host:
    """Open the host named by $TOKENWORKS_REGISTRY / $TOKENWORKS_STORE (as the CLI does)."""
    host = Host.from_registry(os.environ.get("TOKENWORKS_REGISTRY"),
                              os.environ.get("TOKENWORKS_STORE"))
    announce_first_admin(host)
    return host


def warm_up() -> None:
    """Open the host, load the session key (a bad one stops the start, a file readable
    by others is tightened with a warning) and warm every plugin; /health says "ok" from
    then on."""
    host = get_host()
    log.info("portal session key: %s", host.secret.source)
    host.secret.current()
    failed = host.warm()
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


def session_cookie() -> str | None:
    """This Streamlit session's portal session cookie: read from the browser's request once
    and kept in session_state, which only server code can write (tests put a session made
    with sessions.issue there)."""
    cookie = st.session_state.get(SESSION_KEY)
    if cookie is None:
        cookies = st.context.cookies
        cookie = cookies.get(sessions.COOKIE) if cookies else None
        if cookie:
            st.session_state[SESSION_KEY] = cookie
    return cookie


def current_user() -> User | None:
    """The signed-in user, or None once the session has ended (signed out, in this tab or
    another, a password change, an admin's "sign out everywhere", expiry, a key rotation).

    Checked on every page run, so a tab whose session ended cannot run anything more; the
    user is re-read from the store too, so a role or balance change shows.
    """
    cookie = session_cookie()
    if cookie is None:
        return None
    host = get_host()
    name = sessions.verify(host, cookie)
    return host.user(name) if name is not None else None


def require_admin() -> User:
    """Stop the page unless the signed-in user is an admin *now* (re-read from the store)."""
    user = current_user()
    if user is None or user.role != "admin":
        st.error("This page is for admins.")
        st.stop()
    return user


def actor(user: User) -> str:
    return f"portal:{user.name}"
