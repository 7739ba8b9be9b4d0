"""Missing example: a function registered with no examples (the portals need at least one)."""

from __future__ import annotations

from pydantic import BaseModel

from tokenworks import blocks, hookimpl


class Input(BaseModel):
    text: str


def echo_without_example(request: Input) -> list[blocks.Block]:
    """Echo."""
    return [blocks.Markdown(text=request.text)]


@hookimpl
def register_functions(register):
    register(echo_without_example, title="Echo", cost=1, returns=("markdown",), examples=[])
