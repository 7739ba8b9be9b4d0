"""The catalog: every function with its cost, switch, block kinds and input JSON Schema."""

from __future__ import annotations

from fastapi import APIRouter, Path

from tokenworks.catalog import FunctionView

from .auth import CallerDep, HostDep
from .models import FunctionInfo

router = APIRouter(tags=["catalog"])
NAME = Path(min_length=1, max_length=100, description="the function's name")


def info(view: FunctionView) -> FunctionInfo:
    spec = view.spec
    return FunctionInfo(
        name=spec.name, title=spec.title, description=spec.description,
        category=spec.category, tags=list(spec.tags), plugin=spec.plugin,
        plugin_version=spec.plugin_version, cost=view.cost, enabled=view.enabled,
        disabled_reason=view.why_disabled(), returns=list(spec.returns), timeout=spec.timeout,
        cache_ttl=spec.cache_ttl,
        input_schema=spec.input_model.model_json_schema(), examples=list(spec.examples),
        calls_url=f"/api/functions/{spec.name}/calls")


@router.get("/functions", response_model=list[FunctionInfo], summary="List the functions",
            responses={401: {}, 429: {}})
def list_functions(host: HostDep, caller: CallerDep) -> list[FunctionInfo]:
    views = sorted(host.functions(), key=lambda v: (v.spec.category, v.spec.name))
    return [info(view) for view in views]


@router.get("/functions/{name}", response_model=FunctionInfo, summary="One function",
            responses={401: {}, 404: {}, 422: {}, 429: {}})
def get_function(host: HostDep, caller: CallerDep, name: str = NAME) -> FunctionInfo:
    return info(host.function(name))
