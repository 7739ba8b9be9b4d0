"""Bad name: a function name that is not a slug ("Bad Name!": capitals, space, punctuation)."""

from __future__ import annotations

from pydantic import BaseModel

from tokenworks import blocks, hookimpl


class Input(BaseModel):
    text: str


def shout(request: Input) -> list[blocks.Block]:
    """Shout."""
    return [blocks.Markdown(text=request.text.upper())]


@hookimpl
def register_functions(register):
    register(shout, name="Bad Name!", title="Shout", cost=1, returns=("markdown",),
             examples=[{"text": "hi"}])
