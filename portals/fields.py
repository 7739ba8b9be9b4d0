"""Which widget each field of an input model gets, read from its JSON Schema.

``$ref``s to ``$defs`` (Enums, nested models) are inlined and ``anyOf`` with null (an
Optional field) is unwrapped; what is left picks the widget: text, long text, integer or
number with bounds, checkbox, choice, several choices, lines, date, or JSON. The table
itself is tokenworks.widgets, shared with `tokenworks check`, so the checker and the
portals cannot disagree about what a field gets; this module adds what a form needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from tokenworks.widgets import resolve, widget_for


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    help: str | None
    widget: str  # text, textarea, integer, number, checkbox, choice, multichoice, lines, date,
    #              datetime, json
    required: bool
    nullable: bool
    has_default: bool
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] = ()


def _bounds(schema: dict[str, Any], integer: bool) -> tuple[float | None, float | None]:
    step = 1 if integer else 0
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is None and "exclusiveMinimum" in schema:
        low = schema["exclusiveMinimum"] + step
    if high is None and "exclusiveMaximum" in schema:
        high = schema["exclusiveMaximum"] - step
    return low, high


def fields_of(model: type[BaseModel]) -> list[FormField]:
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    required = set(schema.get("required", []))
    fields = []
    for name, raw in schema.get("properties", {}).items():
        prop, nullable = resolve(raw, defs)
        widget = widget_for(prop, defs)
        if widget == "checkbox" and nullable:
            widget, prop = "choice", {**prop, "enum": [True, False]}
        if widget == "choice":
            choices = tuple(prop.get("enum", [prop.get("const")]))
        elif widget == "multichoice":
            choices = tuple(resolve(prop.get("items", {}), defs)[0]["enum"])
        else:
            choices = ()
        low, high = _bounds(prop, widget == "integer")
        title = prop.get("title") or name.replace("_", " ").capitalize()
        optional = nullable and name not in required
        fields.append(FormField(
            name=name, label=title + (" (optional)" if optional else ""),
            help=prop.get("description"), widget=widget, required=name in required,
            nullable=nullable, has_default="default" in prop, default=prop.get("default"),
            minimum=low, maximum=high, choices=choices))
    return fields
