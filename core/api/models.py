"""The API's request and response bodies: pydantic models, so the OpenAPI document, the
validation and the responses come from one definition."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from tokenworks.blocks import Block, BlockKind

LIMIT_MAX = 1000
# A reason needs a character the host does not strip away. Python's str.strip() also strips
# \x1c-\x1f, which \s in JSON Schema (ECMA) and pydantic (Rust) regexes does not match: with
# plain \S a reason of "\x1d" passed validation and the host refused it (a 400 the schema
# did not allow; found by the fuzz test).
REASON_PATTERN = r"[^\s\x1c-\x1f]"
TOKENS_MAX = 1_000_000_000  # one change of a balance or a cost: far below BIGINT's range


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


# The store keeps naive UTC; RFC 3339 (OpenAPI's date-time) needs the offset: "...Z".
Timestamp = Annotated[datetime, AfterValidator(_utc)]


class FunctionInfo(BaseModel):
    name: str
    title: str
    description: str
    category: str
    tags: list[str]
    plugin: str
    plugin_version: str
    cost: int = Field(description="tokens charged per successful call, as of now")
    enabled: bool
    disabled_reason: str | None = None
    returns: list[BlockKind] = Field(description="the block kinds a result may hold")
    timeout: float = Field(description="seconds")
    cache_ttl: float | None = Field(
        default=None, description="seconds a result is answered from the result cache for "
                                  "the same input; null: every call runs the function")
    input_schema: dict[str, Any] = Field(description="JSON Schema of the call's input")
    examples: list[dict[str, Any]]
    calls_url: str = Field(description="POST the input here to run the function")


class CallResult(BaseModel):
    call_id: str
    function: str
    user: str
    status: str = Field(description="succeeded, failed, timeout, invalid_result, abandoned "
                                    "or (only when read while it runs) running")
    charged: int = Field(description="tokens this call cost: its price if it succeeded, else 0")
    balance: int | None = Field(default=None, description="the caller's balance afterwards")
    blocks: list[Block] = Field(description="the result; images carry base64 PNG")
    error: str | None = None
    latency_ms: float | None = None
    replayed: bool = Field(default=False, description="true when an earlier call with the "
                                                      "same Idempotency-Key answered")
    cached: bool = Field(default=False, description="true when the result came from the "
                         "result cache (the function did not run); charged like any other. "
                         "Nothing says when or for whom the cached result was computed")
    started_at: Timestamp | None = None


class Me(BaseModel):
    name: str
    role: str
    balance: int
    created_at: Timestamp


class LedgerItem(BaseModel):
    id: int
    at: Timestamp
    kind: str
    amount: int
    balance_after: int
    call_id: str | None
    actor: str
    reason: str


class CallSummary(BaseModel):
    call_id: str
    function: str
    status: str
    cost: int
    charged: int
    started_at: Timestamp
    finished_at: Timestamp | None
    latency_ms: float | None
    error: str | None
    cached: bool = Field(default=False, description="answered from the result cache")


class KeyInfo(BaseModel):
    key_id: str
    name: str
    user: str
    created_at: Timestamp
    revoked_at: Timestamp | None
    active: bool


class Revoked(BaseModel):
    key_id: str
    revoked: bool = Field(description="false when the key was revoked already")


class FunctionChange(BaseModel):
    # "enabled, cost or both", said in the schema too, so clients and fuzzers know it.
    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"required": ["enabled"], "properties": {"enabled": {"type": "boolean"}}},
        {"required": ["cost"], "properties": {"cost": {"type": "integer"}}}]})

    enabled: bool | None = Field(default=None, description="switch the function on or off")
    cost: int | None = Field(default=None, ge=0, le=TOKENS_MAX, description="new cost")
    reason: str = Field(min_length=1, max_length=500, pattern=REASON_PATTERN,
                        description="why: kept in the audit log")


class PluginChange(BaseModel):
    enabled: bool
    reason: str = Field(min_length=1, max_length=500, pattern=REASON_PATTERN)


class PluginState(BaseModel):
    plugin: str
    enabled: bool
    changed: bool


class Grant(BaseModel):
    model_config = ConfigDict(json_schema_extra={
        "not": {"required": ["amount"], "properties": {"amount": {"const": 0}}}})

    amount: int = Field(ge=-TOKENS_MAX, le=TOKENS_MAX,
                        description="tokens to give (> 0) or take back (< 0); not 0")
    reason: str = Field(min_length=1, max_length=500, pattern=REASON_PATTERN)


class CacheCleared(BaseModel):
    function: str | None = Field(description="the function whose entries were dropped; "
                                             "null: every function's")
    dropped: int = Field(description="how many cached results were dropped")


class Balance(BaseModel):
    user: str
    balance: int


class UserInfo(BaseModel):
    name: str
    role: str
    balance: int
    created_at: Timestamp


class AuditEntry(BaseModel):
    id: int
    at: Timestamp
    actor: str
    target_kind: str
    target: str
    field: str
    before: str | None
    after: str | None
    reason: str


class FunctionMetrics(BaseModel):
    function: str
    calls: int
    succeeded: int
    errors: int = Field(description="calls that failed, timed out or returned invalid results")
    tokens: int
    mean_latency_ms: float | None


class Health(BaseModel):
    status: str  # ok, or degraded (then 503, with reasons)
    functions: int
    reasons: list[str] = []  # why the service is degraded; names no plugin
