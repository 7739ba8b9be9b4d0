"""Send a browser that opens a portal page without a valid session to the sign-in page.

The pages check the session themselves too (runtime.current_user); this only spares a
signed-out visitor an empty portal. It looks at page loads only: Streamlit's own
endpoints, static files, the sign-in routes and health pass untouched.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from . import sessions
from .runtime import get_host

OPEN_PREFIXES = ("/_stcore", "/static", "/media", "/app/static", "/component", "/signin",
                 "/signup", "/signout", "/health", "/state", "/api", "/favicon")


class SignInGate:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and self._guarded(scope):
            request = Request(scope)
            if "text/html" in request.headers.get("accept", "") and not self._signed_in(request):
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                await RedirectResponse(f"/signin?next={quote(target)}", 303)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    @staticmethod
    def _guarded(scope: Scope) -> bool:
        return not scope["path"].startswith(OPEN_PREFIXES)

    @staticmethod
    def _signed_in(request: Request) -> bool:
        token = request.cookies.get(sessions.COOKIE)
        return bool(token) and sessions.verify(get_host(), token) is not None
