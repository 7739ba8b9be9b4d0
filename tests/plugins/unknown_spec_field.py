"""Unknown spec field: register() is given a keyword FunctionSpec does not know (``colour``).

A typo in a spec field must be an error, not silently dropped.
"""

from __future__ import annotations

from pydantic import BaseModel

from tokenworks import blocks, hookimpl


class Input(BaseModel):
    text: str


def painted(request: Input) -> list[blocks.Block]:
    """Painted."""
    return [blocks.Markdown(text=request.text)]


@hookimpl
def register_functions(register):
    register(painted, title="Painted", cost=1, returns=("markdown",), examples=[{"text": "x"}],
             colour="red")
