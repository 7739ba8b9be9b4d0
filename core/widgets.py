"""Which form widget each input field gets, and how a value goes into and out of it.

The one mapping from field type to widget: the portals draw their forms from it,
`tokenworks check` reports from it, and the widget tables in the docs are tested against
it. It reads the input model's JSON Schema and is free of Streamlit. Anything it does not
know is still editable, as raw JSON (the checker warns). Converting a widget's value to
the payload (lines to a list, JSON text to a value) belongs here too; judging the payload
is the host's job alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from enum import Enum
from typing import Any

from pydantic import BaseModel

from .errors import InvalidInputError

LONG_TEXT = 500  # a string that may be longer than this gets a text area
# widget -> what the person sees: the checker's report and the docs' tables say this
WIDGETS = {
    "text": "text box",
    "textarea": "text area",
    "integer": "whole-number box",
    "number": "number box",
    "checkbox": "checkbox",
    "choice": "drop-down",
    "multichoice": "multi-select",
    "lines": "text area, one item per line",
    "date": "date picker",
    "datetime": "date-time text box",
    "json": "raw JSON text area",
}
FALLBACK = "json"
OMIT = object()  # a payload value meaning "leave this field out": its default applies
TEXT_WIDGETS = ("text", "textarea", "datetime")


class UnrenderableSchema(ValueError):
    """The input model has no JSON Schema the portals can draw a form from."""


@dataclass(frozen=True)
class FieldWidget:
    """One input field with its widget and what the widget needs to be drawn."""

    name: str
    widget: str  # a key of WIDGETS
    required: bool
    nullable: bool
    label: str = ""
    help: str | None = None
    has_default: bool = False
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] = ()

    @property
    def fallback(self) -> bool:
        return self.widget == FALLBACK


def resolve(schema: dict[str, Any], defs: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Inline a $ref (or a single allOf) and unwrap anyOf-with-null; (schema, nullable)."""
    schema = dict(schema)
    ref = schema.pop("$ref", None)
    if ref is None and len(schema.get("allOf", [])) == 1:
        ref = schema.pop("allOf")[0].get("$ref")
    if ref:
        target = ref.rsplit("/", 1)[-1]
        if not ref.startswith("#/$defs/") or target not in defs:
            raise UnrenderableSchema(f"reference {ref!r} does not resolve")
        schema = {**defs[target], **schema}
    nullable = False
    if "anyOf" in schema:
        options = [resolve(option, defs)[0] for option in schema.pop("anyOf")]
        kept = [option for option in options if option.get("type") != "null"]
        nullable = len(kept) < len(options)
        if len(kept) == 1:
            schema = {**kept[0], **schema}
        else:
            schema["anyOf"] = kept  # a real union: only JSON can hold it
    return schema, nullable


def widget_for(schema: dict[str, Any], defs: dict[str, Any], nullable: bool = False) -> str:
    kind = schema.get("type")
    if "enum" in schema or "const" in schema:
        return "choice"
    if kind == "string":
        if schema.get("format") in ("date", "date-time"):
            return "date" if schema["format"] == "date" else "datetime"
        long = schema.get("widget") == "textarea" or schema.get("long_text") is True
        return "textarea" if long or schema.get("maxLength", 0) > LONG_TEXT else "text"
    if kind in ("integer", "number"):
        return kind
    if kind == "boolean":
        # A checkbox has no "not given": yes, no or empty needs a drop-down.
        return "choice" if nullable else "checkbox"
    if kind == "array":
        items, _ = resolve(schema.get("items", {}), defs)
        if "enum" in items:
            return "multichoice"
        if items.get("type") in ("string", "integer", "number"):
            return "lines"
    return FALLBACK


def form_widgets(model: type[BaseModel]) -> list[FieldWidget]:
    """Each field of the input model with its widget; raises UnrenderableSchema."""
    try:
        schema = model.model_json_schema()
    except Exception as error:  # pydantic raises several types for types without a schema
        first_line = (str(error).strip().splitlines() or [""])[0]  # drop pydantic's URL line
        raise UnrenderableSchema(f"no JSON Schema: {type(error).__name__}: {first_line}"
                                 ) from None
    if schema.get("type") != "object":
        raise UnrenderableSchema(f"the schema is a {schema.get('type')!r}, not an object")
    defs = schema.get("$defs", {})
    required = set(schema.get("required", []))
    return [_field(name, raw, defs, name in required)
            for name, raw in schema.get("properties", {}).items()]


