"""The meter: the one way a function is ever run, and the only place a call is charged.

Meter.call checks the input and the switch, answers from the result cache or runs the
function in a worker process, and captures the cost only if the call succeeded. A refusal
raises CallRefused before anything is written; whatever goes wrong once the call runs is
an outcome (CallOutcome), its hold released.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ValidationError

from .blocks import Block, blocks_from_json, blocks_to_json, check_kinds
from .catalog import Catalog, FunctionView
from .errors import (
    BusyError,
    CallRefused,
    FunctionDisabledError,
    IdempotencyConflictError,
    InvalidInputError,
    describe_validation_error,
)
from .result_cache import Hit, ResultCache
from .store import CallRecord, NewCall, Store, utcnow
from .store.base import FINAL_STATUSES, CallStatus
from .workers import Lease, RunResult, WorkerPool

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
    # The user's balance right after the call (after a replay: as it is now), so no caller
    # reads it again. The meter sets it on every outcome it returns.
    balance_after: int | None = None
    # Why it failed, for admins and plugin authors' tests (the exception and traceback, or
    # how the worker ended): never shown to the caller, kept by Store.record_failure.
    detail: str | None = None

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


class Meter:
    def __init__(self, store: Store, catalog: Catalog, pool: WorkerPool) -> None:
        self._store = store
        self._catalog = catalog
        self._pool = pool
        self.cache = ResultCache(store)
        self._active = 0  # calls between validation and their outcome (shutdown waits)
        self._settled = threading.Condition()

    def call(
        self, function: str, user: str, payload: dict[str, Any] | BaseModel,
        call_id: str | None = None,
    ) -> CallOutcome:
        with self._settled:
            self._active += 1
        try:
            return self._call(function, user, payload, call_id)
        finally:
            with self._settled:
                self._active -= 1
                if not self._active:  # only shutdown waits, and only for none in flight
                    self._settled.notify_all()

    def _call(
        self, function: str, user: str, payload: dict[str, Any] | BaseModel,
        call_id: str | None,
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
                raise FunctionDisabledError(view.why_disabled())
            return self._replay(earlier, user, function, input_hash)
        # A cache hit needs no worker; a miss gets one before anything is held, so a call
        # refused as busy has written nothing.
        hit = self.cache.lookup(spec, input_json)
        lease = None if hit is not None else self._lease(view, user, call_id, fresh,
                                                         input_hash)
        if isinstance(lease, CallOutcome):
            return lease  # a retry of a call that exists: its outcome
        try:
            return self._metered(view, user, call_id, fresh, input_json, input_hash, hit,
                                 lease)
        finally:
            if lease is not None:
                lease.release()

    def _lease(self, view: FunctionView, user: str, call_id: str, fresh: bool,
               input_hash: str) -> Lease | CallOutcome:
        try:
            return self._pool.lease(view.spec.name, view.concurrency)
        except BusyError:
            earlier = None if fresh else self._store.get_call(call_id)
            if earlier is None:
                raise
            # A retry of a call made earlier is answered with that call, busy or not.
            return self._replay(earlier, user, view.spec.name, input_hash)

    def _metered(
        self, view: FunctionView, user: str, call_id: str, fresh: bool, input_json: str,
        input_hash: str, hit: Hit | None, lease: Lease | None,
    ) -> CallOutcome:
        spec, function = view.spec, view.spec.name
        new_call = NewCall(
            call_id=call_id, user=user, function=function, plugin=spec.plugin,
            plugin_version=spec.plugin_version, cost=view.cost, input_hash=input_hash,
            input_json=input_json, deadline_at=utcnow() + timedelta(seconds=spec.timeout),
        )
        existing = self._store.begin_call(new_call, fresh=fresh)
        if existing is not None:
            if lease is not None:
                lease.release()  # the replay waits for the first call, not for a worker
            return self._replay(existing, user, function, input_hash)

        started = time.perf_counter()
        detail = None
        if hit is not None:
            status, blocks, result_json, error = ("succeeded", hit.blocks,
                                                  hit.entry.result_json, None)
        else:
            assert lease is not None
            status, blocks, result_json, error, detail = self._run(view, input_json, call_id,
                                                                   lease)
            lease.release()  # the next call may have the worker while this one is settled
        latency_ms = (time.perf_counter() - started) * 1000
        settled = self._store.finish_call(new_call, status, latency_ms, result_json, error,
                                          cached=hit is not None)
        if settled is None:
            # The sweep settled it first (the call outlived its deadline and grace).
            record = self._store.get_call(call_id)
            log.warning("call %s: settled by the sweep before it finished", call_id)
            balance = self._store.balance(user)
            return _outcome(record, replayed=False, balance_after=balance) if record else \
                CallOutcome(call_id, function, user, "abandoned", 0, error="settled by the sweep",
                            balance_after=balance)
        charged = view.cost if status == "succeeded" else 0
        if hit is not None:
            log.info("call %s: %s for %s answered from the cache in %.1f ms, charged %d",
                     call_id, function, user, latency_ms, charged)
            return CallOutcome(call_id, function, user, status, charged, blocks, None,
                               latency_ms, cached=True, started_at=new_call.started_at,
                               balance_after=self._balance(user, settled.balance))
        if status == "succeeded":
            if result_json is not None:
                self.cache.keep(spec, input_json, result_json)  # a no-op unless cacheable
            log.info("call %s: %s for %s succeeded in %.1f ms, charged %d",
                     call_id, function, user, latency_ms, charged)
        else:
            log.warning("call %s: %s for %s %s in %.1f ms, nothing charged: %s",
                        call_id, function, user, status, latency_ms,
                        (detail or error or "").split("\n", 1)[0])
            self._keep_failure(call_id, detail)
        return CallOutcome(call_id, function, user, status, charged, blocks, error, latency_ms,
                           started_at=new_call.started_at,
                           balance_after=self._balance(user, settled.balance),
                           detail=detail)

    def _run(
        self, view: FunctionView, input_json: str, call_id: str, lease: Lease
    ) -> tuple[CallStatus, list[Block], str | None, str | None, str | None]:
        """Run the function in its worker; returns (status, blocks, result JSON, the
        user's message, the admin's detail)."""
        spec = view.spec
        run = lease.run(input_json, spec.timeout)
        if run.status == "succeeded":
            assert run.result_json is not None
            try:
                blocks = _checked_blocks(run.result_json, spec.returns)
            except ValueError as error:
                return ("invalid_result", [], None,
                        f"{spec.name} returned an invalid result: {error}",
                        f"the worker's result failed the host's check: {error}")
            return "succeeded", blocks, run.result_json, None, None
        return run.status, [], None, _tell_user(spec.name, spec.timeout, call_id, run), \
            _tell_admin(run)

    def _keep_failure(self, call_id: str, detail: str | None) -> None:
        if not detail:
            return
        try:
            self._store.record_failure(call_id, detail)
        except Exception:  # diagnostics only: the call is settled and the user answered
            log.warning("call %s: could not keep why it failed", call_id, exc_info=True)

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
        return _outcome(record, replayed=True, balance_after=self._store.balance(user))

    def _balance(self, user: str, known: int | None) -> int:
        """The balance the store reported with the settlement, or read when it did not."""
        return known if known is not None else self._store.balance(user)

    def shutdown(self, wait: float = 5.0) -> None:
        """Stop the workers, then give the calls they were running ``wait`` seconds to be
        settled (released) before the store closes under them."""
        self._pool.close()
        deadline = time.monotonic() + wait
        with self._settled:
            while self._active and (remaining := deadline - time.monotonic()) > 0:
                self._settled.wait(remaining)


def _checked_blocks(result_json: str, declared: tuple[str, ...]) -> list[Block]:
    """A worker's result as blocks, checked again here: the worker runs plugin code, so
    what it sends is taken on trust for nothing."""
    try:
        blocks = blocks_from_json(result_json)
    except ValidationError as error:
        raise ValueError(f"its blocks do not validate ({error.error_count()} problems)") \
            from None
    check_kinds(blocks, declared)
    return blocks


def _tell_user(function: str, timeout: float, call_id: str, run: RunResult) -> str:
    """What the caller is told: what happened, never the exception's text."""
    if run.status == "timeout":
        return f"{function} timed out after {timeout:g} s"
    if run.status == "invalid_result":
        return f"{function} returned an invalid result: {run.error}"
    if run.worker_died:
        return f"{function} failed: {run.error} (reference {call_id})"
    return f"{function} failed (reference {call_id})"


def _tell_admin(run: RunResult) -> str | None:
    parts = [part for part in (run.error, run.detail) if part]
    return "\n\n".join(parts) if parts else None


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


def _outcome(record: CallRecord, replayed: bool, balance_after: int | None = None
             ) -> CallOutcome:
    blocks = blocks_from_json(record.result_json) if record.result_json else []
    return CallOutcome(
        record.call_id, record.function, record.user, record.status, record.charged, blocks,
        record.error, record.latency_ms, replayed, cached=record.cached,
        started_at=record.started_at, balance_after=balance_after,
    )
