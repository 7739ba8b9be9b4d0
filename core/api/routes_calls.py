"""Running a function: POST its input with an Idempotency-Key; read a call back by id."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Path, Response
from starlette.concurrency import run_in_threadpool

from tokenworks.blocks import blocks_from_json
from tokenworks.errors import IdempotencyConflictError
from tokenworks.store import CallRecord

from .auth import CallerDep, HostDep
from .models import CallResult
from .problems import ApiProblem

router = APIRouter(tags=["calls"])
KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"  # printable ASCII, as Stripe and the IETF draft use
CALL_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {}, 402: {}, 404: {}, 409: {}, 413: {}, 422: {}, 429: {}, 503: {}}
IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", pattern=KEY_PATTERN,
    description="Your unique key for this call (e.g. a UUID). A retry with the same key "
                "returns the first call's outcome and is charged once; the same key with "
                "another input is a 409. Keys are yours alone (scoped to your user). "
                "Optional: without one, every request is a new call.")]


def call_id_for(user: str, key: str) -> str:
    """The store's call id for a user's Idempotency-Key: scoped to the user, so nobody
    can collide with (or probe) another user's keys."""
    return "api_" + hashlib.sha256(f"{user}\n{key}".encode()).hexdigest()[:40]


def from_record(record: CallRecord) -> CallResult:
    blocks = blocks_from_json(record.result_json) if record.result_json else []
    return CallResult(call_id=record.call_id, function=record.function, user=record.user,
                      status=record.status, charged=record.charged, blocks=blocks,
                      error=record.error, latency_ms=record.latency_ms,
                      cached=record.cached, started_at=record.started_at)


@router.post("/functions/{name}/calls", response_model=CallResult, summary="Run a function",
             responses=CALL_ERRORS, description=(
                 "The body is the function's input (its JSON Schema is in the catalog and "
                 "under each function's own path below). A refusal (422, 402, 409, 404) "
                 "charges nothing; a call that ran answers 200 whatever its status, and is "
                 "charged only if it succeeded. A cacheable function (cache_ttl in the "
                 "catalog) may answer from the result cache: `cached` is then true, and the "
                 "call is charged like any other."))
async def run_call(
    response: Response, host: HostDep, caller: CallerDep,
    payload: Annotated[dict[str, Any], Body(description="the function's input")],
    idempotency_key: IdempotencyKey = None,
    name: str = Path(min_length=1, max_length=100),
) -> CallResult:
    # Async, with the call (and any store read) in one worker thread: FastAPI checks the
    # response model of a sync route in a worker thread of its own (serialize_response in
    # fastapi/routing.py), a second hop there and back per call for a few microseconds of
    # work; for an async route it does that check here, in the event loop.
    user = caller.user.name
    call_id = call_id_for(user, idempotency_key) if idempotency_key else None
    try:
        outcome = await run_in_threadpool(host.call, name, user, payload, call_id)
    except IdempotencyConflictError:
        # The host speaks of its call id, which this client never sent: name the header.
        raise ApiProblem(409, "idempotency-conflict", (
            f"the Idempotency-Key {idempotency_key!r} was already used for a different "
            "call (another function or input): send a new key. Nothing was charged.")
        ) from None
    if idempotency_key:
        response.headers["Idempotency-Key"] = idempotency_key
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return CallResult(
        call_id=outcome.call_id, function=outcome.function, user=outcome.user,
        status=outcome.status, charged=outcome.charged, balance=outcome.balance_after,
        blocks=outcome.blocks, error=outcome.error, latency_ms=outcome.latency_ms,
        replayed=outcome.replayed, cached=outcome.cached, started_at=outcome.started_at)


@router.get("/calls/{call_id}", response_model=CallResult, summary="One of your calls",
            responses={401: {}, 404: {}, 422: {}, 429: {}})
async def get_call(
    host: HostDep, caller: CallerDep, call_id: str = Path(min_length=1, max_length=128),
) -> CallResult:
    record = await run_in_threadpool(host.call_record, call_id)
    if record is None or (record.user != caller.user.name and caller.user.role != "admin"):
        raise ApiProblem(404, "unknown-call", f"no call {call_id!r} of yours")
    return await run_in_threadpool(from_record, record)
