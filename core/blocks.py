"""Typed result blocks: what every function returns instead of drawing anything itself.

Plugins never import Streamlit. They return a list of these blocks; the portals, the CLI
and the REST API each show every kind their own way. Blocks serialize to JSON (images as
base64), so a result crosses from a worker process, is kept with its call and replays
unchanged.

Text fields that the portals draw as markdown (a markdown block's text, every block's title,
metric labels, values, deltas and help, image alt texts) must not carry a user's input as it
stands: ``escape_markdown`` makes such text render literally.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

BlockKind = Literal["markdown", "metrics", "table", "image", "chart", "graph", "json"]
BLOCK_KINDS: tuple[str, ...] = get_args(BlockKind)

Scalar = str | int | float | bool | None
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# CommonMark lets a backslash escape any ASCII punctuation, and an escaped character is
# always literal text. Escaping all of them (not only today's syntax) also defuses the GFM
# and Streamlit extensions that parse: tables ("|"), strikethrough ("~"), LaTeX ("$"),
# colour and icon directives (":red[...]", ":material/...:").
_ASCII_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
_LINE_BREAKS = re.compile(r"[ \t]*(?:\r\n|\r|\n)[ \t]*")
_LEADING_SPACE = re.compile(r"^[ \t]+")  # four columns would start a code block
# Some extensions run on the parsed text, where escapes are gone: GFM's autolinks
# ("http://...", "www.", "a@b.co") and emoji shortcodes (":smile:"). An invisible word
# joiner after each ":" and "@", and between "www" and ".", breaks their patterns.
WORD_JOINER = "\u2060"
_AUTOLINK_TRIGGERS = re.compile(r"(?<=[:@])|(?i:(?<=www)(?=\.))")


def escape_markdown(text: str) -> str:
    """``text`` as markdown that renders literally: for anything a user typed.

    Every ASCII punctuation character is backslash-escaped, so no markdown, HTML, link,
    image, LaTeX or Streamlit directive can start inside it; web and e-mail addresses get
    an invisible word joiner (U+2060) so they are not made links; line breaks become
    spaces, so it cannot end the paragraph it is placed in. Use it inline (in a sentence, a
    heading, a title, a label), not inside a code span, where backslashes show as they are.
    """
    one_line = _LEADING_SPACE.sub(" ", _LINE_BREAKS.sub(" ", text))
    joined = _AUTOLINK_TRIGGERS.sub(WORD_JOINER, one_line)
    return _ASCII_PUNCTUATION.sub(r"\\\1", joined)


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


class InvalidResult(ValueError):
    """What a function returned is not a list of valid blocks; the message is one short line
    for the person who sees the call fail (e.g. "item 0 is a dict without a 'kind'")."""


_KIND_MODELS: dict[str, type[_Block]] = {
    model.model_fields["kind"].default: model
    for model in (Markdown, Metrics, Table, Image, Chart, Graph, Json)
}
_MESSAGE_LIMIT = 240


def coerce_blocks(value: Any) -> list[Block]:
    """Accept what a function returned (one block, a list of blocks or of dicts) as blocks.

    Raises InvalidResult, whose text names the first bad item and what is wrong with it.
    """
    if isinstance(value, _Block | dict):
        value = [value]
    if not isinstance(value, list | tuple):
        raise InvalidResult(f"the result is {_a(value)}, not a list of blocks")
    return [_coerce_item(index, item) for index, item in enumerate(value)]


def check_kinds(blocks: list[Block], declared: tuple[str, ...]) -> None:
    """Raise InvalidResult if ``blocks`` hold a kind the function's spec does not declare."""
    undeclared = sorted({block.kind for block in blocks} - set(declared))
    if undeclared:
        raise InvalidResult(f"returned {', '.join(undeclared)} blocks, which its spec does "
                            f"not declare (declared: {', '.join(declared)})")


def _coerce_item(index: int, item: Any) -> Block:
    if isinstance(item, _Block):
        return item  # validated when it was made, and frozen since
    if not isinstance(item, dict):
        raise InvalidResult(f"item {index} is {_a(item)}, not a block")
    if "kind" not in item:
        raise InvalidResult(f"item {index} is a dict without a 'kind'")
    kind = item["kind"]
    model = _KIND_MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise InvalidResult(_one_line(f"item {index} has the unknown kind {kind!r} "
                                      f"(known: {', '.join(BLOCK_KINDS)})"))
    try:
        return model.model_validate(item)
    except ValidationError as error:
        raise InvalidResult(_one_line(f"item {index} ({kind}): {_first_problem(error, kind)}")) \
            from None
    except (TypeError, ValueError) as error:  # a validator's own error (e.g. json.dumps)
        raise InvalidResult(_one_line(f"item {index} ({kind}): {error}")) from None


def _a(value: Any) -> str:
    """What a value is, for a message: "a str", "an int", "None"."""
    if value is None:
        return "None"
    name = type(value).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


# Names pydantic adds to an error's location for the member of a union that failed.
_UNION_MEMBER = re.compile(r"^(str|int|float|bool|bytes|none)$|\[")


def _place(location: tuple[int | str, ...]) -> str:
    """An error's location as a path ("items[0].value"), union members left out."""
    parts = [part for part in location
             if not (isinstance(part, str) and _UNION_MEMBER.search(part))]
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}"
                   for part in parts).lstrip(".")


def _first_problem(error: ValidationError, kind: str) -> str:
    """The first of pydantic's errors as "where: what", without its dump of a union."""
    problems = error.errors(include_url=False)
    first = problems[0]
    place = _place(first["loc"])
    if first["type"] == "missing":
        return f"'{place}' is missing"
    if first["type"] == "extra_forbidden":
        return f"'{place}' is not a field of a {kind} block"
    if sum(_place(problem["loc"]) == place for problem in problems) > 1:
        return f"{place} cannot be {_a(first['input'])}"  # every member of a union refused it
    what = first["msg"].removeprefix("Value error, ")
    what = what[:1].lower() + what[1:]
    return f"{place}: {what}" if place else what


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MESSAGE_LIMIT else text[:_MESSAGE_LIMIT - 1] + "…"


def blocks_to_json(blocks: list[Block]) -> str:
    return _blocks_adapter.dump_json(blocks).decode()


def blocks_from_json(text: str) -> list[Block]:
    return _blocks_adapter.validate_json(text)
