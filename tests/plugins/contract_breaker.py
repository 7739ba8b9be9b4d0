"""Contract breaker: loads fine, yet breaks each rule the contract checker enforces.

One function per rule: an example past its timeout, an undeclared block kind, a raising
example, a field only typed as raw JSON (a warning), a result that changes between runs
(a warning), an input model with no JSON Schema, and a Streamlit import the checker must
find without running it (inside a function nobody calls).
"""

from __future__ import annotations

import itertools
import time

from pydantic import BaseModel, ConfigDict, Field

from tokenworks import blocks, hookimpl

_counter = itertools.count()


class Empty(BaseModel):
    pass


class Nested(BaseModel):
    x: int = 0


class JsonField(BaseModel):
    point: Nested = Field(default_factory=Nested, description="Only editable as JSON.")


class Opaque:
    """A type pydantic can validate (arbitrary types) but not describe in JSON Schema."""


class NoSchema(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)
    thing: Opaque = Field(default_factory=Opaque)


def too_slow(request: Empty) -> list[blocks.Block]:
    """Sleeps past its 0.05 s timeout."""
    time.sleep(0.5)
    return [blocks.Markdown(text="late")]


def undeclared(request: Empty) -> list[blocks.Block]:
    """Declares markdown, returns json."""
    return [blocks.Json(data={"not": "declared"})]


def raises(request: Empty) -> list[blocks.Block]:
    """Fails on its example."""
    raise RuntimeError("example input breaks me")


def json_only(request: JsonField) -> list[blocks.Block]:
    """Works, but its field gets the raw JSON widget."""
    return [blocks.Markdown(text=str(request.point.x))]


def random_result(request: Empty) -> list[blocks.Block]:
    """Works, but answers differently every time."""
    return [blocks.Markdown(text=f"call {next(_counter)}")]


def no_schema(request: NoSchema) -> list[blocks.Block]:
    """Works, but the portals cannot draw its form."""
    return [blocks.Markdown(text="ok")]


def draw_with_streamlit() -> None:
    import streamlit as st  # never called: the checker must find it by reading the file

    st.write("plugins must not do this")


@hookimpl
def register_functions(register):
    md = ["markdown"]
    register(too_slow, title="Too slow", cost=1, returns=md, examples=[{}], timeout=0.05)
    register(undeclared, title="Undeclared", cost=1, returns=md, examples=[{}])
    register(raises, title="Raises", cost=1, returns=md, examples=[{}])
    register(json_only, title="JSON only", cost=1, returns=md, examples=[{}])
    register(random_result, title="Random", cost=1, returns=md, examples=[{}])
    register(no_schema, title="No schema", cost=1, returns=md, examples=[{}])
