"""Bad example: the example does not validate against the function's own input model.

The field ``count`` must be a whole number of at least 1; the example gives ``"many"``.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from tokenworks import blocks, hookimpl


class Input(BaseModel):
    count: int = Field(ge=1)


def repeat(request: Input) -> list[blocks.Block]:
    """Repeat."""
    return [blocks.Markdown(text="x" * request.count)]


@hookimpl
def register_functions(register):
    register(repeat, title="Repeat", cost=1, returns=("markdown",),
             examples=[{"count": "many"}])
