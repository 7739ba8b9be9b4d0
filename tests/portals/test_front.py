"""The front (portals/front.py): API requests straight to the API, the rest to the portals,
and `streamlit run` still serving server.py's `app`."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from tokenworks.api.app import ApiMount
from tokenworks.portals.front import ApiFirst


def echo(request) -> PlainTextResponse:
    return PlainTextResponse(f"api {request.url.path} {request.scope['root_path']}")


class Marks:
    """A portal middleware that marks every response it wraps."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def marked(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-portal", b"1")]
            await send(message)

        await self.app(scope, receive, marked)


def front() -> TestClient:
    api = Mount("/api", app=Starlette(routes=[Route("/{rest:path}", echo)]))
    portal = Starlette(routes=[api, Route("/{page:path}", lambda r: PlainTextResponse("page"))],
                       middleware=[Middleware(Marks)])
    return TestClient(ApiFirst(portal, api))


def test_api_requests_skip_the_portal_middleware_with_the_mounts_scope() -> None:
    client = front()
    response = client.get("/api/calls/x")
    assert response.text == "api /api/calls/x /api" and "x-portal" not in response.headers
    page = client.get("/user")
    assert page.text == "page" and page.headers["x-portal"] == "1"
    # Not under the mount: the portal app routes it, as it did before the front.
    assert client.get("/apix").headers["x-portal"] == "1"


def test_the_api_mount_keeps_claiming_encoded_newlines() -> None:
    api = ApiMount("/api", Starlette(routes=[Route("/{rest:path}", echo)]))
    client = TestClient(ApiFirst(Starlette(middleware=[Middleware(Marks)]), api))
    response = client.get("/api/calls/a%0Ab")
    assert "x-portal" not in response.headers  # the API answered it (here: its 404)


def test_streamlit_run_serves_the_front() -> None:
    from streamlit.web.server.app_discovery import discover_asgi_app

    from tokenworks.portals import server

    found = discover_asgi_app(Path(server.__file__))
    assert found.is_asgi_app and found.app_name == "app"
    assert isinstance(server.app, ApiFirst)  # what uvicorn imports as server:app
    assert server.app.api is server.api
