"""Small helpers the user-portal pages share."""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from tokenworks.catalog import FunctionView
from tokenworks.host import Host
from tokenworks.store import User

from .runtime import current_user

RUN_PAGE = "user/run_function.py"
CATALOG_PAGE = "user/catalog.py"


def user_or_stop() -> User:
    """The signed-in user; a page reached without one says so and stops."""
    user = current_user()
    if user is None:
        st.error("Sign in to use tokenworks.")
        st.link_button("Sign in", "/signin")
        st.stop()
    return user


def enabled_views(host: Host) -> list[FunctionView]:
    """Functions a user may run now, by category then title."""
    views = [view for view in host.functions() if view.enabled]
    return sorted(views, key=lambda v: (v.spec.category.lower(), v.spec.title.lower()))


def first_paragraph(markdown: str, limit: int = 280) -> str:
    text = markdown.strip().split("\n\n", 1)[0].strip()
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


def when(moment: datetime | None) -> str:
    """A stored (naive UTC) time as text."""
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")
