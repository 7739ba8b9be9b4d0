"""The plugin contract: what a FunctionSpec accepts, and what the host fills in itself.

The first half builds FunctionSpec directly, field by field; the second loads real test
plugins (tests/plugins/) and checks what the host made of their registrations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from conftest import TEST_PLUGINS
from pydantic import BaseModel, Field, ValidationError

from tokenworks import FunctionSpec
from tokenworks.host import Host
from tokenworks.spec import infer_input_model
from tokenworks.testing import call, registered


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's shell may point these at a real registry or switch strict mode on.
    for name in ("TOKENWORKS_REGISTRY", "TOKENWORKS_STORE", "TOKENWORKS_STRICT"):
        monkeypatch.delenv(name, raising=False)


class CountInput(BaseModel):
    text: str = Field(min_length=1)
    top: int = Field(default=5, ge=1)


def spec(**changes: Any) -> FunctionSpec:
    """A valid spec, with `changes` applied (a value of ... drops the field)."""
    fields: dict[str, Any] = {
        "name": "count_words",
        "title": "Count words",
        "cost": 1,
        "input_model": CountInput,
        "returns": ("table",),
        "examples": ({"text": "a b c"},),
        "plugin": "example",
        "plugin_version": "1.0",
    }
    fields.update(changes)
    return FunctionSpec(**{k: v for k, v in fields.items() if v is not ...})


def error_fields(error: ValidationError) -> set[str]:
    return {".".join(str(part) for part in item["loc"]) for item in error.errors()}


# -- FunctionSpec fields --------------------------------------------------------------


def test_valid_spec_has_documented_defaults() -> None:
    made = spec()
    assert made.description == ""
    assert made.category == "general"
    assert made.tags == ()
    assert made.timeout == 30.0


@pytest.mark.parametrize("name", ["ab", "count_words", "f2", "a" * 63, "x_1_y"])
def test_slug_names_accepted(name: str) -> None:
    assert spec(name=name).name == name


@pytest.mark.parametrize(
    "name",
    ["", "a", "Bad Name!", "CountWords", "count-words", "2fast", "_hidden", "a" * 64,
     "café", "count words"],
)
def test_non_slug_names_rejected(name: str) -> None:
    with pytest.raises(ValidationError) as caught:
        spec(name=name)
    assert error_fields(caught.value) == {"name"}


@pytest.mark.parametrize("cost", [0, 1, 10_000])
def test_whole_non_negative_costs_accepted(cost: int) -> None:
    assert spec(cost=cost).cost == cost


@pytest.mark.parametrize("cost", [-1, True, False, 1.0, 1.5, "1", None])
def test_other_costs_rejected(cost: Any) -> None:
    # bool is an int subclass in Python; a spec saying cost=True is a bug, not "1 token".
    with pytest.raises(ValidationError) as caught:
        spec(cost=cost)
    assert error_fields(caught.value) == {"cost"}


@pytest.mark.parametrize("returns", [("markdown",), ("metrics", "table", "image", "chart",
                                                    "graph", "json")])
def test_known_block_kinds_accepted(returns: tuple[str, ...]) -> None:
    assert spec(returns=returns).returns == returns


@pytest.mark.parametrize("returns", [(), ("video",), ("Markdown",)])
def test_empty_or_unknown_returns_rejected(returns: tuple[str, ...]) -> None:
    with pytest.raises(ValidationError) as caught:
        spec(returns=returns)
    assert {f.split(".")[0] for f in error_fields(caught.value)} == {"returns"}


def test_returns_listing_a_kind_twice_rejected() -> None:
    with pytest.raises(ValidationError, match="returns lists a block kind twice"):
        spec(returns=("table", "table"))


def test_examples_required() -> None:
    with pytest.raises(ValidationError) as caught:
        spec(examples=())
    assert error_fields(caught.value) == {"examples"}


def test_every_example_must_validate_against_the_input_model() -> None:
    # The second example breaks `top` (ge=1): the message names the example and the field.
    with pytest.raises(ValidationError, match=r"example 1 does not validate: top:"):
        spec(examples=({"text": "fine"}, {"text": "x", "top": 0}))


def test_examples_are_validated_not_just_counted() -> None:
    made = spec(examples=({"text": "x"}, {"text": "y", "top": 3}))
    assert len(made.examples) == 2


@pytest.mark.parametrize("timeout", [0.001, 1, 3600])
def test_timeout_within_bounds_accepted(timeout: float) -> None:
    assert spec(timeout=timeout).timeout == timeout


@pytest.mark.parametrize("timeout", [0, -1, 3600.5, 86400])
def test_timeout_out_of_bounds_rejected(timeout: float) -> None:
    with pytest.raises(ValidationError) as caught:
        spec(timeout=timeout)
    assert error_fields(caught.value) == {"timeout"}


@pytest.mark.parametrize("missing", ["title", "cost", "returns", "examples", "input_model",
                                     "plugin", "plugin_version"])
def test_required_fields(missing: str) -> None:
    with pytest.raises(ValidationError) as caught:
        spec(**{missing: ...})
    assert missing in error_fields(caught.value)


def test_unknown_field_rejected() -> None:
    with pytest.raises(ValidationError) as caught:
        spec(colour="red")
    assert error_fields(caught.value) == {"colour"}


def test_spec_is_frozen() -> None:
    made = spec()
    with pytest.raises(ValidationError):
        made.cost = 99  # type: ignore[misc]


def test_public_dict_carries_the_input_schema_not_the_class() -> None:
    data = spec().public_dict()
    assert "input_model" not in data
    assert data["input_schema"]["properties"]["text"]["type"] == "string"
    assert data["input_schema"]["required"] == ["text"]


# -- input model inference ------------------------------------------------------------


def _annotated(request: CountInput) -> None: ...


def _unannotated(request) -> None: ...  # type: ignore[no-untyped-def]


def _annotated_not_a_model(request: dict) -> None: ...


def _no_parameters() -> None: ...


def _second_parameter_only(first, request: CountInput) -> None: ...  # type: ignore[no-untyped-def]


@pytest.mark.parametrize(
    ("func", "expected"),
    [(_annotated, CountInput), (_unannotated, None), (_annotated_not_a_model, None),
     (_no_parameters, None), (_second_parameter_only, None), (len, None)],
)
def test_infer_input_model(func: Callable[..., Any], expected: type[BaseModel] | None) -> None:
    assert infer_input_model(func) is expected


# -- what the host fills in, through real plugins -------------------------------------


def test_host_fills_plugin_and_version_from_where_it_loaded(make_host: Callable[..., Host]):
    host = make_host("good_plugin.py", "package_plugin")
    greet = host.function("greet").spec
    assert (greet.plugin, greet.plugin_version) == ("good_plugin", "local")
    # A folder plugin's __version__ becomes its version.
    shout = host.function("shout_text").spec
    assert (shout.plugin, shout.plugin_version) == ("package_plugin", "2.5.0")


def test_plugin_may_not_set_host_fields(make_host: Callable[..., Host]) -> None:
    host = make_host("plugin_sets_host_fields.py", "good_plugin.py")
    record = host.plugin("plugin_sets_host_fields").plugin
    assert record is not None and record.status == "failed"
    assert "plugin is filled in by the host" in (record.error or "")
    assert "impostor" not in host._discovery.functions
    assert [v.spec.plugin for v in host.functions()] == ["good_plugin"]


def test_input_model_and_description_inferred(make_host: Callable[..., Host]) -> None:
    greet = make_host("good_plugin.py").function("greet").spec
    assert greet.input_model.__name__ == "GreetInput"
    assert set(greet.input_model.model_fields) == {"name", "excited"}
    # inspect.getdoc: the whole docstring, dedented.
    assert greet.description == ("Greet someone by name.\n\n"
                                 "Returns the greeting as markdown and as json.")
    assert greet.name == "greet"  # from __name__


def test_explicit_name_model_and_description_win(make_host: Callable[..., Host]) -> None:
    host = make_host("package_plugin")
    shout = host.function("shout_text").spec
    assert shout.input_model.__name__ == "ShoutInput"
    assert shout.description == "Upper-cases the text."
    assert "shout_function" not in host._discovery.functions


def test_function_without_inferable_model_rejected(make_host: Callable[..., Host]) -> None:
    record = make_host("no_input_model.py").plugin("no_input_model").plugin
    assert record is not None and record.status == "failed"
    assert "no input_model given" in (record.error or "")


def test_registered_function_runs_with_a_validated_model() -> None:
    with registered(TEST_PLUGINS / "package_plugin") as host:
        result = call(host, "shout_text", {"text": "quiet please"})
    assert [b.text for b in result.blocks] == ["QUIET PLEASE!"]  # type: ignore[union-attr]
    assert result.charged == 0  # package_plugin's function is free
