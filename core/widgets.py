"""Which form widget each input field gets: one table from JSON Schema type to widget.

The portals draw a form for any function from its input model's JSON Schema (Gradio's
idea: a table from type to input component). The table lives here, free of Streamlit,
so the contract checker can tell an author which widget each field will get before any
portal runs. It follows the user portal's generated forms: anything the table does not
know is still editable, as raw JSON, which works but is a poor form; the checker warns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

LONG_TEXT = 500  # a string that may be longer than this gets a text area
# widget -> what the person sees, for the checker's report
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


class UnrenderableSchema(ValueError):
    """The input model has no JSON Schema the portals can draw a form from."""


@dataclass(frozen=True)
class FieldWidget:
    name: str
    widget: str
    required: bool
    nullable: bool

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


def widget_for(schema: dict[str, Any], defs: dict[str, Any]) -> str:
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
        return "checkbox"
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
    fields = []
    for name, raw in schema.get("properties", {}).items():
        prop, nullable = resolve(raw, defs)
        fields.append(FieldWidget(name, widget_for(prop, defs), name in required, nullable))
    return fields
