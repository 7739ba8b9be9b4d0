"""Catalog and calls over HTTP: idempotency, charging, blocks, refusals that charge nothing."""

from __future__ import annotations

import base64

from tokenworks.blocks import PNG_SIGNATURE

from .conftest import Api

PROBE = "/api/functions/probe_every_widget/calls"


def call(api: Api, path: str, body, key: str | None = None, headers=None):
    extra = {"Idempotency-Key": key} if key else {}
    return api.client.post(path, json=body, headers={**(headers or api.alice), **extra})


def test_catalog_lists_functions_with_schema_cost_and_kinds(api: Api) -> None:
    response = api.client.get("/api/functions", headers=api.alice)
    assert response.status_code == 200
    by_name = {item["name"]: item for item in response.json()}
    assert {"word_frequencies", "probe_every_widget", "greet", "probe_ok"} <= set(by_name)
    probe = by_name["probe_every_widget"]
    assert probe["cost"] == 4 and probe["enabled"] is True
    assert set(probe["returns"]) == {"markdown", "metrics", "table", "image", "chart",
                                     "graph", "json"}
    assert probe["input_schema"]["properties"]["label"]["maxLength"] == 40
    assert probe["calls_url"] == PROBE
    one = api.client.get("/api/functions/probe_every_widget", headers=api.alice).json()
    assert one == probe


def test_cost_and_switch_changes_show_in_the_catalog(api: Api) -> None:
    api.host.set_cost("greet", 9, actor="test", reason="pricing")
    api.host.set_function_enabled("greet", False, actor="test", reason="maintenance")
    greet = api.client.get("/api/functions/greet", headers=api.alice).json()
    assert greet["cost"] == 9 and greet["enabled"] is False
    assert "switched off" in greet["disabled_reason"]


def test_a_call_returns_blocks_charge_and_balance_with_images_as_base64(api: Api) -> None:
    response = call(api, PROBE, {"label": "hi", "count": 2}, key="first-call")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "succeeded" and body["charged"] == 4
    assert body["balance"] == 16 == api.balance()
    assert body["replayed"] is False
    kinds = [block["kind"] for block in body["blocks"]]
    assert kinds == ["markdown", "metrics", "table", "image", "chart", "graph", "json"]
    image = body["blocks"][3]
    assert base64.b64decode(image["png"]).startswith(PNG_SIGNATURE)
    assert response.headers["idempotency-key"] == "first-call"
    again = api.client.get(f"/api/calls/{body['call_id']}", headers=api.alice)
    assert again.status_code == 200
    assert again.json()["blocks"] == body["blocks"] and again.json()["charged"] == 4
    # The meter reports the start it stored: the answer and the stored call agree.
    assert body["started_at"] is not None and again.json()["started_at"] == body["started_at"]


def test_same_idempotency_key_same_outcome_charged_once(api: Api) -> None:
    first = call(api, PROBE, {"label": "once"}, key="retry-me")
    second = call(api, PROBE, {"label": "once"}, key="retry-me")
    assert first.status_code == second.status_code == 200
    assert second.json()["replayed"] is True
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json()["call_id"] == first.json()["call_id"]
    assert second.json()["blocks"] == first.json()["blocks"]
    assert api.balance() == 16  # charged once
    holds = [e for e in api.host.ledger("alice") if e.kind == "hold"]
    assert len(holds) == 1


def test_same_key_with_another_input_is_a_409_and_charges_nothing(api: Api) -> None:
    assert call(api, PROBE, {"label": "a"}, key="k").status_code == 200
    response = call(api, PROBE, {"label": "b"}, key="k")
    assert response.status_code == 409
    assert response.json()["type"].endswith("/idempotency-conflict")
    # It names what the client sent, not the host's call id, which the client never saw.
    assert "Idempotency-Key 'k' was already used" in response.json()["detail"]
    assert "call id" not in response.json()["detail"]
    assert api.balance() == 16


def test_keys_are_scoped_to_the_user(api: Api) -> None:
    mine = call(api, PROBE, {"label": "a"}, key="shared-key")
    theirs = call(api, PROBE, {"label": "b"}, key="shared-key", headers=api.root)
    assert mine.status_code == theirs.status_code == 200  # no collision across users
    assert mine.json()["call_id"] != theirs.json()["call_id"]
    other = api.client.get(f"/api/calls/{theirs.json()['call_id']}", headers=api.alice)
    assert other.status_code == 404  # another user's call is not found for alice


def test_without_a_key_every_request_is_a_new_call(api: Api) -> None:
    first = call(api, PROBE, {"label": "a"})
    second = call(api, PROBE, {"label": "a"})
    assert first.json()["call_id"] != second.json()["call_id"]
    assert api.balance() == 12


def test_insufficient_tokens_is_402_and_nothing_is_charged(api: Api) -> None:
    api.host.set_cost("probe_every_widget", 50, actor="test", reason="dear")
    response = call(api, PROBE, {"label": "x"}, key="too-dear")
    assert response.status_code == 402
    problem = response.json()
    assert problem["balance"] == 20 and problem["needed"] == 50
    assert api.balance() == 20
    assert api.host.calls("alice") == []


def test_invalid_input_is_422_naming_the_field(api: Api) -> None:
    response = call(api, PROBE, {"label": "", "count": 99})
    assert response.status_code == 422
    fields = {error["field"] for error in response.json()["errors"]}
    assert fields == {"label", "count"}
    not_object = call(api, PROBE, [1, 2])
    assert not_object.status_code == 422 and not_object.json()["errors"]
    bad_key = call(api, PROBE, {"label": "x"}, key="spaces are not allowed")
    assert bad_key.status_code == 422
    assert bad_key.json()["errors"][0]["field"] == "header.Idempotency-Key"
    assert api.balance() == 20


def test_a_function_that_fails_answers_its_status_and_costs_nothing(api: Api) -> None:
    response = call(api, "/api/functions/probe_fail/calls", {"text": "x"}, key="boom")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "failed" and body["charged"] == 0 and body["balance"] == 20
    assert "Traceback" not in response.text


def test_disabled_function_is_409(api: Api) -> None:
    api.host.set_function_enabled("greet", False, actor="test", reason="off")
    response = call(api, "/api/functions/greet/calls", {"name": "x"})
    assert response.status_code == 409
    assert response.json()["type"].endswith("/function-disabled")


def test_unknown_function_and_call_are_404(api: Api) -> None:
    response = call(api, "/api/functions/nope/calls", {})
    assert response.status_code == 404 and "no function named" in response.json()["detail"]
    assert api.client.get("/api/functions/nope", headers=api.alice).status_code == 404
    assert api.client.get("/api/calls/api_missing", headers=api.alice).status_code == 404


def test_me_balance_ledger_and_history(api: Api) -> None:
    call(api, PROBE, {"label": "a"}, key="h1")
    me = api.client.get("/api/me", headers=api.alice).json()
    assert me["name"] == "alice" and me["role"] == "user" and me["balance"] == 16
    ledger = api.client.get("/api/me/ledger?limit=10", headers=api.alice).json()
    assert [entry["kind"] for entry in ledger] == ["capture", "hold", "grant"]
    assert sum(entry["amount"] for entry in ledger) == 16
    calls = api.client.get("/api/me/calls", headers=api.alice).json()
    assert [(c["function"], c["charged"]) for c in calls] == [("probe_every_widget", 4)]
