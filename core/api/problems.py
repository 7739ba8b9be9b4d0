"""Errors as RFC 9457 problem details (application/problem+json), never a traceback.

Every refusal the host raises on purpose maps to one status and one problem type; a 422
lists each offending field in ``errors``. Anything unexpected becomes a bare 500 whose
body names only an error id; the traceback goes to the server log under that id.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from tokenworks.errors import (
    BusyError,
    CallRefused,
    FunctionDisabledError,
    IdempotencyConflictError,
    InsufficientTokensError,
    InvalidInputError,
    StorageUnavailableError,
    StoreLockedError,
    TokenworksError,
    UnknownFunctionError,
    UnknownUserError,
)

log = logging.getLogger("tokenworks.api")
MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://tokenworks.dev/problems/"  # a namespace: the docs list every type
TITLES = {400: "Bad request", 401: "Unauthorized", 402: "Insufficient tokens",
          403: "Forbidden", 404: "Not found", 405: "Method not allowed", 409: "Conflict",
          413: "Request body too large", 415: "Unsupported media type",
          422: "Invalid input", 429: "Too many requests", 500: "Internal error",
          503: "Service unavailable"}
STORAGE_RETRY_AFTER = 30  # seconds: a client's next try after "storage unavailable"


class FieldProblem(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details; extension members (balance, needed, ...) may follow."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] | None = None


class ApiProblem(Exception):
    """Raised by routes and dependencies to answer with a problem document."""

    def __init__(self, status: int, kind: str, detail: str, *,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.kind, self.detail = status, kind, detail
        self.headers, self.extra = headers or {}, extra


def problem_response(status: int, kind: str, detail: str, *,
                     headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body = {"type": TYPE_BASE + kind, "title": TITLES.get(status, "Error"), "status": status,
            "detail": detail, **{k: v for k, v in extra.items() if v is not None}}
    return JSONResponse(body, status_code=status, headers=headers, media_type=MEDIA_TYPE)


def from_host_error(error: TokenworksError) -> ApiProblem:
    """The status and problem type of a refusal raised by the host."""
    text = str(error)
    if isinstance(error, InvalidInputError):
        return ApiProblem(422, "invalid-input", text, errors=[
            {"field": field, "message": message} for field, message in error.problems])
    if isinstance(error, InsufficientTokensError):
        return ApiProblem(402, "insufficient-tokens", text, balance=error.balance,
                          needed=error.needed)
    if isinstance(error, UnknownFunctionError):
        return ApiProblem(404, "unknown-function", text)
    if isinstance(error, UnknownUserError):
        return ApiProblem(404, "unknown-user", text)
    if isinstance(error, FunctionDisabledError):
        return ApiProblem(409, "function-disabled", text)
    if isinstance(error, IdempotencyConflictError):
        return ApiProblem(409, "idempotency-conflict", text)
    if isinstance(error, BusyError):
        # The server's capacity, not this client's rate: 503, with when to come back.
        return ApiProblem(503, "busy", text, headers={"Retry-After": str(error.retry_after)},
                          retry_after=error.retry_after)
    if isinstance(error, StorageUnavailableError):
        # A full disk or a lost database: nothing was charged, and an operator must act, so
        # the client is asked to come back later rather than at once.
        return ApiProblem(503, "storage-unavailable", text,
                          headers={"Retry-After": str(STORAGE_RETRY_AFTER)})
    if isinstance(error, StoreLockedError):
        return ApiProblem(503, "unavailable", text, headers={"Retry-After": "5"})
    if isinstance(error, CallRefused):
        return ApiProblem(422, "invalid-input", text)
    return ApiProblem(400, "refused", text)


def _field(location: tuple[Any, ...]) -> str:
    parts = [str(part) for part in location]
    if parts and parts[0] == "body":  # a body field is named as in the function's input
        parts = parts[1:]
    return ".".join(parts) or "(body)"


async def _api_problem(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiProblem)
    return problem_response(error.status, error.kind, error.detail, headers=error.headers,
                            **error.extra)


async def _host_error(request: Request, error: Exception) -> JSONResponse:
    return await _api_problem(request, from_host_error(error))


async def _validation(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = [{"field": _field(tuple(item.get("loc", ()))), "message": str(item.get("msg"))}
              for item in error.errors()]
    listing = "; ".join(f"{item['field']}: {item['message']}" for item in errors)
    return problem_response(422, "invalid-input", f"invalid request: {listing}", errors=errors)


async def _http(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    kind = {404: "not-found", 405: "method-not-allowed"}.get(error.status_code, "http-error")
    detail = error.detail if isinstance(error.detail, str) else TITLES.get(error.status_code, "")
    if error.status_code == 404 and detail == "Not Found":
        detail = f"no route {request.url.path}"
    return problem_response(error.status_code, kind, detail, headers=error.headers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiProblem, _api_problem)
    app.add_exception_handler(TokenworksError, _host_error)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_middleware(CatchAll)


class CatchAll:
    """Innermost-but-one safety net: an unexpected exception becomes a 500 problem.

    (Starlette's own last-resort handler re-raises after answering; this one does not,
    so a server log gets one entry and the client a body with no traceback.)
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:
            error_id = uuid.uuid4().hex[:12]
            log.exception("API error %s on %s %s", error_id, scope["method"], scope["path"])
            if started:
                raise
            response = problem_response(500, "internal", f"an internal error ({error_id}); "
                                        "it is logged under that id", error_id=error_id)
            await response(scope, receive, send)
