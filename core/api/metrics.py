"""Prometheus text exposition (format 0.0.4), written by hand: a few counters and one
histogram do not justify a dependency (prometheus_client) and its global registry.

Call figures come from the store's call log (one aggregate query), so they cover calls
from the portals and the CLI as well as the API, and survive restarts; request counts
by status are this process's, since it started.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from tokenworks.host import Host

from .models import FunctionMetrics

BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
ERROR_STATUSES = ("failed", "timeout", "invalid_result", "abandoned")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class RequestCounts:
    """API responses by method and status, filled by the RequestCounter middleware."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, int]] = Counter()
        self._lock = threading.Lock()

    def add(self, method: str, status: int) -> None:
        with self._lock:
            self._counts[(method, status)] += 1

    def snapshot(self) -> dict[tuple[str, int], int]:
        with self._lock:
            return dict(self._counts)


class RequestCounter:
    """ASGI middleware counting every response (413s and 500s included) into ``counts``."""

    def __init__(self, app: ASGIApp, counts: RequestCounts) -> None:
        self.app, self.counts = app, counts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def counted(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                self.counts.add(scope["method"], int(message["status"]))
            await send(message)

        await self.app(scope, receive, counted)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return repr(float(value)) if isinstance(value, float) and not value.is_integer() \
        else str(int(value))


def render(host: Host, requests: dict[tuple[str, int], int]) -> str:
    rows = host.call_metrics(tuple(bound * 1000 for bound in BUCKETS_S))
    out: list[str] = []

    def family(name: str, kind: str, text: str) -> None:
        out.extend([f"# HELP {name} {text}", f"# TYPE {name} {kind}"])

    family("tokenworks_calls_total", "counter", "Metered calls by function and final status.")
    for row in rows:
        out.append(f'tokenworks_calls_total{{function="{_label(row.function)}",'
                   f'status="{_label(row.status)}"}} {row.calls}')
    family("tokenworks_call_errors_total", "counter",
           "Calls that failed, timed out, returned an invalid result or were abandoned.")
    errors: Counter[str] = Counter()
    tokens: Counter[str] = Counter()
    functions = sorted({row.function for row in rows})
    for row in rows:
        errors[row.function] += row.calls if row.status in ERROR_STATUSES else 0
        tokens[row.function] += row.tokens
    for function in functions:
        out.append(f'tokenworks_call_errors_total{{function="{_label(function)}"}} '
                   f"{errors[function]}")
    family("tokenworks_tokens_charged_total", "counter", "Tokens captured by successful calls.")
    for function in functions:
        out.append(f'tokenworks_tokens_charged_total{{function="{_label(function)}"}} '
                   f"{tokens[function]}")
    family("tokenworks_call_duration_seconds", "histogram", "Run time of finished calls.")
    for function in functions:
        mine = [row for row in rows if row.function == function]
        label = _label(function)
        for index, bound in enumerate(BUCKETS_S):
            count = sum(row.buckets[index] for row in mine)
            out.append(f'tokenworks_call_duration_seconds_bucket{{function="{label}",'
                       f'le="{bound}"}} {count}')
        measured = sum(row.latency_count for row in mine)
        total = sum(row.latency_sum_ms for row in mine) / 1000
        out.append(f'tokenworks_call_duration_seconds_bucket{{function="{label}",le="+Inf"}} '
                   f"{measured}")
        out.append(f'tokenworks_call_duration_seconds_sum{{function="{label}"}} '
                   f"{_number(total)}")
        out.append(f'tokenworks_call_duration_seconds_count{{function="{label}"}} {measured}')
    family("tokenworks_api_requests_total", "counter",
           "REST API responses by method and status code, since this process started.")
    for (method, status), count in sorted(requests.items()):
        out.append(f'tokenworks_api_requests_total{{method="{_label(method)}",'
                   f'status="{status}"}} {count}')
    return "\n".join(out) + "\n"


def function_metrics(host: Host) -> list[FunctionMetrics]:
    """The same figures per function, as JSON for the admin routes."""
    rows = host.call_metrics(())
    result = []
    for function in sorted({row.function for row in rows}):
        mine = [row for row in rows if row.function == function]
        measured = sum(row.latency_count for row in mine)
        result.append(FunctionMetrics(
            function=function, calls=sum(row.calls for row in mine),
            succeeded=sum(row.calls for row in mine if row.status == "succeeded"),
            errors=sum(row.calls for row in mine if row.status in ERROR_STATUSES),
            tokens=sum(row.tokens for row in mine),
            mean_latency_ms=(sum(row.latency_sum_ms for row in mine) / measured
                             if measured else None)))
    return result
