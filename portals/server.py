"""The portal process: `tokenworks serve` runs this file with `streamlit run`.

Streamlit finds the ``st.App`` below and serves, in one process sharing one Host: the
pages of both portals (main.py, role-based navigation), the sign-in routes and /health,
and the REST API under /api (tokenworks.api; its routes call the same Host), which the
front (front.py) serves past the portal's middleware.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import streamlit as st
from starlette.middleware import Middleware

from tokenworks.api.app import mount
from tokenworks.api.settings import ApiSettings
from tokenworks.portals.front import ApiFirst
from tokenworks.portals.gate import SignInGate
from tokenworks.portals.routes import ROUTES
from tokenworks.portals.runtime import READY, get_host, warm_up


@asynccontextmanager
async def lifespan(app: st.App):
    # Open the store, discover plugins and warm them before the first visitor arrives.
    await anyio.to_thread.run_sync(warm_up)
    yield {}
    get_host().close()


api = mount(get_host, ApiSettings.from_env(), ready=READY.is_set)
app = st.App(
    str(Path(__file__).with_name("main.py")),
    routes=[*ROUTES, api],  # the API here too, for anyone serving this st.App directly
    middleware=[Middleware(SignInGate)],
    lifespan=lifespan,
)
# `streamlit run` finds the app by reading this file (an assignment of st.App(...) to
# `app`) and has uvicorn import `server:app`, which by then is this front: API requests go
# straight to the API, past the portal's middleware (front.py says why).
app = ApiFirst(app, api)
