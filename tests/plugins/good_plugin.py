"""Good plugin: a working plugin with one function, the control every other test compares to.

``greet`` costs 2 tokens and returns markdown plus json. Its input model is inferred from the
annotation of its first parameter and its description from its docstring.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from tokenworks import blocks, hookimpl


class GreetInput(BaseModel):
    name: str = Field(min_length=1, max_length=40, description="Who to greet.")
    excited: bool = Field(default=False, description="End with an exclamation mark.")


def greet(request: GreetInput) -> list[blocks.Block]:
    """Greet someone by name.

    Returns the greeting as markdown and as json.
    """
    greeting = f"Hello, {request.name}" + ("!" if request.excited else ".")
    return [
        blocks.Markdown(text=greeting),
        blocks.Json(data={"greeting": greeting, "length": len(request.name)}),
    ]


@hookimpl
def register_functions(register):
    register(
        greet,
        title="Greet",
        category="demo",
        cost=2,
        returns=("markdown", "json"),
        examples=[{"name": "Ada"}, {"name": "Grace", "excited": True}],
        timeout=5,
    )
