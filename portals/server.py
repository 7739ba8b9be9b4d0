"""The portal process: `tokenworks serve` runs this file with `streamlit run`.

Streamlit finds the ``st.App`` below and serves, in one process sharing one Host: the
pages of both portals (main.py, role-based navigation), the sign-in routes and /health,
and the REST API under /api (tokenworks.api; its routes call the same Host).
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import streamlit as st
from starlette.middleware import Middleware

from tokenworks.api.app import mount
from tokenworks.api.settings import ApiSettings
from tokenworks.portals.gate import SignInGate
from tokenworks.portals.routes import ROUTES
from tokenworks.portals.runtime import READY, get_host, warm_up


@asynccontextmanager
async def lifespan(app: st.App):
    # Open the store, discover plugins and warm them before the first visitor arrives.
    await anyio.to_thread.run_sync(warm_up)
    yield {}
    get_host().close()


app = st.App(
    str(Path(__file__).with_name("main.py")),
    routes=[*ROUTES, mount(get_host, ApiSettings.from_env(), ready=READY.is_set)],
    middleware=[Middleware(SignInGate)],
    lifespan=lifespan,
)
