"""Form probe: one function whose input model has a field of every widget kind.

The portal form tests draw its form and hand the host what the widgets hold; ``form_probe``
accepts whatever the model accepts and returns the input back as json.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator

from tokenworks import blocks, hookimpl


class ProbeInput(BaseModel):
    title: str = Field(min_length=1, max_length=80, description="A title.")
    context: Annotated[str, Field(max_length=500)] | None = None
    top: int = Field(default=5, gt=0, lt=10)
    share: float | None = Field(default=None, ge=0, le=1)
    mode: Literal["a", "b"] = "a"
    kinds: list[Literal["x", "y"]] = ["x"]
    words: list[Annotated[str, Field(max_length=20)]] = Field(default=["w"], min_length=1)
    when: date | None = None
    maybe: bool | None = None
    extra: dict[str, int] = {}

    @field_validator("title")
    @classmethod
    def _no_boom(cls, title: str) -> str:
        if title == "boom":  # a validator raising outside pydantic's error wrapping
            raise TypeError("boom is not a title")
        if title == "nope":  # pydantic words it "Value error, nope is not a title"
            raise ValueError("nope is not a title")
        return title


def form_probe(request: ProbeInput) -> list[blocks.Block]:
    """Return the input it was given."""
    return [blocks.Json(data=request.model_dump(mode="json"))]


@hookimpl
def register_functions(register):
    register(form_probe, title="Form probe", cost=1, returns=("json",),
             examples=[{"title": "T", "words": ["a", "b"], "extra": {"k": 1}}], timeout=10)
