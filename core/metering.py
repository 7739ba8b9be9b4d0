"""Metered invocation: the one way a function is ever run.

validate input -> check the switch -> take the idempotency key and hold the cost -> answer
from the result cache (cacheable functions, result_cache.py) or run in a bounded worker pool
under the function's timeout -> check the result blocks -> capture the hold, or release it
and record why. A cached answer is captured like a run that succeeded: the price is for the
answer, not for the work. The capture or release is durable before the outcome is
returned (committed, or on DuckDB journaled and written to the tables right after).
Where the hold lives is the store's business (Store.holds): with
durable holds, taking it is a transaction of its own; with holds in memory it is a
reservation, and the call is written once, when it ends.

A refusal (unknown function, bad input, switched off, unknown user, too few tokens,
call id reused for something else) raises CallRefused before anything is written.
Anything that goes wrong once the function runs is an outcome, not an exception:
its hold is released, so a failing plugin never costs a user tokens. The one exception is
an outcome the store cannot keep (a full disk, an I/O error, a lost database):
finish_call raises StorageUnavailableError, the call is released and answered as refused,
never as succeeded, and nothing is charged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import uuid
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ValidationError

from .blocks import Block, blocks_from_json, blocks_to_json, coerce_blocks
from .catalog import Catalog, FunctionView
from .errors import (
    CallRefused,
    FunctionDisabledError,
    IdempotencyConflictError,
    InvalidInputError,
    describe_validation_error,
)
from .result_cache import ResultCache
from .store import CallRecord, NewCall, Store, utcnow
from .store.base import FINAL_STATUSES, CallStatus
from .workers import WorkerPool

log = logging.getLogger("tokenworks.calls")
CALL_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}$")
REPLAY_POLL = 0.02  # seconds between looks at a call another thread is still running


@dataclass
class CallOutcome:
    call_id: str
    function: str
    user: str
    status: CallStatus
    charged: int
    blocks: list[Block] = field(default_factory=list)
    error: str | None = None
    latency_ms: float | None = None
    replayed: bool = False
    # Answered from the result cache, and charged as usual. Deliberately no time or origin:
    # the entry may be another user's, and when it was made is theirs (docs/api.md).
    cached: bool = False
    started_at: datetime | None = None  # the call row's started_at (naive UTC)
    # The user's balance right after the settlement, when the store reported it (None:
    # read it); the REST API answers with both without reading the call back.
    balance: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    def to_dict(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "function": self.function,
            "user": self.user,
            "status": self.status,
            "charged": self.charged,
            "error": self.error,
            "latency_ms": self.latency_ms,
            "replayed": self.replayed,
            "cached": self.cached,
            "blocks": json.loads(blocks_to_json(self.blocks)),
        }


class Invoker:
    def __init__(self, store: Store, catalog: Catalog, workers: int) -> None:
        self._store = store
        self._catalog = catalog
        self._pool = WorkerPool(workers)
        self.cache = ResultCache(store)

    def call(
        self, function: str, user: str, payload: dict[str, Any] | BaseModel,
        call_id: str | None = None,
    ) -> CallOutcome:
        view = self._catalog.view(function)
        spec = view.spec
        model = _validate_input(view, payload)
        fresh = call_id is None  # a random id made up here cannot name an earlier call
        if call_id is None:
            call_id = uuid.uuid4().hex
        elif not CALL_ID.match(call_id):
            raise CallRefused("a call id is 1-128 letters, digits or _ . : -")
        input_json = json.dumps(model.model_dump(mode="json"), sort_keys=True,
                                separators=(",", ":"))
        input_hash = hashlib.sha256(f"{function}\n{input_json}".encode()).hexdigest()
        if not view.enabled:
            # The switch stops new calls; a retry of one made before it returns that
            # call's outcome (it may have been charged), as any other retry does.
            earlier = self._store.get_call(call_id)
            if earlier is None:
                raise FunctionDisabledError(f"{view.why_disabled()}; nothing was charged")
            return self._replay(earlier, user, function, input_hash)
        new_call = NewCall(
            call_id=call_id, user=user, function=function, plugin=spec.plugin,
            plugin_version=spec.plugin_version, cost=view.cost, input_hash=input_hash,
            input_json=input_json, deadline_at=utcnow() + timedelta(seconds=spec.timeout),
        )
        existing = self._store.begin_call(new_call, fresh=fresh)
        if existing is not None:
            return self._replay(existing, user, function, input_hash)

        # The cache is looked at only now: refusals and replays come first, and the hold
        # is taken, so a hit is settled (captured) exactly like a run that succeeded.
        started = time.perf_counter()
        hit = self.cache.lookup(spec, input_json)
        if hit is not None:
            status, blocks, result_json, error = ("succeeded", hit.blocks,
                                                  hit.entry.result_json, None)
        else:
            status, blocks, result_json, error = self._run(view, model, call_id)
        latency_ms = (time.perf_counter() - started) * 1000
        settled = self._store.finish_call(new_call, status, latency_ms, result_json, error,
                                          cached=hit is not None)
        if settled is None:
            # The sweep settled it first (the call outlived its deadline and grace).
            record = self._store.get_call(call_id)
            log.warning("call %s: settled by the sweep before it finished", call_id)
            return _outcome(record, replayed=False) if record else CallOutcome(
                call_id, function, user, "abandoned", 0, error="settled by the sweep")
        charged = view.cost if status == "succeeded" else 0
        if hit is not None:
            log.info("call %s: %s for %s answered from the cache in %.1f ms, charged %d",
                     call_id, function, user, latency_ms, charged)
            return CallOutcome(call_id, function, user, status, charged, blocks, None,
                               latency_ms, cached=True, started_at=new_call.started_at,
                               balance=settled.balance)
        if status == "succeeded":
            if result_json is not None:
                self.cache.keep(spec, input_json, result_json)  # a no-op unless cacheable
            log.info("call %s: %s for %s succeeded in %.1f ms, charged %d",
                     call_id, function, user, latency_ms, charged)
        else:
            log.warning("call %s: %s for %s %s in %.1f ms, nothing charged: %s",
                        call_id, function, user, status, latency_ms, error)
        return CallOutcome(call_id, function, user, status, charged, blocks, error, latency_ms,
                           started_at=new_call.started_at, balance=settled.balance)

    def _run(
        self, view: FunctionView, model: BaseModel, call_id: str
    ) -> tuple[CallStatus, list[Block], str | None, str | None]:
        """Run the function; returns (status, blocks, result JSON, error)."""
        spec = view.spec
        future = self._pool.submit(view.function.run, model)
        try:
            raw = future.result(timeout=spec.timeout)
        except FutureTimeout:
            # The function's result, if it ever comes, is dropped.
            self._pool.abandon(future)
            return "timeout", [], None, f"{spec.name} timed out after {spec.timeout:g} s"
        except BaseException as error:
            if not (future.done() and future.exception() is error):
                raise  # raised in this thread (e.g. Ctrl-C while waiting), not by the plugin
            log.debug("call %s: %s raised", call_id, spec.name, exc_info=error)
            return "failed", [], None, f"{spec.name} failed: {type(error).__name__}: {error}"
        try:
            blocks = coerce_blocks(raw)
            undeclared = sorted({block.kind for block in blocks} - set(spec.returns))
            if undeclared:
                raise ValueError(f"returned {', '.join(undeclared)} blocks, which its spec "
                                 f"does not declare (declared: {', '.join(spec.returns)})")
            result_json = blocks_to_json(blocks)
        except (ValidationError, TypeError, ValueError) as error:
            return "invalid_result", [], None, f"{spec.name} returned an invalid result: {error}"
        return "succeeded", blocks, result_json, None

    def _replay(self, record: CallRecord, user: str, function: str, input_hash: str):
        if (record.user, record.function, record.input_hash) != (user, function, input_hash):
            # Say nothing about the earlier call: it may be another user's.
            raise IdempotencyConflictError(
                f"call id {record.call_id} was already used for a different call; "
                "use a new call id"
            )
        give_up = time.monotonic() + max(
            0.0, (record.deadline_at - utcnow()).total_seconds()) + 1.0
        while record.status not in FINAL_STATUSES and time.monotonic() < give_up:
            time.sleep(REPLAY_POLL)
            record = self._store.get_call(record.call_id) or record
        log.info("call %s: replayed (%s)", record.call_id, record.status)
        return _outcome(record, replayed=True)

    def shutdown(self) -> None:
        self._pool.shutdown()


def _validate_input(view: FunctionView, payload: dict[str, Any] | BaseModel) -> BaseModel:
    model_class = view.spec.input_model
    if isinstance(payload, model_class):
        return payload
    if isinstance(payload, BaseModel):
        payload = payload.model_dump()
    if not isinstance(payload, dict):
        raise InvalidInputError(view.spec.name, [("(input)", "expected a JSON object")])
    try:
        return model_class.model_validate(payload)
    except ValidationError as error:
        raise InvalidInputError(view.spec.name, describe_validation_error(error)) from None
    except (TypeError, ValueError, AssertionError) as error:
        # A plugin's model can raise outside pydantic's error wrapping (a constraint pydantic
        # cannot apply, say): still the caller's input refused, never a crash or a charge.
        log.warning("input model of %s raised %s", view.spec.name, type(error).__name__)
        raise InvalidInputError(view.spec.name, [("(input)", str(error))]) from None


def _outcome(record: CallRecord, replayed: bool) -> CallOutcome:
    blocks = blocks_from_json(record.result_json) if record.result_json else []
    return CallOutcome(
        record.call_id, record.function, record.user, record.status, record.charged, blocks,
        record.error, record.latency_ms, replayed, cached=record.cached,
        started_at=record.started_at,
    )
