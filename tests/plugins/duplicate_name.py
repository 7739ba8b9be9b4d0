"""Duplicate name: registers a function called ``greet``, the name good_plugin uses.

Function names are global; whichever of the two plugins loads second must fail with an
error naming both plugins. Folder plugins load in file-name order, so this one is first.
"""

from __future__ import annotations

from pydantic import BaseModel

from tokenworks import blocks, hookimpl


class Input(BaseModel):
    name: str


def greet(request: Input) -> list[blocks.Block]:
    """Another greeting under the same name."""
    return [blocks.Markdown(text=f"Hi {request.name}")]


@hookimpl
def register_functions(register):
    register(greet, title="Greet again", cost=1, returns=("markdown",),
             examples=[{"name": "Ada"}])
