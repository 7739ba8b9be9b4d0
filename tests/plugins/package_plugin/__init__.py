"""Package plugin: a plugin folder with ``__init__.py``, a relative import and ``__version__``.

It also gives its spec explicitly instead of relying on inference: ``name``, ``input_model``
(the function's parameter is unannotated) and ``description`` (which wins over the
docstring).
"""

from __future__ import annotations

from tokenworks import blocks, hookimpl

from .helpers import ShoutInput, shout

__version__ = "2.5.0"


def shout_function(request) -> list[blocks.Block]:
    """This docstring is not the description: the explicit one wins."""
    return [blocks.Markdown(text=shout(request.text))]


@hookimpl
def register_functions(register):
    register(
        shout_function,
        name="shout_text",
        title="Shout",
        description="Upper-cases the text.",
        input_model=ShoutInput,
        cost=0,
        returns=("markdown",),
        examples=[{"text": "quiet please"}],
    )
