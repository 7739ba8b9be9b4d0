"""A form for any function, generated from its input model's JSON Schema.

Each field gets a widget by its type: text, long text, a number within its bounds, a
checkbox, a choice (Literal or Enum), several choices, a list of strings one per line, a
date, or JSON for anything else. Widget keys are namespaced by function name, so example
buttons and "run again" fill a form by writing session_state before it is drawn.
"""

from __future__ import annotations

import json
from datetime import date
from enum import Enum
from typing import Any

import streamlit as st
from pydantic import BaseModel, ValidationError

from .fields import FormField
from .inert import inert_markdown

OMIT = object()  # "leave this field out of the payload": its default applies
FORM_LEVEL = ""  # problems that belong to no single field


def widget_key(function: str, field: str) -> str:
    return f"tw_form:{function}:{field}"


# -- values <-> widgets -----------------------------------------------------------------


def to_widget(field: FormField, value: Any) -> Any:
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


def from_widget(field: FormField, raw: Any) -> tuple[Any, str | None]:
    """A widget's value as a payload value (or OMIT), plus a problem if it cannot be read."""
    empty = raw is None or raw == "" or (field.widget == "lines" and not str(raw).strip())
    if empty:
        if field.nullable:
            # Left out when None is the default anyway: some models' constraints reject an
            # explicit None (pydantic applies max_length before the None branch).
            return (OMIT if field.has_default and field.default is None else None), None
        if field.widget in ("text", "textarea", "datetime"):
            return "", None  # cleared on purpose: the model judges an empty string
        if field.widget == "lines":
            return [], None
        return OMIT, None  # a widget with no value: the default applies, or "Field required"
    match field.widget:
        case "lines":
            return [line.strip() for line in str(raw).splitlines() if line.strip()], None
        case "multichoice":
            return list(raw), None
        case "json":
            try:
                return json.loads(raw), None
            except json.JSONDecodeError as error:
                return OMIT, f"not valid JSON: {error.msg} (line {error.lineno})"
        case _:
            return raw, None


def fill(function: str, fields: list[FormField], values: dict[str, Any]) -> None:
    """Set every widget of the form: from `values` where given, else the field's default.
    Call before the form is drawn (e.g. from a button's on_click)."""
    for field in fields:
        value = values.get(field.name, field.default)
        st.session_state[widget_key(function, field.name)] = to_widget(field, value)


def ensure_state(function: str, fields: list[FormField]) -> None:
    """Give each widget its default, once, through session_state (never also value=)."""
    missing = {f.name for f in fields if widget_key(function, f.name) not in st.session_state}
    for field in fields:
        if field.name in missing:
            st.session_state[widget_key(function, field.name)] = to_widget(field, field.default)


# -- drawing ------------------------------------------------------------------------------


def draw(function: str, field: FormField) -> Any:
    """Draw one field's widget (its value comes from session_state) and return it."""
    key, label, help_ = widget_key(function, field.name), field.label, field.help
    match field.widget:
        case "text" | "datetime":
            placeholder = "YYYY-MM-DDTHH:MM:SS" if field.widget == "datetime" else None
            return st.text_input(label, key=key, help=help_, placeholder=placeholder)
        case "textarea":
            return st.text_area(label, key=key, help=help_)
        case "integer":
            return st.number_input(label, key=key, help=help_, step=1,
                                   min_value=_int(field.minimum), max_value=_int(field.maximum))
        case "number":
            return st.number_input(label, key=key, help=help_, min_value=_float(field.minimum),
                                   max_value=_float(field.maximum), format="%g")
        case "checkbox":
            return st.checkbox(label, key=key, help=help_)
        case "choice":
            return st.selectbox(label, list(field.choices), key=key, help=help_,
                                format_func=_show, placeholder="Choose an option")
        case "multichoice":
            return st.multiselect(label, list(field.choices), key=key, help=help_,
                                  format_func=_show)
        case "lines":
            return st.text_area(label, key=key, help=_join(help_, "One item per line."))
        case "date":
            return st.date_input(label, key=key, help=help_, min_value=date(1900, 1, 1),
                                 max_value=date(2100, 12, 31))
        case _:
            return st.text_area(label, key=key, help=_join(help_, "JSON."))


def draw_all(function: str, fields: list[FormField]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Draw every field with an empty slot under it for its error; returns the raw values
    and the slots (field name -> st.empty)."""
    raw, slots = {}, {}
    for field in fields:
        raw[field.name] = draw(function, field)
        slots[field.name] = st.empty()
    slots[FORM_LEVEL] = st.empty()
    return raw, slots


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)


def _show(value: Any) -> str:
    return {True: "yes", False: "no"}.get(value, str(value)) if isinstance(value, bool) \
        else str(value)


def _join(*parts: str | None) -> str:
    return " ".join(part for part in parts if part)


# -- validation ---------------------------------------------------------------------------


def payload_from(fields: list[FormField], raw: dict[str, Any]
                 ) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The payload the raw widget values make, and problems found reading them."""
    payload, problems = {}, {}
    for field in fields:
        value, problem = from_widget(field, raw.get(field.name))
        if problem:
            problems.setdefault(field.name, []).append(problem)
        if value is not OMIT:
            payload[field.name] = value
    return payload, problems


def validate(model: type[BaseModel], payload: dict[str, Any]
             ) -> tuple[BaseModel | None, dict[str, list[str]]]:
    """Validate with the model; problems keyed by top-level field (FORM_LEVEL if none)."""
    try:
        return model.model_validate(payload), {}
    except (TypeError, ValueError) as error:
        if not isinstance(error, ValidationError):  # a validator that raised the wrong error
            return None, {FORM_LEVEL: [f"the input could not be checked: {error}"]}
        problems: dict[str, list[str]] = {}
        for item in error.errors(include_url=False):
            loc = item["loc"]
            field = str(loc[0]) if loc else FORM_LEVEL
            where = ".".join(str(part) for part in loc[1:])
            message = f"{where}: {item['msg']}" if where else item["msg"]
            problems.setdefault(field, []).append(message)
        return None, problems


def problems_from_pairs(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    """InvalidInputError.problems ("field.path", message) pairs, keyed like validate()."""
    problems: dict[str, list[str]] = {}
    for path, message in pairs:
        head = path.split(".", 1)[0] if path and path != "(input)" else FORM_LEVEL
        problems.setdefault(head, []).append(message)
    return problems


def show_problems(slots: dict[str, Any], problems: dict[str, list[str]]) -> None:
    """Write each problem into the slot under its field (unknown fields: the form's slot)."""
    for field, messages in problems.items():
        slot = slots.get(field, slots[FORM_LEVEL])
        prefix = "" if field in slots else f"{field}: "
        slot.error(inert_markdown(prefix + "; ".join(messages)))  # may quote the input
