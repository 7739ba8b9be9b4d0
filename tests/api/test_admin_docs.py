"""Admin routes, health, Prometheus metrics, and the OpenAPI document with every function."""

from __future__ import annotations

import re

from .conftest import Api

PROBE = "/api/functions/probe_every_widget/calls"


def test_admin_toggles_costs_grants_and_the_audit_log(api: Api) -> None:
    changed = api.client.patch("/api/admin/functions/greet", headers=api.root,
                               json={"enabled": False, "cost": 11, "reason": "maintenance"})
    assert changed.status_code == 200
    assert changed.json()["enabled"] is False and changed.json()["cost"] == 11
    refused = api.client.post("/api/functions/greet/calls", json={"name": "x"},
                              headers=api.alice)
    assert refused.status_code == 409
    plugin = api.client.patch("/api/admin/plugins/meter_probe", headers=api.root,
                              json={"enabled": False, "reason": "noisy"})
    assert plugin.json() == {"plugin": "meter_probe", "enabled": False, "changed": True}
    assert not api.host.function("probe_ok").enabled
    granted = api.client.post("/api/admin/users/alice/grants", headers=api.root,
                              json={"amount": 30, "reason": "welcome"})
    assert granted.json() == {"user": "alice", "balance": 50} and api.balance() == 50
    audit = api.client.get("/api/admin/audit?limit=5", headers=api.root).json()
    assert {(a["target"], a["field"], a["actor"]) for a in audit[:3]} == {
        ("greet", "enabled", "api:root"), ("greet", "cost", "api:root"),
        ("meter_probe", "enabled", "api:root")}
    grants = [e for e in api.host.ledger("alice") if e.actor == "api:root"]
    assert grants[0].amount == 30 and grants[0].reason == "welcome"
    assert api.host.verify_books().ok


def test_admin_refusals(api: Api) -> None:
    def patch(path, body):
        return api.client.patch(path, headers=api.root, json=body)

    assert patch("/api/admin/functions/nope", {"enabled": False, "reason": "x"}
                 ).status_code == 404
    assert patch("/api/admin/plugins/nope", {"enabled": False, "reason": "x"}
                 ).status_code == 404
    missing = patch("/api/admin/functions/greet", {"enabled": False})
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "reason"
    nothing = patch("/api/admin/functions/greet", {"reason": "x"})
    assert nothing.status_code == 422
    negative = patch("/api/admin/functions/greet", {"cost": -1, "reason": "x"})
    assert negative.status_code == 422 and negative.json()["errors"][0]["field"] == "cost"
    take = api.client.post("/api/admin/users/alice/grants", headers=api.root,
                           json={"amount": -500, "reason": "too much"})
    assert take.status_code == 402 and api.balance() == 20
    ghost = api.client.post("/api/admin/users/ghost/grants", headers=api.root,
                            json={"amount": 5, "reason": "x"})
    assert ghost.status_code == 404


def test_health_needs_no_key(api: Api) -> None:
    response = api.client.get("/api/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok" and response.json()["functions"] >= 10


def test_prometheus_metrics(api: Api) -> None:
    api.client.post(PROBE, json={"label": "a"}, headers=api.alice)
    api.client.post(PROBE, json={"label": "b"}, headers=api.alice)
    api.client.post("/api/functions/probe_fail/calls", json={"text": "x"}, headers=api.alice)
    api.client.post(PROBE, json={"label": ""}, headers=api.alice)  # a 422
    response = api.client.get("/api/metrics", headers=api.root)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    sample = re.compile(r'^[a-z_]+(\{([a-z_]+="[^"]*",?)*\})? -?[0-9.e+]+$')
    for line in text.splitlines():
        assert line.startswith("# HELP ") or line.startswith("# TYPE ") or sample.match(line), line
    probe = 'function="probe_every_widget"'
    assert f'tokenworks_calls_total{{{probe},status="succeeded"}} 2' in text
    assert 'tokenworks_call_errors_total{function="probe_fail"} 1' in text
    assert f"tokenworks_tokens_charged_total{{{probe}}} 8" in text
    assert f'tokenworks_call_duration_seconds_bucket{{{probe},le="+Inf"}} 2' in text
    assert f"tokenworks_call_duration_seconds_count{{{probe}}} 2" in text
    buckets = [int(m) for m in re.findall(
        rf'tokenworks_call_duration_seconds_bucket\{{{probe},le="[^"]+"\}} (\d+)', text)]
    assert buckets == sorted(buckets)  # cumulative
    assert 'tokenworks_api_requests_total{method="POST",status="422"} 1' in text
    as_json = api.client.get("/api/admin/metrics", headers=api.root).json()
    row = next(r for r in as_json if r["function"] == "probe_every_widget")
    assert (row["calls"], row["succeeded"], row["errors"], row["tokens"]) == (2, 2, 0, 8)


def test_openapi_has_every_function_input_schema(api: Api) -> None:
    response = api.client.get("/api/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["servers"] == [{"url": "/api"}]
    schemas = document["components"]["schemas"]
    for view in api.host.functions():
        operation = document["paths"][f"/functions/{view.spec.name}/calls"]["post"]
        ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        schema = schemas[ref.rsplit("/", 1)[1]]
        assert set(schema["properties"]) == set(
            view.spec.input_model.model_json_schema()["properties"])
        assert operation["security"] == [{"ApiKey": []}]
        assert "application/problem+json" in operation["responses"]["402"]["content"]
    generic = document["paths"]["/functions/{name}/calls"]["post"]
    assert {"401", "402", "404", "409", "413", "422", "429"} <= set(generic["responses"])
    assert "HTTPValidationError" not in schemas and "Problem" in schemas
    docs = api.client.get("/api/docs")
    assert docs.status_code == 200 and "/api/openapi.json" in docs.text
