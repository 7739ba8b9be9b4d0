"""Fixtures for the portal tests: a real host behind AppTest, one per test.

The portal process shares one Host through st.cache_resource; each test points it at a
fresh registry and store (environment variables, as `tokenworks serve` sets them), and the
cache is cleared after the test so the next one starts clean.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import streamlit as st
from conftest import plugin_folder, write_registry
from streamlit.testing.v1 import AppTest

from tokenworks.host import Host
from tokenworks.portals import runtime, sessions
from tokenworks.secret_key import KEY_ENV

PORTALS = Path(__file__).resolve().parents[2] / "portals"
MAIN = str(PORTALS / "main.py")
APPTEST_TIMEOUT = 60  # seconds: a first job-title call builds the resolver


@pytest.fixture
def portal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Host]]:
    """Configure the portal's host; returns a function taking test plugin file names
    (tests/plugins/) and `builtin` plugin names, which returns the (shared) Host."""

    hosts: list[Host] = []

    def configure(*plugins: str, builtin: tuple[str, ...] = ("text_tools",),
                  registry: str = "", entry_points: bool = False, grant: int = 20) -> Host:
        plugin_folder(tmp_path, *plugins)
        listed = ", ".join(f'"{name}"' for name in builtin)
        path = write_registry(
            tmp_path,
            f'[store]\npath = "store.duckdb"\n[plugins]\nbuiltin = [{listed}]\n'
            f'folder = "local_plugins"\nentry_points = {str(entry_points).lower()}\n'
            f'[users]\nstarting_grant = {grant}\n{registry}')
        monkeypatch.setenv("TOKENWORKS_REGISTRY", str(path))
        monkeypatch.delenv("TOKENWORKS_STORE", raising=False)
        monkeypatch.delenv(KEY_ENV, raising=False)  # the key file beside the store
        monkeypatch.setenv(runtime.ADMIN_PASSWORD_ENV, "admin-password")
        for earlier in hosts:  # a test may restart the host on the same store
            earlier.close()
        hosts.clear()
        st.cache_resource.clear()
        hosts.append(runtime.get_host())
        return hosts[-1]

    yield configure
    for host in hosts:
        host.close()
    st.cache_resource.clear()
    runtime.READY.clear()


def app_as(user: str | None, page: str | None = None) -> AppTest:
    """An AppTest of the portal, signed in as `user` (None: signed out), run once, then
    switched to `page` (a path relative to portals/, e.g. "user/catalog.py") and run.

    Signed in for real: a session is made in the store as the sign-in route makes it, and
    its cookie handed to the Streamlit session (AppTest cannot send cookies); every page
    run checks it, as in a browser."""
    app = AppTest.from_file(MAIN, default_timeout=APPTEST_TIMEOUT)
    if user is not None:
        app.session_state[runtime.SESSION_KEY] = sessions.issue(runtime.get_host(), user)
    app.run()
    if page is not None:
        app.switch_page(page).run()
    return app
