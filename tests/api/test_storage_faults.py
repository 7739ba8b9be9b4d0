"""A store that cannot write, over HTTP: the call is a 503 "storage unavailable" with
Retry-After, charged nothing and never answered as succeeded; /api/health says "degraded"
with the reason until a write succeeds again. The full disk is injected at the journal's
system-call boundary (tests/faults.py): the rest of the stack is real."""

from __future__ import annotations

import errno
import os

from faults import SystemCalls, failing

from tokenworks.api.routes_calls import call_id_for
from tokenworks.store import call_journal

from .conftest import Api

PROBE_OK = "/api/functions/probe_ok/calls"
NO_SPACE = "the call journal cannot be written: [Errno 28] No space left on device"


def test_a_full_disk_is_a_503_that_charges_nothing_and_health_says_degraded(
        api: Api, monkeypatch) -> None:
    before = api.balance()
    monkeypatch.setattr(call_journal, "os", SystemCalls(write=failing(errno.ENOSPC)))
    headers = {**api.alice, "Idempotency-Key": "disk-full"}
    refused = api.client.post(PROBE_OK, json={"text": "hello"}, headers=headers)
    assert refused.status_code == 503, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["retry-after"] == "30"
    problem = refused.json()
    assert problem["type"] == "https://tokenworks.dev/problems/storage-unavailable"
    assert NO_SPACE in problem["detail"] and "nothing was charged" in problem["detail"]
    assert api.balance() == before
    assert api.host.call_record(call_id_for("alice", "disk-full")) is None

    health = api.client.get("/api/health")
    assert health.status_code == 503
    assert health.json()["status"] == "degraded"
    assert health.json()["reasons"] == [f"storage: {NO_SPACE}"]

    monkeypatch.setattr(call_journal, "os", os)  # room again
    retried = api.client.post(PROBE_OK, json={"text": "hello"}, headers=headers)
    assert retried.status_code == 200, retried.text
    body = retried.json()
    assert body["status"] == "succeeded" and body["replayed"] is False  # run, not replayed
    assert body["charged"] == 3 and api.balance() == before - 3
    healthy = api.client.get("/api/health")
    assert healthy.status_code == 200 and healthy.json()["status"] == "ok"
    assert healthy.json()["reasons"] == []
    report = api.host.verify_books()
    assert report.ok, report.problems
    assert [c.call_id for c in api.host.calls("alice")] == [body["call_id"]]
