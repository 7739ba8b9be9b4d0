"""Typed result blocks: what every function returns instead of drawing anything itself.

Plugins never import Streamlit. They return a list of these blocks; the portals, the CLI
and (later) the REST API each know how to show every kind. All blocks serialize to JSON
(images as base64), so a result can be stored in the call log and replayed unchanged.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

BlockKind = Literal["markdown", "metrics", "table", "image", "chart", "graph", "json"]
BLOCK_KINDS: tuple[str, ...] = get_args(BlockKind)

Scalar = str | int | float | bool | None
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class _Block(BaseModel):
    # Frozen so a stored result cannot be mutated behind the call log's back.
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str | None = None


class Markdown(_Block):
    kind: Literal["markdown"] = "markdown"
    text: str


class Metric(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str
    value: str | int | float
    delta: str | int | float | None = None
    help: str | None = None


class Metrics(_Block):
    kind: Literal["metrics"] = "metrics"
    items: list[Metric] = Field(min_length=1)


class Table(_Block):
    kind: Literal["table"] = "table"
    columns: list[str] = Field(min_length=1)
    rows: list[list[Scalar]]

    @model_validator(mode="after")
    def _rows_match_columns(self) -> Table:
        width = len(self.columns)
        for index, row in enumerate(self.rows):
            if len(row) != width:
                raise ValueError(f"row {index} has {len(row)} cells, expected {width}")
        return self

    def records(self) -> list[dict[str, Scalar]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


class Image(_Block):
    # Raw bytes in Python, base64 in JSON: plugins hand over PNG bytes as they are.
    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    kind: Literal["image"] = "image"
    png: bytes
    alt: str = ""

    @field_validator("png")
    @classmethod
    def _is_png(cls, value: bytes) -> bytes:
        if not value.startswith(PNG_SIGNATURE):
            raise ValueError("image.png must be PNG bytes (missing PNG signature)")
        return value


_VEGA_LITE_VIEWS = {"mark", "layer", "concat", "hconcat", "vconcat", "facet", "repeat", "spec"}


class Chart(_Block):
    kind: Literal["chart"] = "chart"
    spec: dict[str, Any]

    @field_validator("spec")
    @classmethod
    def _looks_like_vega_lite(cls, value: dict[str, Any]) -> dict[str, Any]:
        if not _VEGA_LITE_VIEWS & value.keys():
            raise ValueError("chart.spec must be a Vega-Lite spec (with a mark, layer or concat)")
        json.dumps(value)  # must be JSON as it stands: portals hand it to Vega-Lite verbatim
        return value


class Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    label: str | None = None
    group: str | None = None
    size: float | None = None


class Edge(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    target: str
    label: str | None = None
    weight: float | None = None


class Graph(_Block):
    kind: Literal["graph"] = "graph"
    nodes: list[Node]
    edges: list[Edge] = []
    directed: bool = True

    @model_validator(mode="after")
    def _edges_join_known_nodes(self) -> Graph:
        ids = {node.id for node in self.nodes}
        if len(ids) != len(self.nodes):
            raise ValueError("graph node ids must be unique")
        for edge in self.edges:
            missing = {edge.source, edge.target} - ids
            if missing:
                raise ValueError(
                    f"edge {edge.source}->{edge.target} names unknown node(s) {sorted(missing)}"
                )
        return self


class Json(_Block):
    kind: Literal["json"] = "json"
    data: Any

    @field_validator("data")
    @classmethod
    def _serializable(cls, value: Any) -> Any:
        json.dumps(value)
        return value


Block = Annotated[
    Markdown | Metrics | Table | Image | Chart | Graph | Json, Field(discriminator="kind")
]
_blocks_adapter: TypeAdapter[list[Block]] = TypeAdapter(list[Block])


def coerce_blocks(value: Any) -> list[Block]:
    """Accept what a function returned (one block, a list of blocks or of dicts) as blocks.

    Raises pydantic.ValidationError (or TypeError) when it is not a valid result.
    """
    if isinstance(value, BaseModel) and not isinstance(value, _Block):
        raise TypeError(f"a function returned {type(value).__name__}, not a result block")
    if isinstance(value, _Block | dict):
        value = [value]
    if not isinstance(value, list | tuple):
        raise TypeError(f"a function must return a list of blocks, not {type(value).__name__}")
    return _blocks_adapter.validate_python(list(value))


def blocks_to_json(blocks: list[Block]) -> str:
    return _blocks_adapter.dump_json(blocks).decode()


def blocks_from_json(text: str) -> list[Block]:
    return _blocks_adapter.validate_json(text)
