"""Two implementations of one hook: ``register_functions`` and, through ``specname``, a
second function that also registers. pluggy accepts both, and the host asks only one, so
the other's function would silently vanish; the loader must refuse the plugin."""

from __future__ import annotations

from pydantic import BaseModel

from tokenworks import blocks, hookimpl


class Empty(BaseModel):
    pass


def _nothing(payload: Empty) -> list[blocks.Block]:
    """Answer nothing."""
    return [blocks.Json(data={})]


@hookimpl
def register_functions(register):
    register(_nothing, name="first_half", description="Registered by the first hook.",
             cost=1, input_model=Empty, examples=[{}])


@hookimpl(specname="register_functions")
def register_more_functions(register):
    register(_nothing, name="second_half", description="Registered by the second hook.",
             cost=1, input_model=Empty, examples=[{}])
