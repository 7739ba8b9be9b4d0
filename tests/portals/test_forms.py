"""The generated form's reading of input models and of widget values (no Streamlit run)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Field

from tokenworks.portals import fields, forms


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class Model(BaseModel):
    title: str = Field(min_length=1, max_length=80, description="A title.")
    # As job_titles declares its context: pydantic applies max_length before the None
    # branch, so an explicit None raises TypeError instead of validating.
    context: Annotated[str | None, BeforeValidator(_strip),
                       Field(default=None, max_length=500)]
    top: int = Field(default=5, gt=0, lt=10)
    share: float | None = Field(default=None, ge=0, le=1)
    mode: Literal["a", "b"] = "a"
    kinds: list[Literal["x", "y"]] = ["x"]
    words: list[str] = Field(default=["w"], min_length=1)
    when: date | None = None
    extra: dict[str, int] = {}


def by_name() -> dict[str, fields.FormField]:
    return {field.name: field for field in fields.fields_of(Model)}


def test_each_type_gets_its_widget() -> None:
    fields = by_name()
    assert {name: field.widget for name, field in fields.items()} == {
        "title": "text", "context": "text", "top": "integer", "share": "number",
        "mode": "choice", "kinds": "multichoice", "words": "lines", "when": "date",
        "extra": "json"}
    assert (fields["top"].minimum, fields["top"].maximum) == (1, 9)  # exclusive bounds
    assert (fields["share"].minimum, fields["share"].maximum) == (0, 1)
    assert fields["share"].nullable and fields["share"].label == "Share (optional)"
    assert fields["kinds"].choices == ("x", "y") and fields["title"].help == "A title."


def test_empty_optional_fields_are_left_out_so_defaults_apply() -> None:
    fields = list(by_name().values())
    raw = {"title": "T", "context": "", "top": 5, "share": None, "mode": "a", "kinds": ["x"],
           "words": "one\n\n two \n", "when": None, "extra": ""}
    payload, problems = forms.payload_from(fields, raw)
    assert problems == {}
    assert payload == {"title": "T", "top": 5, "mode": "a", "kinds": ["x"],
                       "words": ["one", "two"]}
    model, invalid = forms.validate(Model, payload)
    assert invalid == {} and model.context is None


def test_problems_are_keyed_by_field() -> None:
    fields = list(by_name().values())
    raw = {"title": "", "context": "", "top": 5, "share": None, "mode": "a", "kinds": [],
           "words": "   ", "when": None, "extra": "{not json"}
    payload, problems = forms.payload_from(fields, raw)
    assert "not valid JSON" in problems["extra"][0]
    _, invalid = forms.validate(Model, payload)
    assert set(invalid) == {"title", "words"}  # an emptied list stays empty: no default
    assert "at least 1 item" in invalid["words"][0]
    # A validator that raises something other than a validation error: a form-level note.
    _, odd = forms.validate(Model, {"title": "T", "context": None})
    assert list(odd) == [forms.FORM_LEVEL]


def test_values_round_trip_through_widgets() -> None:
    fields = by_name()
    example = {"title": "T", "top": 3, "kinds": ["y"], "words": ["a", "b"],
               "when": "2025-01-31", "extra": {"k": 1}}
    widgets = {name: forms.to_widget(field, example.get(name, field.default))
               for name, field in fields.items()}
    assert widgets["words"] == "a\nb" and widgets["when"] == date(2025, 1, 31)
    payload, problems = forms.payload_from(list(fields.values()), widgets)
    assert problems == {}
    model, invalid = forms.validate(Model, payload)
    assert invalid == {}
    assert (model.words, model.when, model.extra, model.kinds) == (
        ["a", "b"], date(2025, 1, 31), {"k": 1}, ["y"])
