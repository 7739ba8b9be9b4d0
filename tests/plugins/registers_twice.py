"""Registers twice: one plugin registers the same function name two times."""

from __future__ import annotations

from pydantic import BaseModel

from tokenworks import blocks, hookimpl


class Input(BaseModel):
    text: str


def twin(request: Input) -> list[blocks.Block]:
    """Twin."""
    return [blocks.Markdown(text=request.text)]


@hookimpl
def register_functions(register):
    for _ in range(2):
        register(twin, title="Twin", cost=1, returns=("markdown",), examples=[{"text": "x"}])
