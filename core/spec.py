"""A function's spec: the metadata the host, the meter and the portals work from."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from .blocks import Block, BlockKind
from .errors import describe_validation_error

SLUG = r"^[a-z][a-z0-9_]{1,62}$"
CACHE_TTL_MAX = 30 * 24 * 3600  # a month: longer-lived data belongs in a new plugin version


class FunctionSpec(BaseModel):
    """Everything a caller needs to know about a function before running it."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    name: str = Field(pattern=SLUG, description="unique slug: lowercase letters, digits, _")
    title: str = Field(min_length=1, max_length=80)
    description: str = Field(default="", description="markdown")
    category: str = Field(default="general", min_length=1, max_length=40)
    tags: tuple[str, ...] = ()
    cost: StrictInt = Field(ge=0, description="tokens charged per successful call")
    input_model: type[BaseModel]
    returns: tuple[BlockKind, ...] = Field(min_length=1, description="block kinds it returns")
    examples: tuple[dict[str, Any], ...] = Field(min_length=1)
    timeout: float = Field(default=30.0, gt=0, le=3600, description="seconds")
    concurrency: StrictInt | None = Field(
        default=None, ge=1, le=256,
        description="calls of it that may run at once (default: the host's [workers] "
                    "per_function; never more than the host's worker count)")
    cache_ttl: float | None = Field(
        default=None, gt=0, le=CACHE_TTL_MAX,
        description="seconds a successful result may be answered from the result cache "
                    "for the same input and plugin version; None: never cached")
    # Filled in by the host from where the plugin was loaded; never taken from the plugin.
    plugin: str
    plugin_version: str

    @field_validator("cache_ttl", mode="before")
    @classmethod
    def _ttl_not_bool(cls, value: Any) -> Any:
        # pydantic would take True as 1.0 s: almost certainly a mistake for "cache it".
        if isinstance(value, bool):
            raise ValueError("cache_ttl is a number of seconds, not true/false")
        return value

    @model_validator(mode="after")
    def _examples_validate(self) -> FunctionSpec:
        for index, example in enumerate(self.examples):
            try:
                self.input_model.model_validate(example)
            except ValidationError as error:
                detail = "; ".join(f"{f}: {m}" for f, m in describe_validation_error(error))
                raise ValueError(f"example {index} does not validate: {detail}") from None
        if len(set(self.returns)) != len(self.returns):
            raise ValueError("returns lists a block kind twice")
        return self

    def public_dict(self) -> dict[str, Any]:
        """JSON-ready description, with the input model as its JSON Schema."""
        data = self.model_dump(exclude={"input_model"})
        data["input_schema"] = self.input_model.model_json_schema()
        return data


Runner = Callable[[BaseModel], "list[Block] | Block"]


@dataclass(frozen=True)
class Function:
    spec: FunctionSpec
    run: Runner


def infer_input_model(func: Callable[..., Any]) -> type[BaseModel] | None:
    """The pydantic model annotated on the function's first parameter, if any."""
    try:
        parameters = list(inspect.signature(func).parameters.values())
        hints = inspect.get_annotations(func, eval_str=True)
    except (TypeError, ValueError, NameError):
        return None
    if not parameters:
        return None
    hint = hints.get(parameters[0].name)
    if inspect.isclass(hint) and issubclass(hint, BaseModel):
        return hint
    return None
