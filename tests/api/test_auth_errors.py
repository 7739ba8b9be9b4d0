"""Keys, roles, limits and the shape of every error: RFC 9457 problems, no tracebacks."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from tokenworks.api.app import mount
from tokenworks.api.settings import ApiSettings

from .conftest import Api, bearer

PROBLEM = "application/problem+json"


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    assert body["type"].startswith("https://tokenworks.dev/problems/")
    assert "Traceback" not in response.text and 'File "' not in response.text
    return body


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic YWxpY2U6eA=="},
    {"Authorization": "Bearer tw_0123456789ab_" + "x" * 43},
])
def test_missing_or_bad_key_is_401(api: Api, headers: dict) -> None:
    response = api.client.get("/api/me", headers=headers)
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_key_with_a_wrong_secret_is_401(api: Api) -> None:
    tampered = api.alice_key[:-4] + ("AAAA" if not api.alice_key.endswith("AAAA") else "BBBB")
    assert_problem(api.client.get("/api/me", headers=bearer(tampered)), 401)


def test_revoked_key_is_401_and_the_store_keeps_only_a_hash(api: Api) -> None:
    (key,) = api.host.api_keys("alice")
    assert api.alice_key.split("_", 2)[2] not in key.secret_hash
    assert api.client.get("/api/me", headers=api.alice).status_code == 200
    assert api.host.revoke_api_key(key.key_id, actor="test", reason="leaked")
    assert_problem(api.client.get("/api/me", headers=api.alice), 401)
    changes = [c for c in api.host.audit() if c.target_kind == "api_key"]
    assert [c.field for c in changes][:1] == ["revoked"]


def test_users_revoke_their_own_keys_only(api: Api) -> None:
    _, spare = api.host.create_api_key("alice", "spare", actor="test")
    spare_id = spare.split("_")[1]
    (root_key,) = api.host.api_keys("root")
    assert_problem(api.client.delete(f"/api/me/keys/{root_key.key_id}", headers=api.alice),
                   404)
    listed = api.client.get("/api/me/keys", headers=api.alice).json()
    assert {k["key_id"] for k in listed} == {spare_id, api.alice_key.split("_")[1]}
    assert all("hash" not in str(k) for k in listed)
    done = api.client.delete(f"/api/me/keys/{spare_id}", headers=api.alice)
    assert done.json() == {"key_id": spare_id, "revoked": True}
    assert_problem(api.client.get("/api/me", headers=bearer(spare)), 401)


def test_admin_routes_are_403_for_a_user(api: Api) -> None:
    for method, path, body in [
        ("get", "/api/admin/audit", None), ("get", "/api/admin/users", None),
        ("get", "/api/metrics", None),
        ("patch", "/api/admin/functions/greet", {"enabled": False, "reason": "r"}),
        ("post", "/api/admin/users/alice/grants", {"amount": 100, "reason": "r"}),
    ]:
        response = api.client.request(method, path, json=body, headers=api.alice)
        assert_problem(response, 403)
    assert api.balance() == 20 and api.host.function("greet").enabled


def test_a_known_key_is_read_from_the_store_once_per_state_version(api: Api, monkeypatch) -> None:
    reads: list[str] = []
    read_key = api.host._store.get_api_key
    monkeypatch.setattr(api.host._store, "get_api_key",
                        lambda key_id: reads.append(key_id) or read_key(key_id))
    for _ in range(3):
        assert api.client.get("/api/me", headers=api.alice).status_code == 200
    assert len(reads) == 1
    api.host.grant("alice", 1, actor="test", reason="moves the state version")
    assert api.client.get("/api/me", headers=api.alice).status_code == 200
    assert len(reads) == 2
    for _ in range(2):  # a wrong key is never cached: each try reads the store
        assert_problem(api.client.get("/api/me", headers=bearer("tw_0123456789ab_" + "x" * 43)),
                       401)
    assert len(reads) == 4


def test_a_cached_key_is_checked_in_the_event_loop(api: Api, monkeypatch) -> None:
    # Worker-thread hops cost CPU per request: only what may read the store takes one.
    from tokenworks.api import auth

    hops: list[str] = []
    hop = auth.run_in_threadpool

    async def counted(function, *args):
        hops.append(function.__name__)
        return await hop(function, *args)

    monkeypatch.setattr(auth, "run_in_threadpool", counted)
    assert api.client.get("/api/me", headers=api.alice).status_code == 200
    opened = hops.pop(0)  # the first request opens the host (get_host) in a worker thread
    assert opened != "verify_key"
    assert hops == ["verify_key"]  # the first time: the store is read
    for _ in range(3):
        assert api.client.get("/api/me", headers=api.alice).status_code == 200
    assert hops == ["verify_key"]
    api.host.grant("alice", 1, actor="test", reason="moves the state version")
    assert api.client.get("/api/me", headers=api.alice).status_code == 200
    assert hops == ["verify_key"] * 2  # the version moved: read again, in a worker thread
    wrong = api.alice_key[:-1] + ("x" if api.alice_key[-1] != "x" else "y")
    assert_problem(api.client.get("/api/me", headers=bearer(wrong)), 401)
    assert hops == ["verify_key"] * 3  # a cached key with a wrong secret: not in the loop


def test_a_demoted_admin_loses_admin_routes_at_once(api: Api) -> None:
    api.host.add_user("boss", role="admin", password="boss-password", actor="test")
    assert api.client.get("/api/admin/users", headers=api.root).status_code == 200
    api.host.set_role("root", "user", actor="test", reason="demoted")
    assert_problem(api.client.get("/api/admin/users", headers=api.root), 403)


def test_rate_limit_is_per_key_with_retry_after(make_api) -> None:
    api = make_api(ApiSettings(rate=0.01, burst=3))
    for _ in range(3):
        assert api.client.get("/api/me", headers=api.alice).status_code == 200
    limited = api.client.get("/api/me", headers=api.alice)
    body = assert_problem(limited, 429)
    assert int(limited.headers["retry-after"]) >= 1 and body["retry_after"] >= 1
    assert api.client.get("/api/me", headers=api.root).status_code == 200  # another key


def test_body_over_the_limit_is_413_and_nothing_runs(make_api) -> None:
    api = make_api(ApiSettings(rate=1000, burst=1000, max_body=2048))
    big = {"label": "x", "notes": "n" * 4000}
    response = api.client.post("/api/functions/probe_every_widget/calls", json=big,
                               headers=api.alice)
    assert_problem(response, 413)

    def chunks():  # no Content-Length: the limit must count the streamed bytes
        yield b'{"label": "x", "notes": "'
        for _ in range(10):
            yield b"n" * 500
        yield b'"}'

    streamed = api.client.post("/api/functions/probe_every_widget/calls", content=chunks(),
                               headers={**api.alice, "content-type": "application/json"})
    assert_problem(streamed, 413)
    assert api.host.calls("alice") == [] and api.balance() == 20
    small = api.client.post("/api/functions/probe_every_widget/calls", json={"label": "x"},
                            headers=api.alice)
    assert small.status_code == 200


def test_every_error_is_a_problem(api: Api) -> None:
    assert_problem(api.client.get("/api/no/such/route", headers=api.alice), 404)
    assert_problem(api.client.put("/api/me", headers=api.alice), 405)
    body = assert_problem(api.client.post(
        "/api/functions/greet/calls", content=b"{not json", headers={
            **api.alice, "content-type": "application/json"}), 422)
    assert body["errors"]
    assert_problem(api.client.get("/api/me/ledger?limit=0", headers=api.alice), 422)


def test_an_unexpected_error_is_a_500_problem_without_traceback(api: Api, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("secret internals /etc/passwd")

    monkeypatch.setattr(api.host._store, "list_calls", broken)
    response = api.client.get("/api/me/calls", headers=api.alice)
    body = assert_problem(response, 500)
    assert "secret internals" not in response.text and body["error_id"]


def test_a_host_that_cannot_open_is_503(tmp_path) -> None:
    def no_host():
        raise OSError("disk gone")

    app = Starlette(routes=[mount(no_host)])
    client = TestClient(app, raise_server_exceptions=False)
    response = client.get("/api/me", headers=bearer("tw_0123456789ab_" + "x" * 43))
    assert_problem(response, 503)
    assert "disk gone" not in response.text and response.headers["retry-after"]
