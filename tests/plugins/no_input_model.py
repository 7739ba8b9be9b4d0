"""No input model: the first parameter is unannotated and no input_model is given.

The host cannot infer what the function takes, so registration must fail saying so.
"""

from __future__ import annotations

from tokenworks import blocks, hookimpl


def untyped(request) -> list[blocks.Block]:
    """Takes anything."""
    return [blocks.Markdown(text=str(request))]


@hookimpl
def register_functions(register):
    register(untyped, title="Untyped", cost=1, returns=("markdown",), examples=[{"x": 1}])
