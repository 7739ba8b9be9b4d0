"""The widget tables in the docs say what tokenworks.widgets does.

docs/portals.md and docs/writing-plugins.md carry the same table from field type to
widget. Each row is tried here with real annotations; the widget column must begin with
the name the checker uses for the widget the code picks (tokenworks.widgets.WIDGETS).
"""

from __future__ import annotations

import datetime as dt
import re
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field, create_model

from tokenworks.widgets import WIDGETS, form_widgets

DOCS = Path(__file__).resolve().parents[1] / "docs"
TABLES = {"portals.md": "### The generated form",
          "writing-plugins.md": "### Inputs: which widget each field gets"}
OPTIONAL_ROW = "`X | None`"


class Colour(Enum):
    RED = "red"
    BLUE = "blue"


class Point(BaseModel):
    x: int


# Each row of the tables (its first cell, as the docs spell it) with annotations it means.
ROWS: dict[str, list[Any]] = {
    "`str`": [str, Annotated[str, Field(max_length=500)]],
    '`str` with `max_length` over 500, or `json_schema_extra={"widget": "textarea"}`': [
        Annotated[str, Field(max_length=501)],
        Annotated[str, Field(json_schema_extra={"widget": "textarea"})]],
    "`int`": [int, Annotated[int, Field(ge=0, le=9)]],
    "`float`": [float, Annotated[float, Field(gt=0)]],
    "`bool`": [bool],
    "`bool | None`": [bool | None],
    '`Literal["a", "b"]`, an `Enum`': [Literal["a", "b"], Colour],
    '`list[Literal["a", "b"]]`, a list of an `Enum`': [list[Literal["a", "b"]], list[Colour]],
    "`list[str]`, `list[int]`, `list[float]`": [list[str], list[int], list[float]],
    "`datetime.date`": [dt.date],
    "`datetime.datetime`": [dt.datetime],
    OPTIONAL_ROW: [],  # tried with every other row's annotations below
    "anything else: a `dict`, a nested model, a union such as `int | str`": [
        dict[str, int], Point, int | str],
}


def table(document: str) -> dict[str, str]:
    """The table under the document's heading: first cell -> second cell."""
    text = (DOCS / document).read_text()
    after = text[text.index(TABLES[document]):]
    lines = after.split("\n|", 1)[1].split("\n\n", 1)[0].splitlines()
    rows = {}
    for line in lines[2:]:  # past the header and its rule
        cells = [cell.strip().replace("\\|", "|")
                 for cell in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        rows[cells[0]] = cells[1]
    return rows


def widget_named(cell: str) -> str:
    """The widget whose name the cell begins with (the longest such name)."""
    names = [widget for widget, name in WIDGETS.items()
             if re.match(re.escape(name) + r"($|[;:,( ])", cell)]
    assert names, f"{cell!r} names no widget"
    return max(names, key=lambda widget: len(WIDGETS[widget]))


def widget_of(annotation: Any) -> tuple[str, bool, str]:
    model = create_model("Probe", field=(annotation, ...))
    (field,) = form_widgets(model)
    return field.widget, field.nullable, field.label


@pytest.mark.parametrize("document", sorted(TABLES))
def test_each_row_says_what_the_code_does(document: str) -> None:
    rows = table(document)
    assert list(rows) == list(ROWS)  # no row missing, none unknown, same order in both
    for first, examples in ROWS.items():
        if first == OPTIONAL_ROW:
            assert rows[first].startswith("the widget of `X`, labelled optional")
            continue
        for annotation in examples:
            assert widget_of(annotation)[0] == widget_named(rows[first]), (first, annotation)


def test_x_or_none_keeps_the_widget_of_x_labelled_optional() -> None:
    for first, examples in ROWS.items():
        for annotation in examples:
            widget, nullable, _ = widget_of(annotation)
            if first in ("`bool`", "`bool | None`", OPTIONAL_ROW) or nullable:
                continue  # bool | None has its own row
            optional = create_model("Probe", field=(annotation | None, None))
            (field,) = form_widgets(optional)
            assert (field.widget, field.nullable) == (widget, True), annotation
            assert field.label == "Field (optional)"


def test_every_widget_is_in_the_tables() -> None:
    named = {widget_named(cell) for cell in table("portals.md").values()
             if not cell.startswith("the widget of")}
    assert named == set(WIDGETS)


def test_the_row_check_can_fail() -> None:
    # A table saying checkbox for bool | None (what the checker said before) is caught.
    assert widget_named("checkbox") != widget_of(bool | None)[0]
    assert widget_named("text area, one item per line") == "lines"
    assert widget_named("text area") == "textarea"
