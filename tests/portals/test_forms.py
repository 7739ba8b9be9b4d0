"""The generated form: fields read from input models, widget values turned into the
payload, and the host's problems keyed by field (no Streamlit run)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from tokenworks.errors import InvalidInputError
from tokenworks.portals import forms
from tokenworks.throwaway_host import CALLER, candidate_for, fund_caller, throwaway_host
from tokenworks.widgets import FieldWidget, form_widgets, payload_of, widget_value

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"


@pytest.fixture(scope="module")
def host():
    """A real host over the form_probe plugin: the host is the form's only judge."""
    with throwaway_host([candidate_for(PLUGINS / "form_probe.py")]) as made:
        fund_caller(made, CALLER, 100)
        yield made


@pytest.fixture(scope="module")
def fields(host) -> dict[str, FieldWidget]:
    model = host.function("form_probe").spec.input_model
    return {field.name: field for field in form_widgets(model)}


def test_each_type_gets_its_widget(fields) -> None:
    assert {name: field.widget for name, field in fields.items()} == {
        "title": "text", "context": "text", "top": "integer", "share": "number",
        "mode": "choice", "kinds": "multichoice", "words": "lines", "when": "date",
        "maybe": "choice", "extra": "json"}
    assert fields["maybe"].choices == (True, False)  # yes, no, or left empty
    assert (fields["top"].minimum, fields["top"].maximum) == (1, 9)  # exclusive bounds
    assert (fields["share"].minimum, fields["share"].maximum) == (0, 1)
    assert fields["share"].nullable and fields["share"].label == "Share (optional)"
    assert fields["kinds"].choices == ("x", "y") and fields["title"].help == "A title."


def test_empty_optional_fields_are_left_out_so_defaults_apply(host, fields) -> None:
    raw = {"title": "T", "context": "", "top": 5, "share": None, "mode": "a", "kinds": ["x"],
           "words": "one\n\n two \n", "when": None, "extra": ""}
    payload = payload_of("form_probe", list(fields.values()), raw)
    assert payload == {"title": "T", "top": 5, "mode": "a", "kinds": ["x"],
                       "words": ["one", "two"]}
    outcome = host.call("form_probe", CALLER, payload)
    assert outcome.ok, outcome.error
    taken = outcome.blocks[0].data  # the input as the function got it: defaults applied
    assert (taken["context"], taken["share"], taken["maybe"], taken["extra"]) == (
        None, None, None, {})


def test_unreadable_json_is_refused_in_the_hosts_shape(fields) -> None:
    raw = {"title": "T", "extra": "{not json", "words": "a"}
    with pytest.raises(InvalidInputError) as refused:
        payload_of("form_probe", list(fields.values()), raw)
    [(field, message)] = refused.value.problems
    assert field == "extra" and message.startswith("not valid JSON")


def test_the_hosts_problems_are_keyed_by_field(host, fields) -> None:
    raw = {"title": "", "context": "", "top": 5, "share": None, "mode": "a", "kinds": [],
           "words": "   ", "when": None, "extra": '{"k": "many"}'}
    with pytest.raises(InvalidInputError) as refused:
        host.call("form_probe", CALLER, payload_of("form_probe", list(fields.values()), raw))
    problems = forms.problems_by_field(refused.value.problems)
    assert set(problems) == {"title", "words", "extra"}  # an emptied list stays empty
    assert "at least 1 item" in problems["words"][0]
    assert problems["extra"][0].startswith("k: ")  # the nested path stays in the message
    # A validator that raises something other than a validation error: a form-level note.
    with pytest.raises(InvalidInputError) as odd:
        host.call("form_probe", CALLER, {"title": "boom"})
    assert list(forms.problems_by_field(odd.value.problems)) == [forms.FORM_LEVEL]


def test_problems_read_as_a_person_counts_and_in_the_validators_words(host, fields) -> None:
    raw = {name: widget_value(field, field.default) for name, field in fields.items()}
    raw |= {"title": "nope", "words": "short\nfar too long for one of the words"}
    with pytest.raises(InvalidInputError) as refused:
        host.call("form_probe", CALLER, payload_of("form_probe", list(fields.values()), raw))
    # The host's path counts from 0, as JSON does; the form names the line a person sees.
    assert ("words.1", "String should have at most 20 characters") in refused.value.problems
    problems = forms.problems_by_field(refused.value.problems)
    assert problems["words"] == ["line 2: String should have at most 20 characters"]
    # The validator's own words, without pydantic's "Value error, " before them.
    assert problems["title"] == ["nope is not a title"]


def test_values_round_trip_through_widgets(host, fields) -> None:
    example = {"title": "T", "top": 3, "kinds": ["y"], "words": ["a", "b"],
               "when": "2025-01-31", "extra": {"k": 1}}
    widgets = {name: widget_value(field, example.get(name, field.default))
               for name, field in fields.items()}
    assert widgets["words"] == "a\nb" and widgets["when"] == date(2025, 1, 31)
    payload = payload_of("form_probe", list(fields.values()), widgets)
    assert payload["words"] == ["a", "b"] and payload["when"] == date(2025, 1, 31)
    assert payload["extra"] == {"k": 1} and payload["kinds"] == ["y"]
    assert host.call("form_probe", CALLER, payload).ok
