"""The process's ASGI entry: REST API requests straight to the API, the rest to the portals.

st.App wraps every request of the process in Streamlit's middleware (path security,
session, gzip) and the portal's own (the sign-in gate), then routes it; an API request
passed through all of them only to reach the API's mount, which needs none of them: the
API authenticates with its own keys, answers errors as problem documents and compresses
large responses itself (core/api/app.py). In a py-spy profile of a replica under load
the wrappers and the portal's router took a measurable share of the replica's time before
the API's own app was reached (docs/api.md, "Performance").

HTTP requests whose path the API's mount matches (``/api/...``) go to it directly, with the
same scope the mount would give them; everything else (pages, Streamlit's endpoints and
websockets, the sign-in routes, the lifespan) goes to the portal app unchanged.
"""

from __future__ import annotations

from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Receive, Scope, Send


class ApiFirst:
    def __init__(self, portal: ASGIApp, api: Mount) -> None:
        self.portal = portal
        self.api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            match, child_scope = self.api.matches(scope)
            if match is Match.FULL:
                await self.api.handle({**scope, **child_scope}, receive, send)
                return
        await self.portal(scope, receive, send)
