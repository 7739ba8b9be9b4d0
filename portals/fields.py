"""Which widget each field of an input model gets, read from its JSON Schema.

``$ref``s to ``$defs`` (Enums, nested models) are inlined and ``anyOf`` with null (an
Optional field) is unwrapped; what is left picks the widget: text, long text, integer or
number with bounds, checkbox, choice, several choices, lines, date, or JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

LONG_TEXT = 500  # a string that may be longer than this many characters gets a text area


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


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Inline $ref / single allOf and unwrap anyOf-with-null; returns (schema, nullable)."""
    schema = dict(schema)
    ref = schema.pop("$ref", None)
    if ref is None and len(schema.get("allOf", [])) == 1:
        ref = schema.pop("allOf")[0].get("$ref")
    if ref:
        schema = {**defs.get(ref.rsplit("/", 1)[-1], {}), **schema}
    nullable = False
    if "anyOf" in schema:
        options = [_resolve(option, defs)[0] for option in schema.pop("anyOf")]
        kept = [option for option in options if option.get("type") != "null"]
        nullable = len(kept) < len(options)
        if len(kept) == 1:
            schema = {**kept[0], **schema}
        else:
            schema["anyOf"] = kept  # a real union: edited as JSON
    return schema, nullable


def _widget(schema: dict[str, Any], defs: dict[str, Any]) -> str:
    kind = schema.get("type")
    if "enum" in schema or "const" in schema:
        return "choice"
    if kind == "string":
        if schema.get("format") == "date":
            return "date"
        if schema.get("format") == "date-time":
            return "datetime"
        long = schema.get("widget") == "textarea" or schema.get("long_text") is True
        return "textarea" if long or schema.get("maxLength", 0) > LONG_TEXT else "text"
    if kind in ("integer", "number"):
        return kind
    if kind == "boolean":
        return "checkbox"
    if kind == "array":
        items, _ = _resolve(schema.get("items", {}), defs)
        if "enum" in items:
            return "multichoice"
        if items.get("type") in ("string", "integer", "number"):
            return "lines"
    return "json"


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
        prop, nullable = _resolve(raw, defs)
        widget = _widget(prop, defs)
        if widget == "checkbox" and nullable:
            widget, prop = "choice", {**prop, "enum": [True, False]}
        if widget == "choice":
            choices = tuple(prop.get("enum", [prop.get("const")]))
        elif widget == "multichoice":
            choices = tuple(_resolve(prop.get("items", {}), defs)[0]["enum"])
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
