"""Per-key rate limits (a token bucket per API key, in this process's memory) and the
request body size limit.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .problems import ApiProblem, problem_response


class RateLimiter:
    """``rate`` requests per second per key on average, with bursts of up to ``burst``."""

    def __init__(self, rate: float, burst: int, clock=time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate, self.burst, self._clock = rate, burst, clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, updated)
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        """Take one request from the key's bucket, or raise a 429 with Retry-After."""
        with self._lock:
            now = self._clock()
            tokens, updated = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - updated) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                wait = math.ceil((1.0 - tokens) / self.rate)
                raise ApiProblem(429, "rate-limited",
                                 f"more than {self.burst} requests at once or {self.rate:g}/s "
                                 f"on average for this key; retry in {wait} s",
                                 headers={"Retry-After": str(wait)}, retry_after=wait)
            self._buckets[key] = (tokens - 1.0, now)


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with a 413 problem, whether the client
    declares the length or streams the body in chunks."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        seen, refused, started = 0, False, False

        async def counted() -> Message:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    refused = True
                    raise _TooLarge
            return message

        async def tracked(message: dict[str, Any]) -> None:
            nonlocal started
            if refused and not started:
                return  # the app's answer to a body it could not finish reading: ours wins
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except Exception:
            # _TooLarge itself, or whatever the app made of it (FastAPI: a 400)
            if not refused or started:
                raise
        if refused and not started:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(413, "body-too-large",
                                    f"request bodies are limited to {self.limit} bytes",
                                    limit=self.limit)
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass
