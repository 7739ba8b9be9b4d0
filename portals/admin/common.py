"""What the admin pages share: running an action safely, flash messages, time windows.

Not a page (navigation registers only the page files). Every action goes through ``act``,
which re-checks the role on the server right before the host call: the page's own check
at the top ran when the script started, and the user may have been demoted since.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

import streamlit as st

from tokenworks.errors import TokenworksError
from tokenworks.store import User, utcnow

from ..runtime import actor, require_admin

FLASH_KEY = "tw_admin_flash"
FLASH_SECONDS = 20.0
REFUSED_NO_REASON = "A reason is required: it goes into the audit log."

# Time windows offered by monitoring and the audit log; None means no lower bound.
WINDOWS: dict[str, timedelta | None] = {
    "last 15 minutes": timedelta(minutes=15),
    "last hour": timedelta(hours=1),
    "last 24 hours": timedelta(days=1),
    "last 7 days": timedelta(days=7),
    "last 30 days": timedelta(days=30),
    "all time": None,
}


def window_start(label: str, now: datetime | None = None) -> datetime | None:
    span = WINDOWS[label]
    return None if span is None else (now or utcnow()) - span


def act(action: Callable[[str], str | None], reason: str | None = None) -> bool:
    """Run one admin action from a form handler; True when it went through.

    ``action`` gets the actor ("portal:NAME") and returns the success message (None: it
    changed nothing, say so). A ``reason`` of "" is refused before anything is called.
    The role is re-read from the store first; a user who is no longer an admin gets the
    admins-only error and the script stops. Host refusals are shown as errors.
    """
    admin: User = require_admin()
    if reason is not None and not reason.strip():
        st.error(REFUSED_NO_REASON)
        return False
    try:
        message = action(actor(admin))
    except TokenworksError as error:
        st.error(str(error))
        return False
    flash(message or "Nothing to change: it was so already.")
    st.rerun()  # redraw the tables above the forms with the change
    return True  # pragma: no cover (st.rerun does not return)


def flash(message: str) -> None:
    """Show ``message`` as a success on the page's next runs (after st.rerun)."""
    st.session_state[FLASH_KEY] = (message, time.monotonic())


def show_flash() -> None:
    # Kept for a while rather than shown once: the change itself makes every open page
    # (this one too) rerun a moment later (portals/live.py), which would wipe it at once.
    message, shown_at = st.session_state.get(FLASH_KEY, (None, 0.0))
    if message and time.monotonic() - shown_at < FLASH_SECONDS:
        st.success(message, icon=":material/check_circle:")


def header(title: str, caption: str) -> None:
    st.title(title)
    st.caption(caption)
    show_flash()


def when(moment: datetime | None) -> str:
    """A store timestamp (naive UTC) for a table."""
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")
