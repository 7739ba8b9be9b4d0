"""The portal process: `tokenworks serve` runs this file with `streamlit run`.

Streamlit finds the ``st.App`` below and serves, in one process sharing one Host: the
pages of both portals (main.py, role-based navigation), the sign-in routes and /health,
and the REST API under /api (tokenworks.api; its routes call the same Host), which the
front (front.py) serves past the portal's middleware.
"""

from __future__ import annotations

import asyncio
import gc
from contextlib import asynccontextmanager
from pathlib import Path

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
    await asyncio.to_thread(warm_up)
    tune_gc()
    yield {}
    get_host().close()


# Young-generation collections every GC_THRESHOLD allocations of container objects rather
# than CPython's 700: a request through the API allocates thousands, so at the default the
# collector ran several times per request (perf on `bench/load.py`: about 2 % of the
# server's CPU in gc_collect_main and its visits).
GC_THRESHOLD = 20_000


def tune_gc() -> None:
    """Freeze what startup made (modules, plugins, the apps' routes, the open store): a
    full collection then traverses only what was made since, not that heap of long-lived
    objects, which never becomes garbage; and collect young objects less often."""
    gc.collect()  # what startup left for garbage goes now, not into the frozen set
    gc.freeze()
    _, *older = gc.get_threshold()
    gc.set_threshold(GC_THRESHOLD, *older)


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
