"""The OpenAPI document: FastAPI's, plus one path per function with its input model as
the request body, and problem+json (RFC 9457) as the body of every error response.
"""

from __future__ import annotations

import inspect
from typing import Any

from fastapi import Body, Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from tokenworks.catalog import FunctionView

from .auth import bearer
from .models import CallResult
from .problems import MEDIA_TYPE, TITLES, FieldProblem, Problem
from .routes_calls import CALL_ERRORS, IdempotencyKey

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
ALWAYS = (500, 503)  # any route may answer these
WITH_BODY = (413,)  # and these when it takes a body


def function_route(view: FunctionView) -> APIRoute:
    """A documentation-only route: POST /functions/<name>/calls with the model as body."""
    spec = view.spec

    def endpoint(**_: Any) -> None:  # never called: the generic route serves the path
        raise NotImplementedError

    endpoint.__signature__ = inspect.Signature([  # type: ignore[attr-defined]
        inspect.Parameter("payload", inspect.Parameter.KEYWORD_ONLY,
                          annotation=spec.input_model, default=Body()),
        inspect.Parameter("idempotency_key", inspect.Parameter.KEYWORD_ONLY,
                          annotation=IdempotencyKey, default=None),
    ])
    return APIRoute(
        f"/functions/{spec.name}/calls", endpoint, methods=["POST"], response_model=CallResult,
        responses=CALL_ERRORS, tags=["functions"], operation_id=f"call_{spec.name}",
        summary=f"Run {spec.title} ({spec.name})", dependencies=[Depends(bearer)],
        description=f"{spec.description}\n\nCosts {view.cost} tokens per successful call "
                    f"(when this document was made; the catalog has the current cost). "
                    f"Returns blocks of kinds: {', '.join(spec.returns)}.")


def build(app: FastAPI, views: list[FunctionView]) -> dict[str, Any]:
    routes = [*app.routes, *(function_route(view) for view in
                             sorted(views, key=lambda v: v.spec.name))]
    document = get_openapi(title=app.title, version=app.version, description=app.description,
                           routes=routes, servers=[{"url": "/api"}])
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for model in (Problem, FieldProblem):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    for name in ("HTTPValidationError", "ValidationError"):  # replaced by Problem
        schemas.pop(name, None)
    for operations in document["paths"].values():
        for method, operation in operations.items():
            codes = [*ALWAYS, *(WITH_BODY if method in ("post", "put", "patch") else ())]
            responses = operation.setdefault("responses", {})
            for code in codes:
                responses.setdefault(str(code), {})
            for code, response in responses.items():
                if code.isdigit() and int(code) >= 400:
                    response["description"] = TITLES.get(int(code), "Error")
                    response["content"] = {MEDIA_TYPE: {"schema": PROBLEM_REF}}
                    if int(code) in (429, 503):
                        response["headers"] = {"Retry-After": {
                            "description": "seconds to wait", "schema": {"type": "string"}}}
    return document
