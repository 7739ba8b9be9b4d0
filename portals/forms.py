"""Drawing a function's input form with Streamlit, and its problems beside the fields.

Which widget each field gets, and how values go into and out of widgets, is
tokenworks.widgets (the one mapping); the problems shown are the host's. Widget keys are
namespaced by function name, so example buttons and "run again" fill a form by writing
session_state before it is drawn.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import streamlit as st

from tokenworks.widgets import FieldWidget, widget_value

from .inert import inert_markdown

FORM_LEVEL = ""  # problems that belong to no single field


def widget_key(function: str, field: str) -> str:
    return f"tw_form:{function}:{field}"


def fill(function: str, fields: list[FieldWidget], values: dict[str, Any]) -> None:
    """Set every widget of the form: from `values` where given, else the field's default.
    Call before the form is drawn (e.g. from a button's on_click)."""
    for field in fields:
        value = values.get(field.name, field.default)
        st.session_state[widget_key(function, field.name)] = widget_value(field, value)


def ensure_state(function: str, fields: list[FieldWidget]) -> None:
    """Give each widget its default, once, through session_state (never also value=)."""
    for field in fields:
        key = widget_key(function, field.name)
        if key not in st.session_state:
            st.session_state[key] = widget_value(field, field.default)


# -- drawing ------------------------------------------------------------------------------


def draw(function: str, field: FieldWidget) -> Any:
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


def draw_all(function: str, fields: list[FieldWidget]) -> tuple[dict[str, Any], dict[str, Any]]:
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


# -- problems ---------------------------------------------------------------------------


def problems_by_field(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    """InvalidInputError.problems, ("field.path", message) pairs, keyed by top-level field
    (FORM_LEVEL for problems of the whole input); a nested path stays in the message."""
    problems: dict[str, list[str]] = {}
    for path, message in pairs:
        head, _, rest = path.partition(".") if path != "(input)" else (FORM_LEVEL, "", "")
        problems.setdefault(head, []).append(f"{_for_people(rest)}: {message}" if rest
                                             else message)
    return problems


def _for_people(path: str) -> str:
    """A path inside a field, as the form shows it: a list field is drawn one item per
    line, so its index (from 0 in the path) becomes the line a person counts from 1."""
    first, _, rest = path.partition(".")
    if not first.isdigit():
        return path
    line = f"line {int(first) + 1}"
    return f"{line}, {rest}" if rest else line


def show_problems(slots: dict[str, Any], problems: dict[str, list[str]]) -> None:
    """Write each problem into the slot under its field (unknown fields: the form's slot)."""
    for field, messages in problems.items():
        slot = slots.get(field, slots[FORM_LEVEL])
        prefix = "" if field in slots else f"{field}: "
        slot.error(inert_markdown(prefix + "; ".join(messages)))  # may quote the input
