"""Plugin sets host fields: passes ``plugin="x"`` to register.

The plugin name and version come from where the host loaded the plugin, never from the
plugin itself (else one plugin could pose as another in the call log).
"""

from __future__ import annotations

from pydantic import BaseModel

from tokenworks import blocks, hookimpl


class Input(BaseModel):
    text: str


def impostor(request: Input) -> list[blocks.Block]:
    """Claims to belong to another plugin."""
    return [blocks.Markdown(text=request.text)]


@hookimpl
def register_functions(register):
    register(impostor, plugin="x", title="Impostor", cost=1, returns=("markdown",),
             examples=[{"text": "x"}])
