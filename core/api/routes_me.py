"""The caller's own account: balance, ledger, call history and API keys."""

from __future__ import annotations

from fastapi import APIRouter, Path, Query

from tokenworks.store.base import ApiKey

from .auth import CallerDep, HostDep
from .models import LIMIT_MAX, CallSummary, KeyInfo, LedgerItem, Me, Revoked
from .problems import ApiProblem

router = APIRouter(prefix="/me", tags=["me"], responses={401: {}, 429: {}})
LIMIT = Query(100, ge=1, le=LIMIT_MAX, description="newest first, at most this many")


def key_info(key: ApiKey) -> KeyInfo:
    return KeyInfo(key_id=key.key_id, name=key.name, user=key.user, created_at=key.created_at,
                   revoked_at=key.revoked_at, active=key.active)


@router.get("", response_model=Me, summary="Who you are and your balance")
def me(caller: CallerDep, host: HostDep) -> Me:
    user = host.user(caller.user.name) or caller.user
    return Me(name=user.name, role=user.role, balance=user.balance, created_at=user.created_at)


@router.get("/ledger", response_model=list[LedgerItem], summary="Your token statement",
            responses={422: {}})
def ledger(caller: CallerDep, host: HostDep, limit: int = LIMIT) -> list[LedgerItem]:
    return [LedgerItem(id=e.id, at=e.at, kind=e.kind, amount=e.amount,
                       balance_after=e.balance_after, call_id=e.call_id, actor=e.actor,
                       reason=e.reason)
            for e in host.ledger(caller.user.name, limit=limit)]


@router.get("/calls", response_model=list[CallSummary], summary="Your call history",
            responses={422: {}})
def history(caller: CallerDep, host: HostDep, limit: int = LIMIT) -> list[CallSummary]:
    return [CallSummary(call_id=c.call_id, function=c.function, status=c.status, cost=c.cost,
                        charged=c.charged, started_at=c.started_at, finished_at=c.finished_at,
                        latency_ms=c.latency_ms, error=c.error, cached=c.cached)
            for c in host.calls(caller.user.name, limit=limit)]


@router.get("/keys", response_model=list[KeyInfo], summary="Your API keys (never the secrets)")
def keys(caller: CallerDep, host: HostDep) -> list[KeyInfo]:
    return [key_info(key) for key in host.api_keys(caller.user.name)]


@router.delete("/keys/{key_id}", response_model=Revoked, summary="Revoke one of your keys",
               responses={404: {}, 422: {}})
def revoke(caller: CallerDep, host: HostDep,
           key_id: str = Path(min_length=1, max_length=40)) -> Revoked:
    key = host.api_key(key_id)
    if key is None or key.user != caller.user.name:
        raise ApiProblem(404, "unknown-key", f"no API key {key_id!r} of yours")
    done = host.revoke_api_key(key_id, actor=f"api:{caller.user.name}",
                               reason="revoked via API", owner=caller.user.name)
    return Revoked(key_id=key_id, revoked=done)
