"""A function whose workers are all taken, over HTTP: a 503 "busy" with Retry-After at
once, nothing written or charged; /api/health says degraded and names no function."""

from __future__ import annotations

import threading
import time

from starlette.testclient import TestClient

from .conftest import bearer, mounted


def test_a_busy_function_is_a_503_with_retry_after_that_charges_nothing(make_host) -> None:
    host = make_host("hostile.py", registry="[users]\nstarting_grant = 20\n"
                                            "[workers]\ncount = 2\nqueue = 0\n")
    host.add_user("alice", password="alice-password", actor="test")
    _, key = host.create_api_key("alice", "tests", actor="test")
    client = TestClient(mounted(host), raise_server_exceptions=False)
    hung = threading.Thread(target=host.call, args=("hostile_hang", "alice", {}))
    hung.start()
    try:
        time.sleep(0.2)  # it holds the one worker the function may have
        refused = client.post("/api/functions/hostile_hang/calls", json={},
                              headers={**bearer(key), "Idempotency-Key": "k1"})
        health = client.get("/api/health")
    finally:
        hung.join(10)
        client.close()

    assert refused.status_code == 503
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["retry-after"] == "5"
    problem = refused.json()
    assert problem["type"] == "https://tokenworks.dev/problems/busy"
    assert problem["retry_after"] == 5 and "nothing was charged" in problem["detail"]
    assert [call.status for call in host.calls("alice")] == ["timeout"]
    assert host.balance("alice") == 20

    assert health.status_code == 503 and health.json()["status"] == "degraded"
    assert any("refused as busy" in reason for reason in health.json()["reasons"])
    assert "hostile" not in health.text  # public: no plugin or function named
    assert host.verify_books().ok
