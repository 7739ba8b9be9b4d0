"""Fixtures for the REST API tests: a real host and DuckDB store behind the FastAPI app,
mounted under /api exactly as `tokenworks serve` mounts it, driven by Starlette's
TestClient."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from portals.conftest import portal  # noqa: F401  (the portal fixture, for the keys page)
from starlette.applications import Starlette
from starlette.testclient import TestClient

from tokenworks.api.app import mount
from tokenworks.api.settings import ApiSettings
from tokenworks.host import Host

PLUGINS = ("portal_probe.py", "meter_probe.py", "good_plugin.py")
ROOMY = ApiSettings(rate=10_000, burst=10_000)  # tests that are not about the rate limit


@dataclass
class Api:
    client: TestClient
    host: Host
    alice: dict[str, str]  # Authorization headers of a user (20 tokens) ...
    root: dict[str, str]  # ... and of an admin
    alice_key: str

    def balance(self, user: str = "alice") -> int:
        return self.host.balance(user)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def mounted(host: Host, settings: ApiSettings = ROOMY) -> Starlette:
    return Starlette(routes=[mount(lambda: host, settings)])


@pytest.fixture
def make_api(make_host) -> Iterator[Callable[..., Api]]:
    clients: list[TestClient] = []

    def build(settings: ApiSettings = ROOMY, plugins: tuple[str, ...] = PLUGINS) -> Api:
        host = make_host(*plugins, builtin=("text_tools",),
                         registry="[users]\nstarting_grant = 20\n")
        host.add_user("alice", password="alice-password", actor="test")
        host.add_user("root", role="admin", password="root-password", actor="test")
        _, alice = host.create_api_key("alice", "tests", actor="test")
        _, root = host.create_api_key("root", "tests", actor="test")
        # raise_server_exceptions=False: a 500 must reach the test as a response to check.
        client = TestClient(mounted(host, settings), raise_server_exceptions=False)
        clients.append(client)
        return Api(client, host, bearer(alice), bearer(root), alice)

    yield build
    for client in clients:
        client.close()


@pytest.fixture
def api(make_api) -> Api:
    return make_api()
