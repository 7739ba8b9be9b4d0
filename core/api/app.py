"""create_app: the REST API as a FastAPI application, to mount under /api.

FastAPI earns its place here: the OpenAPI document, request validation and the docs
pages all come from the pydantic models the host already uses. The app shares the
portals' Host through ``get_host`` (in `tokenworks serve`, the st.cache_resource one).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from starlette.middleware.gzip import GZipMiddleware
from starlette.routing import Mount

from tokenworks import __version__
from tokenworks.host import Host

from . import openapi, problems, routes_admin, routes_calls, routes_catalog, routes_me, routes_ops
from .auth import HostSource
from .keys import KeyCache
from .metrics import RequestCounter, RequestCounts
from .ratelimit import BodyLimit, RateLimiter
from .settings import ApiSettings

GZIP_MINIMUM, GZIP_LEVEL = 1000, 5  # bytes, zlib level: Streamlit's settings
DESCRIPTION = """Run tokenworks' metered functions over HTTP.

Authenticate with an API key as a Bearer token (create one on the portal's *API keys* page
or with `tokenworks keys create`). Errors are RFC 9457 problem details. See docs/api.md.
"""


def create_app(get_host: Callable[[], Host], settings: ApiSettings | None = None,
               ready: Callable[[], bool] | None = None) -> FastAPI:
    """The API app. ``get_host`` returns the process's Host (called per request; it may
    open the host on first use); ``ready`` says whether plugins have warmed up."""
    settings = settings or ApiSettings()
    # FastAPIOffline: the docs pages with Swagger UI and ReDoc served from the package
    # rather than a CDN, so they work on machines without internet access.
    app = FastAPIOffline(title="tokenworks API", version=__version__, description=DESCRIPTION,
                         openapi_url="/openapi.json", docs_url="/docs", redoc_url="/redoc",
                         static_url="/docs-static")
    app.state.get_host = HostSource(get_host)
    app.state.ready = ready or (lambda: True)
    app.state.limiter = RateLimiter(settings.rate, settings.burst)
    app.state.keys = KeyCache()
    app.state.requests = RequestCounts()
    app.state.settings = settings
    for module in (routes_catalog, routes_calls, routes_me, routes_admin, routes_ops):
        app.include_router(module.router)
    problems.install(app)  # innermost: turns every error into a problem document
    # Large responses (the OpenAPI document, long lists) compressed as Streamlit's own gzip
    # middleware did when every API request passed through it (portals/front.py).
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MINIMUM, compresslevel=GZIP_LEVEL)
    app.add_middleware(BodyLimit, limit=settings.max_body)
    app.add_middleware(RequestCounter, counts=app.state.requests)  # outermost: counts all

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi.build(app, get_host().functions())
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]
    return app


class ApiMount(Mount):
    """Starlette's Mount, except that it also claims paths holding an encoded newline
    (%0A): its pattern's ``.`` stops at one, and such a request would otherwise get the
    outer server's plain-text 404 instead of the API's problem document."""

    def __init__(self, path: str, app: FastAPI) -> None:
        super().__init__(path, app=app)
        self.path_regex = re.compile(self.path_regex.pattern, re.DOTALL)


def mount(get_host: Callable[[], Host], settings: ApiSettings | None = None,
          ready: Callable[[], bool] | None = None, path: str = "/api") -> Mount:
    """The API as a route to add to a Starlette (or st.App) application, under ``path``."""
    return ApiMount(path, create_app(get_host, settings, ready))