def _field(name: str, raw: dict[str, Any], defs: dict[str, Any], required: bool
           ) -> FieldWidget:
    prop, nullable = resolve(raw, defs)
    widget = widget_for(prop, defs, nullable)
    if widget == "choice":
        choices = (True, False) if prop.get("type") == "boolean" else tuple(
            prop.get("enum", [prop.get("const")]))
    elif widget == "multichoice":
        choices = tuple(resolve(prop.get("items", {}), defs)[0]["enum"])
    else:
        choices = ()
    low, high = _bounds(prop, widget == "integer")
    # The field's own title: a $ref'd Enum or model would lend its class name.
    title = raw.get("title") or name.replace("_", " ").capitalize()
    optional = nullable and not required
    return FieldWidget(
        name=name, widget=widget, required=required, nullable=nullable,
        label=title + (" (optional)" if optional else ""), help=prop.get("description"),
        has_default="default" in prop, default=prop.get("default"), minimum=low,
        maximum=high, choices=choices)


def _bounds(schema: dict[str, Any], integer: bool) -> tuple[float | None, float | None]:
    step = 1 if integer else 0
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is None and "exclusiveMinimum" in schema:
        low = schema["exclusiveMinimum"] + step
    if high is None and "exclusiveMaximum" in schema:
        high = schema["exclusiveMaximum"] - step
    return low, high


# -- values into and out of widgets ---------------------------------------------------------


def widget_value(field: FieldWidget, value: Any) -> Any:
    """A payload value (JSON-like: from an example, a default or a past call) as the
    value its widget holds."""
    if isinstance(value, Enum):
        value = value.value
    match field.widget:
        case "text" | "textarea" | "datetime":
            return "" if value is None else str(value)
        case "integer":
            return None if value is None else int(value)
        case "number":
            return None if value is None else float(value)
        case "checkbox":
            return bool(value)
        case "choice":
            return value if value in field.choices else None
        case "multichoice":
            values = [v.value if isinstance(v, Enum) else v for v in value or []]
            return [v for v in values if v in field.choices]
        case "lines":
            return "\n".join(str(item) for item in value or [])
        case "date":
            return date.fromisoformat(value[:10]) if isinstance(value, str) else value
        case _:
            return "" if value is None else json.dumps(value, indent=2, default=str)


def payload_value(field: FieldWidget, raw: Any) -> Any:
    """A widget's value as the payload's (OMIT: leave the field out). Raises ValueError
    when the widget's text cannot be read at all (JSON that does not parse)."""
    empty = raw is None or raw == "" or (field.widget == "lines" and not str(raw).strip())
    if empty:
        if field.nullable:
            # Left out when None is the default anyway: some models' constraints reject an
            # explicit None (pydantic applies max_length before the None branch).
            return OMIT if field.has_default and field.default is None else None
        if field.widget in TEXT_WIDGETS:
            return ""  # cleared on purpose: the model judges an empty string
        if field.widget == "lines":
            return []
        return OMIT  # a widget with no value: the default applies, or "Field required"
    match field.widget:
        case "lines":
            return [line.strip() for line in str(raw).splitlines() if line.strip()]
        case "multichoice":
            return list(raw)
        case "json":
            try:
                return json.loads(raw)
            except json.JSONDecodeError as error:
                # Sent on as text, a union with str would take it as meant: stop here.
                raise ValueError(f"not valid JSON: {error.msg} (line {error.lineno})"
                                 ) from None
        case _:
            return raw


def payload_of(function: str, fields: list[FieldWidget], raw: dict[str, Any]
               ) -> dict[str, Any]:
    """The payload a form's widget values make. A widget whose text cannot be read is
    refused in the host's own shape (InvalidInputError, one problem per field); judging
    the values is left to the host."""
    payload, unreadable = {}, []
    for field in fields:
        try:
            value = payload_value(field, raw.get(field.name))
        except ValueError as error:
            unreadable.append((field.name, str(error)))
            continue
        if value is not OMIT:
            payload[field.name] = value
    if unreadable:
        raise InvalidInputError(function, unreadable)
    return payload
