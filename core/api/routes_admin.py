"""Admin routes: switches, costs, grants, users, the result cache, metrics, the audit log.

Every route checks the caller's role as the store has it now (auth.get_admin); every
change carries a reason and lands in the audit log with the actor ``api:<admin>``.
"""

from __future__ import annotations

from fastapi import APIRouter, Path, Query

from .auth import AdminDep, HostDep
from .metrics import function_metrics
from .models import (
    LIMIT_MAX,
    REASON_PATTERN,
    AuditEntry,
    Balance,
    CacheCleared,
    FunctionChange,
    FunctionInfo,
    FunctionMetrics,
    Grant,
    PluginChange,
    PluginState,
    UserInfo,
)
from .problems import ApiProblem
from .routes_catalog import info

router = APIRouter(prefix="/admin", tags=["admin"], responses={401: {}, 403: {}, 429: {}})
NAME = Path(min_length=1, max_length=100)


def _actor(caller: AdminDep) -> str:
    return f"api:{caller.user.name}"


@router.patch("/functions/{name}", response_model=FunctionInfo,
              summary="Switch a function on or off, or set its cost",
              responses={400: {}, 404: {}, 413: {}, 422: {}})
def change_function(change: FunctionChange, caller: AdminDep, host: HostDep,
                    name: str = NAME) -> FunctionInfo:
    if change.enabled is None and change.cost is None:
        raise ApiProblem(422, "invalid-input", "give enabled, cost or both",
                         errors=[{"field": "enabled", "message": "enabled or cost is required"}])
    host.function(name)  # 404 before anything changes
    if change.cost is not None:
        host.set_cost(name, change.cost, actor=_actor(caller), reason=change.reason)
    if change.enabled is not None:
        host.set_function_enabled(name, change.enabled, actor=_actor(caller),
                                  reason=change.reason)
    return info(host.function(name))


@router.patch("/plugins/{name}", response_model=PluginState, summary="Switch a plugin",
              responses={400: {}, 404: {}, 413: {}, 422: {}})
def change_plugin(change: PluginChange, caller: AdminDep, host: HostDep,
                  name: str = NAME) -> PluginState:
    if host.plugin(name) is None:
        raise ApiProblem(404, "unknown-plugin", f"no plugin named {name!r}")
    changed = host.set_plugin_enabled(name, change.enabled, actor=_actor(caller),
                                      reason=change.reason)
    return PluginState(plugin=name, enabled=change.enabled, changed=changed)


@router.post("/users/{name}/grants", response_model=Balance,
             summary="Give tokens to a user (or take them back with a negative amount)",
             responses={400: {}, 402: {}, 404: {}, 413: {}, 422: {}})
def grant(body: Grant, caller: AdminDep, host: HostDep, name: str = NAME) -> Balance:
    if body.amount == 0:
        raise ApiProblem(422, "invalid-input", "the amount must not be zero",
                         errors=[{"field": "amount", "message": "must not be zero"}])
    balance = host.grant(name, body.amount, actor=_actor(caller), reason=body.reason)
    return Balance(user=name, balance=balance)


@router.delete("/cache", response_model=CacheCleared,
               summary="Clear the result cache: every function's entries, or one function's",
               responses={404: {}, 422: {}})
def clear_cache(
    caller: AdminDep, host: HostDep,
    reason: str = Query(min_length=1, max_length=500, pattern=REASON_PATTERN,
                        description="why: kept in the audit log"),
    function: str | None = Query(None, min_length=1, max_length=100,
                                 description="only this function's entries (default: all)"),
) -> CacheCleared:
    dropped = host.clear_cache(function, actor=_actor(caller), reason=reason)
    return CacheCleared(function=function, dropped=dropped)


@router.get("/users", response_model=list[UserInfo], summary="Every user with their balance")
def users(caller: AdminDep, host: HostDep) -> list[UserInfo]:
    return [UserInfo(name=u.name, role=u.role, balance=u.balance, created_at=u.created_at)
            for u in host.users()]


@router.get("/metrics", response_model=list[FunctionMetrics],
            summary="Calls, errors, tokens and latency per function, since the store began")
def metrics(caller: AdminDep, host: HostDep) -> list[FunctionMetrics]:
    return function_metrics(host)


@router.get("/audit", response_model=list[AuditEntry], summary="The audit log, newest first",
            responses={422: {}})
def audit(caller: AdminDep, host: HostDep,
          limit: int = Query(100, ge=1, le=LIMIT_MAX)) -> list[AuditEntry]:
    return [AuditEntry(id=c.id, at=c.at, actor=c.actor, target_kind=c.target_kind,
                       target=c.target, field=c.field, before=c.before, after=c.after,
                       reason=c.reason) for c in host.audit(limit)]
