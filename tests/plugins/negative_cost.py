"""Negative cost: a function whose cost is below zero (it would pay callers to call it)."""

from __future__ import annotations

from pydantic import BaseModel

from tokenworks import blocks, hookimpl


class Input(BaseModel):
    text: str


def refund(request: Input) -> list[blocks.Block]:
    """Pays the caller."""
    return [blocks.Markdown(text=request.text)]


@hookimpl
def register_functions(register):
    register(refund, title="Refund", cost=-3, returns=("markdown",), examples=[{"text": "x"}])
