"""Health (no key needed) and Prometheus metrics (an admin's key: they show usage)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from .auth import AdminDep, HostDep
from .metrics import CONTENT_TYPE, render
from .models import Health
from .problems import ApiProblem

router = APIRouter(tags=["operations"])


@router.get("/health", response_model=Health, summary="Is the API up and its store answering?",
            responses={503: {"model": Health}})
def health(request: Request, host: HostDep) -> Health | JSONResponse:
    host.ping()  # a real query: the store answers
    if not request.app.state.ready():
        raise ApiProblem(503, "unavailable", "starting: plugins are warming up",
                         headers={"Retry-After": "2"})
    reasons = host.health()  # workers and storage; names no plugin: this route needs no key
    if reasons:
        degraded = Health(status="degraded", functions=len(host.functions()), reasons=reasons)
        return JSONResponse(degraded.model_dump(), status_code=503)
    return Health(status="ok", functions=len(host.functions()))


@router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics",
            responses={200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}},
                       401: {}, 403: {}, 429: {}})
def metrics(request: Request, caller: AdminDep, host: HostDep) -> PlainTextResponse:
    text = render(host, request.app.state.requests.snapshot())
    return PlainTextResponse(text, media_type=CONTENT_TYPE)
