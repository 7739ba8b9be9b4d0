"""The result cache over HTTP: marked in call responses, in the catalog and the history;
cleared by admins with DELETE /api/admin/cache."""

from __future__ import annotations

import pytest
from conftest import plugin_runs

from .conftest import PLUGINS, Api, bearer

CALLS = "/api/functions/cache_count/calls"


@pytest.fixture
def api(make_api) -> Api:
    return make_api(plugins=(*PLUGINS, "cache_probe.py"))


def runs(api: Api) -> int:
    return plugin_runs(api.host, "cache_probe")["cache_count"]


def post(api: Api, body: dict, key: str | None = None):
    headers = {**api.alice, **({"Idempotency-Key": key} if key else {})}
    return api.client.post(CALLS, json=body, headers=headers)


def test_a_cached_answer_is_marked_and_charged_like_any_other(api: Api) -> None:
    first = post(api, {"text": "a"}).json()
    second = post(api, {"text": "a"}).json()

    assert (first["cached"], second["cached"]) == (False, True)
    assert second["status"] == "succeeded" and second["charged"] == 2
    assert second["balance"] == 16 == api.balance()
    assert second["blocks"] == first["blocks"] and runs(api) == 1
    read = api.client.get(f"/api/calls/{second['call_id']}", headers=api.alice).json()
    assert read["cached"] is True and read["charged"] == 2
    assert api.client.get(f"/api/calls/{first['call_id']}",
                          headers=api.alice).json()["cached"] is False
    history = api.client.get("/api/me/calls", headers=api.alice).json()
    assert [item["cached"] for item in history] == [True, False]
    assert api.host.verify_books().ok


def test_a_cached_answer_tells_nothing_about_the_call_that_made_it(api: Api) -> None:
    # alice's call fills the cache; bob's answer comes from it, and must not say when alice
    # asked, nor her call id or name (the old cached_at field gave her time away).
    api.host.add_user("bob", password="bob-password", actor="test")
    _, bob_key = api.host.create_api_key("bob", "tests", actor="test")
    bob = bearer(bob_key)
    alice = post(api, {"text": "who asked"}, key="alice-secret-key").json()
    answer = api.client.post(CALLS, json={"text": "who asked"}, headers=bob)
    theirs = answer.json()

    assert theirs["cached"] is True and theirs["blocks"] == alice["blocks"]
    assert "cached_at" not in theirs and theirs["user"] == "bob"
    read = api.client.get(f"/api/calls/{theirs['call_id']}", headers=bob)
    listed = api.client.get("/api/me/calls", headers=bob)
    assert [call["call_id"] for call in listed.json()] == [theirs["call_id"]]
    for body in (answer.text, read.text, listed.text):
        own_time = theirs["started_at"]
        assert alice["call_id"] not in body and "alice" not in body
        assert alice["started_at"] not in body.replace(own_time, "")
    assert api.client.get(f"/api/calls/{alice['call_id']}", headers=bob).status_code == 404
    schema = api.client.get("/api/openapi.json").json()["components"]["schemas"]
    assert "cached_at" not in schema["CallResult"]["properties"]


def test_an_idempotent_retry_of_a_cached_call_replays_it(api: Api) -> None:
    post(api, {"text": "a"})
    hit = post(api, {"text": "a"}, key="k1")
    again = post(api, {"text": "a"}, key="k1")
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["cached"] is True and again.json()["call_id"] == hit.json()["call_id"]
    assert api.balance() == 16


def test_the_catalog_shows_which_functions_are_cacheable(api: Api) -> None:
    by_name = {f["name"]: f for f in api.client.get("/api/functions", headers=api.alice).json()}
    assert by_name["cache_count"]["cache_ttl"] == 60.0
    assert by_name["probe_ok"]["cache_ttl"] is None


def test_an_admin_clears_one_function_or_all(api: Api) -> None:
    post(api, {"text": "a"})
    post(api, {"text": "b"})
    api.client.post("/api/functions/cache_other/calls", json={"text": "a"}, headers=api.alice)

    one = api.client.delete("/api/admin/cache", headers=api.root,
                            params={"function": "cache_count", "reason": "bad data"})
    assert one.status_code == 200
    assert one.json() == {"function": "cache_count", "dropped": 2}
    assert post(api, {"text": "a"}).json()["cached"] is False
    every = api.client.delete("/api/admin/cache", headers=api.root, params={"reason": "all"})
    assert every.json() == {"function": None, "dropped": 2}  # cache_other's and the new one
    audit = api.client.get("/api/admin/audit?limit=2", headers=api.root).json()
    assert [(a["target_kind"], a["target"], a["actor"], a["reason"]) for a in audit] == [
        ("cache", "*", "api:root", "all"), ("cache", "cache_count", "api:root", "bad data")]
    assert api.host.verify_books().ok


def test_clearing_is_for_admins_with_a_reason_and_a_known_function(api: Api) -> None:
    post(api, {"text": "a"})

    def delete(headers, **params):
        return api.client.delete("/api/admin/cache", headers=headers, params=params)

    user = delete(api.alice, reason="mine")
    assert user.status_code == 403
    assert user.headers["content-type"].startswith("application/problem+json")
    assert delete({}, reason="x").status_code == 401
    missing = delete(api.root)
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "query.reason"
    # A reason the host would strip to nothing is refused by the schema, not by the host.
    blank = delete(api.root, reason="\x1d ")
    assert blank.status_code == 422 and blank.json()["errors"][0]["field"] == "query.reason"
    grant = api.client.post("/api/admin/users/alice/grants", headers=api.root,
                            json={"amount": 1, "reason": "\x1d"})
    assert grant.status_code == 422
    unknown = delete(api.root, reason="x", function="nope")
    assert unknown.status_code == 404 and unknown.json()["type"].endswith("unknown-function")
    assert "traceback" not in unknown.text.lower()
    assert post(api, {"text": "a"}).json()["cached"] is True  # nothing was cleared


def test_openapi_documents_the_cached_field_and_the_clear_route(api: Api) -> None:
    document = api.client.get("/api/openapi.json").json()
    schemas = document["components"]["schemas"]
    assert "cached" in schemas["CallResult"]["properties"]
    assert "cache_ttl" in schemas["FunctionInfo"]["properties"]
    clear = document["paths"]["/admin/cache"]["delete"]
    assert {p["name"] for p in clear["parameters"]} == {"reason", "function"}
