"""The API inside a real `tokenworks serve` process, over HTTP, beside the portals."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from serving import start_server

from tokenworks.host import Host

pytestmark = pytest.mark.slow


def request(url: str, key: str | None, body: dict | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    data = None if body is None else json.dumps(body).encode()
    sent = {**(headers or {}), **({"Authorization": f"Bearer {key}"} if key else {})}
    if data is not None:
        sent["Content-Type"] = "application/json"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=sent),
                                    timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_api_over_http_in_tokenworks_serve(tmp_path) -> None:
    # The store belongs to the server once it runs: make the user and key first.
    (tmp_path / "registry.toml").write_text(
        '[store]\npath = "store.duckdb"\n[plugins]\nbuiltin = ["text_tools"]\n'
        'folder = "local_plugins"\nentry_points = false\n[users]\nstarting_grant = 20\n')
    with Host.from_registry(str(tmp_path / "registry.toml"), sweep=False) as host:
        host.add_user("erin", password="erin-password", actor="test")
        _, key = host.create_api_key("erin", "served", actor="test")
    server = start_server(tmp_path, builtin='"text_tools"')
    try:
        api = f"{server.url}/api"
        status, _, body = request(f"{api}/health", None)
        assert status == 200 and json.loads(body)["status"] == "ok"
        status, headers, body = request(f"{api}/me", None)
        assert status == 401 and headers["content-type"] == "application/problem+json"
        status, _, body = request(f"{api}/openapi.json", None)
        assert "/functions/word_frequencies/calls" in json.loads(body)["paths"]
        call = f"{api}/functions/word_frequencies/calls"
        payload = {"text": "alpha beta alpha"}
        first = request(call, key, payload, {"Idempotency-Key": "served-1"})
        again = request(call, key, payload, {"Idempotency-Key": "served-1"})
        assert first[0] == again[0] == 200, first
        result, replay = json.loads(first[2]), json.loads(again[2])
        assert result["status"] == "succeeded" and result["balance"] == 19
        assert replay["replayed"] is True and replay["call_id"] == result["call_id"]
        status, _, body = request(f"{api}/me", key)
        assert json.loads(body)["balance"] == 19
        status, _, body = request(f"{server.url}/health", None)  # the portals' routes still
        assert status == 200
    finally:
        server.stop()
