"""Result blocks: each kind validates, and every kind survives a JSON round trip unchanged.

The call log stores results as JSON and replays them, so a round trip must give back
equal blocks (images included, as base64 in the JSON and bytes again in Python).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from tokenworks import blocks
from tokenworks.blocks import (
    BLOCK_KINDS,
    PNG_SIGNATURE,
    Chart,
    Edge,
    Graph,
    Image,
    InvalidResult,
    Json,
    Markdown,
    Metric,
    Metrics,
    Node,
    Table,
    blocks_from_json,
    blocks_to_json,
    coerce_blocks,
)

# The smallest valid PNG: a 1x1 transparent pixel.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)

ONE_OF_EACH: list[Any] = [
    Markdown(text="# Title\n\nSome *markdown*.", title="Notes"),
    Metrics(items=[Metric(label="Words", value=12), Metric(label="Share", value=0.5,
                                                           delta="+0.1", help="of all")]),
    Table(columns=["word", "count", "share", "seen", "note"],
          rows=[["data", 3, 0.5, True, None], ["engineer", 2, 0.25, False, "ok"]]),
    Image(png=PNG, alt="one pixel", title="Pixel"),
    Chart(spec={"mark": "bar", "data": {"values": [{"a": 1}]},
                "encoding": {"x": {"field": "a", "type": "quantitative"}}}),
    Graph(nodes=[Node(id="a", label="A", group="g", size=2.0), Node(id="b")],
          edges=[Edge(source="a", target="b", label="knows", weight=0.5)], directed=False),
    Json(data={"nested": [1, 2.5, "three", None, True, {"k": []}]}),
]


def test_one_of_each_covers_every_kind() -> None:
    assert sorted(block.kind for block in ONE_OF_EACH) == sorted(BLOCK_KINDS)


@pytest.mark.parametrize("block", ONE_OF_EACH, ids=lambda block: block.kind)
def test_round_trip(block: Any) -> None:
    text = blocks_to_json([block])
    back = blocks_from_json(text)
    assert back == [block]
    assert type(back[0]) is type(block)
    assert json.loads(text)[0]["kind"] == block.kind


def test_round_trip_of_a_whole_result() -> None:
    assert blocks_from_json(blocks_to_json(ONE_OF_EACH)) == ONE_OF_EACH


def test_image_bytes_are_base64_in_json() -> None:
    data = json.loads(blocks_to_json([Image(png=PNG)]))[0]
    assert data == {"title": None, "kind": "image", "png": base64.b64encode(PNG).decode(),
                    "alt": ""}
    back = blocks_from_json(json.dumps([data]))[0]
    assert isinstance(back, Image) and back.png == PNG


@pytest.mark.parametrize("raw", [b"", b"GIF89a....", b"\xff\xd8\xff\xe0JFIF", PNG[1:],
                                 b"not a png at all"])
def test_non_png_bytes_rejected(raw: bytes) -> None:
    with pytest.raises(ValidationError, match="PNG signature"):
        Image(png=raw)


def test_non_png_rejected_from_json_too() -> None:
    jpeg = base64.b64encode(b"\xff\xd8\xff\xe0JFIF").decode()
    with pytest.raises(ValidationError, match="PNG signature"):
        blocks_from_json(json.dumps([{"kind": "image", "png": jpeg}]))


def test_png_signature_constant() -> None:
    assert PNG.startswith(PNG_SIGNATURE)


def test_table_rows_must_match_the_columns() -> None:
    with pytest.raises(ValidationError, match="row 1 has 1 cells, expected 2"):
        Table(columns=["a", "b"], rows=[[1, 2], [3]])
    with pytest.raises(ValidationError, match="row 0 has 3 cells, expected 2"):
        Table(columns=["a", "b"], rows=[[1, 2, 3]])


def test_table_needs_columns_and_scalar_cells() -> None:
    with pytest.raises(ValidationError):
        Table(columns=[], rows=[])
    with pytest.raises(ValidationError):
        Table(columns=["a"], rows=[[[1, 2]]])  # a list is not a cell
    with pytest.raises(ValidationError):
        Table(columns=["a"], rows=[[{"x": 1}]])


def test_empty_table_and_records() -> None:
    assert Table(columns=["a"], rows=[]).records() == []
    table = Table(columns=["word", "count"], rows=[["data", 3], ["ml", 1]])
    assert table.records() == [{"word": "data", "count": 3}, {"word": "ml", "count": 1}]


def test_graph_edges_must_name_known_nodes() -> None:
    with pytest.raises(ValidationError, match=r"edge a->c names unknown node\(s\) \['c'\]"):
        Graph(nodes=[Node(id="a"), Node(id="b")], edges=[Edge(source="a", target="c")])
    with pytest.raises(ValidationError, match=r"\['x', 'y'\]"):
        Graph(nodes=[Node(id="a")], edges=[Edge(source="x", target="y")])


def test_graph_node_ids_unique() -> None:
    with pytest.raises(ValidationError, match="unique"):
        Graph(nodes=[Node(id="a"), Node(id="a", label="again")])


def test_graph_without_edges_and_self_loop() -> None:
    assert Graph(nodes=[Node(id="a")]).edges == []
    assert Graph(nodes=[Node(id="a")], edges=[Edge(source="a", target="a")]).directed


@pytest.mark.parametrize("view", ["mark", "layer", "concat", "hconcat", "vconcat", "facet",
                                  "repeat", "spec"])
def test_chart_accepts_each_vega_lite_view(view: str) -> None:
    assert Chart(spec={view: "bar" if view == "mark" else []}).spec


@pytest.mark.parametrize("spec", [{}, {"data": {"values": []}}, {"type": "bar"},
                                  {"$schema": "https://vega.github.io/schema/vega-lite/v5.json"}])
def test_chart_needs_a_vega_lite_view(spec: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="Vega-Lite"):
        Chart(spec=spec)


@pytest.mark.parametrize("data", [None, 1, 2.5, "text", [1, "a"], {"a": {"b": [None]}}])
def test_json_accepts_serializable_data(data: Any) -> None:
    assert blocks_from_json(blocks_to_json([Json(data=data)])) == [Json(data=data)]


@pytest.mark.parametrize("data", [{1, 2}, object(), {"when": b"bytes"}, [complex(1, 2)]])
def test_json_rejects_unserializable_data(data: Any) -> None:
    # json.dumps raises TypeError inside the validator; pydantic lets that through as is.
    with pytest.raises((ValidationError, TypeError)):
        Json(data=data)


def test_chart_spec_must_be_serializable() -> None:
    with pytest.raises((ValidationError, TypeError)):
        Chart(spec={"mark": "bar", "data": {"values": {1, 2}}})


def test_metrics_needs_items_and_metric_values_are_scalars() -> None:
    with pytest.raises(ValidationError):
        Metrics(items=[])
    with pytest.raises(ValidationError):
        Metric(label="x", value=[1])  # type: ignore[arg-type]


# What a function returned and the one plain line its caller is shown (no pydantic dump).
BAD_RESULTS: list[tuple[Any, str]] = [
    ("just text", "the result is a str, not a list of blocks"),
    (42, "the result is an int, not a list of blocks"),
    (None, "the result is None, not a list of blocks"),
    ({"kind", "markdown"}, "the result is a set, not a list of blocks"),
    (iter([Markdown(text="x")]), "the result is a list_iterator, not a list of blocks"),
    ([{"text": "no kind"}], "item 0 is a dict without a 'kind'"),
    ([Markdown(text="fine"), "not a block"], "item 1 is a str, not a block"),
    ([{"kind": "video", "url": "x"}],
     "item 0 has the unknown kind 'video' (known: markdown, metrics, table, image, chart, "
     "graph, json)"),
    ([{"kind": "markdown", "text": "x", "colour": "red"}],
     "item 0 (markdown): 'colour' is not a field of a markdown block"),
    ([{"kind": "markdown"}], "item 0 (markdown): 'text' is missing"),
    ([{"kind": "markdown", "text": 5}], "item 0 (markdown): text: input should be a valid string"),
    ([{"kind": "json", "data": 1}, {"kind": "json", "data": 2},
      {"kind": "table", "columns": ["a", "b", "c", "d"],
       "rows": [[1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 3, 4], [1, 2]]}],
     "item 2 (table): row 3 has 2 cells, expected 4"),
    ([{"kind": "table", "columns": ["a"], "rows": [[[1, 2]]]}],
     "item 0 (table): rows[0][0] cannot be a list"),
    ([{"kind": "metrics", "items": [{"label": "a", "value": {"x": 1}}]}],
     "item 0 (metrics): items[0].value cannot be a dict"),
    ([{"kind": "json", "data": {1, 2}}], "item 0 (json): Object of type set is not JSON "
                                         "serializable"),
    ([{"kind": "graph", "nodes": [{"id": "a"}], "edges": [{"source": "a", "target": "b"}]}],
     "item 0 (graph): edge a->b names unknown node(s) ['b']"),
]


@pytest.mark.parametrize(("value", "message"), BAD_RESULTS, ids=lambda v: str(v)[:30])
def test_a_bad_result_gets_one_plain_line(value: Any, message: str) -> None:
    with pytest.raises(InvalidResult) as raised:
        coerce_blocks(value)
    assert str(raised.value) == message
    assert isinstance(raised.value, ValueError)  # what the meter catches as invalid_result


def test_a_long_complaint_is_cut_to_one_short_line() -> None:
    with pytest.raises(InvalidResult) as raised:
        coerce_blocks([{"kind": "x\n" * 500}])
    text = str(raised.value)
    assert "\n" not in text and len(text) <= 240 and text.endswith("…")


def test_blocks_are_frozen() -> None:
    block = Markdown(text="x")
    with pytest.raises(ValidationError):
        block.text = "changed"  # type: ignore[misc]


# -- coerce_blocks: what a function may return ----------------------------------------


def test_coerce_single_block() -> None:
    block = Markdown(text="one")
    assert coerce_blocks(block) == [block]


def test_coerce_list_and_tuple() -> None:
    assert coerce_blocks(ONE_OF_EACH) == ONE_OF_EACH
    assert coerce_blocks(tuple(ONE_OF_EACH)) == ONE_OF_EACH
    assert coerce_blocks([]) == []


def test_coerce_dicts() -> None:
    assert coerce_blocks({"kind": "markdown", "text": "a dict"}) == [Markdown(text="a dict")]
    mixed = coerce_blocks([{"kind": "json", "data": [1]}, Markdown(text="b"),
                           {"kind": "table", "columns": ["a"], "rows": [[1]]}])
    assert [type(block) for block in mixed] == [Json, Markdown, Table]


def test_coerce_image_dict_takes_bytes_or_base64() -> None:
    # A dict may carry the PNG as bytes (Python) or as base64 text (as stored in JSON).
    as_bytes = coerce_blocks({"kind": "image", "png": PNG})
    as_text = coerce_blocks({"kind": "image", "png": base64.b64encode(PNG).decode()})
    assert as_bytes == as_text == [Image(png=PNG)]
    with pytest.raises(InvalidResult, match="PNG signature"):
        coerce_blocks({"kind": "image", "png": base64.b64encode(b"GIF89a").decode()})


class NotABlock(BaseModel):
    text: str


def test_coerce_names_a_model_that_is_not_a_block() -> None:
    with pytest.raises(InvalidResult, match=r"^the result is a NotABlock, not a list of blocks$"):
        coerce_blocks(NotABlock(text="x"))
    with pytest.raises(InvalidResult, match=r"^item 0 is a NotABlock, not a block$"):
        coerce_blocks([NotABlock(text="x")])


def test_public_module_exports_the_block_union() -> None:
    # Plugins annotate `-> list[blocks.Block]`; the alias must stay importable from there.
    assert blocks.Block is not None
    assert set(BLOCK_KINDS) == {"markdown", "metrics", "table", "image", "chart", "graph",
                                "json"}
