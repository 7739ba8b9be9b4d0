"""The table from input field type to portal widget, which the checker reports from."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

from tokenworks.widgets import UnrenderableSchema, form_widgets


class Colour(Enum):
    RED = "red"
    BLUE = "blue"


class Point(BaseModel):
    x: int


class Everything(BaseModel):
    short: str
    long: str = Field(default="", max_length=2000)
    count: int = Field(default=1, ge=0)
    ratio: float = 0.5
    flag: bool = False
    maybe_flag: bool | None = None
    level: Literal["junior", "senior"] = "junior"
    colour: Colour = Colour.RED
    colours: list[Colour] = []
    names: list[str] = []
    day: dt.date = dt.date(2025, 1, 1)
    moment: dt.datetime = dt.datetime(2025, 1, 1)
    optional_text: str | None = None
    point: Point = Point(x=0)
    union: int | str = 0


def test_every_field_type_gets_its_widget() -> None:
    widgets = {field.name: field.widget for field in form_widgets(Everything)}
    assert widgets == {
        "short": "text", "long": "textarea", "count": "integer", "ratio": "number",
        "flag": "checkbox", "maybe_flag": "choice", "level": "choice", "colour": "choice",
        "colours": "multichoice", "names": "lines", "day": "date", "moment": "datetime",
        "optional_text": "text", "point": "json", "union": "json",
    }


def test_required_nullable_and_fallback_flags() -> None:
    fields = {field.name: field for field in form_widgets(Everything)}
    assert fields["short"].required and not fields["count"].required
    assert fields["optional_text"].nullable and not fields["short"].nullable
    assert fields["point"].fallback and not fields["names"].fallback


def test_a_model_without_json_schema_is_unrenderable() -> None:
    class Opaque:
        pass

    class Model(BaseModel):
        model_config = ConfigDict(arbitrary_types_allowed=True)
        thing: Opaque

    with pytest.raises(UnrenderableSchema, match="no JSON Schema: PydanticInvalidForJsonSchema"):
        form_widgets(Model)
