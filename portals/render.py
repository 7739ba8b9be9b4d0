"""Draw a function's result: one small renderer per block kind, chosen by ``block.kind``.
A block that cannot be drawn is shown as JSON with a note, and nothing drawn makes the
browser fetch a URL.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import streamlit as st

from tokenworks import blocks as b

from .inert import inert_markdown

PALETTE = ("#dbeafe", "#dcfce7", "#fef9c3", "#fce7f3", "#ede9fe", "#ffedd5", "#e0f2fe")


def _inert(value: str | int | float | None) -> str | int | float | None:
    return inert_markdown(value) if isinstance(value, str) else value


def _slug(text: str | None, fallback: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", text or "").strip("-").lower()
    return slug or fallback


def markdown(block: b.Markdown, key: str) -> None:
    st.markdown(inert_markdown(block.text))


METRICS_PER_ROW = 4
METRIC_CHARS = 12  # characters of a value that a quarter of the page shows at metric size


def metric_rows(values: Sequence[object]) -> list[list[int]]:
    """Metrics packed into rows of METRICS_PER_ROW units, in order: each takes as many units
    as its value needs to show whole (st.metric cuts a long value with an ellipsis, so
    "Bachelor's degree" in a quarter of the page read "Bachelor's..."). Each row lists its
    metrics' widths in units."""
    rows: list[list[int]] = []
    used = METRICS_PER_ROW
    for value in values:
        width = min(METRICS_PER_ROW, max(1, -(-len(str(value)) // METRIC_CHARS)))
        if used + width > METRICS_PER_ROW:
            rows.append([])
            used = 0
        rows[-1].append(width)
        used += width
    return rows


def metrics(block: b.Metrics, key: str) -> None:
    items = iter(block.items)
    rows = metric_rows([item.value for item in block.items])
    for widths in rows:
        # one row spreads over the page; in a grid, an empty column keeps the units' width
        spare = METRICS_PER_ROW - sum(widths) if len(rows) > 1 else 0
        columns = st.columns([*widths, spare] if spare else widths)
        for column, item in zip(columns, items, strict=False):
            column.metric(inert_markdown(item.label), _inert(item.value),
                          delta=_inert(item.delta), help=_inert(item.help))


def table(block: b.Table, key: str) -> None:
    frame = pd.DataFrame(block.rows, columns=block.columns)
    st.dataframe(frame, hide_index=True)
    st.download_button("Download CSV", frame.to_csv(index=False).encode(),
                       file_name=f"{_slug(block.title, 'table')}.csv", mime="text/csv",
                       key=f"{key}:csv", on_click="ignore", icon=":material/download:")


def image(block: b.Image, key: str) -> None:
    st.image(block.png, caption=inert_markdown(block.alt) or None)
    st.download_button("Download PNG", block.png, file_name=f"{_slug(block.title, 'image')}.png",
                       mime="image/png", key=f"{key}:png", on_click="ignore",
                       icon=":material/download:")


def loads_urls(spec: Any) -> bool:
    """Whether a Vega-Lite spec names anything to load: data from a "url", an image mark's
    "url" channel. Specs from plugins carry their data inline."""
    if isinstance(spec, dict):
        return "url" in spec or any(loads_urls(value) for value in spec.values())
    if isinstance(spec, list):
        return any(loads_urls(value) for value in spec)
    return False


def chart(block: b.Chart, key: str) -> None:
    if loads_urls(block.spec):
        raise ValueError("its spec loads a URL; a chart must carry its data inline")
    st.vega_lite_chart(spec=block.spec, width="stretch")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def dot(block: b.Graph) -> str:
    """The graph as Graphviz DOT: node labels, a fill colour per group, edge labels."""
    groups: dict[str, str] = {}
    lines = ["digraph {" if block.directed else "graph {", "  rankdir=LR;",
             '  node [shape=box, style="rounded,filled", fillcolor="#f1f5f9", '
             'fontname="sans-serif"];', '  edge [fontname="sans-serif", fontsize=10];']
    for node in block.nodes:
        attributes = [f"label={_quote(node.label or node.id)}"]
        if node.group is not None:
            colour = groups.setdefault(node.group, PALETTE[len(groups) % len(PALETTE)])
            attributes.append(f'fillcolor="{colour}"')
        lines.append(f"  {_quote(node.id)} [{', '.join(attributes)}];")
    arrow = " -> " if block.directed else " -- "
    for edge in block.edges:
        label = f" [label={_quote(edge.label)}]" if edge.label else ""
        lines.append(f"  {_quote(edge.source)}{arrow}{_quote(edge.target)}{label};")
    lines.append("}")
    return "\n".join(lines)


def graph(block: b.Graph, key: str) -> None:
    st.graphviz_chart(dot(block), width="stretch")
    labels = {node.id: node.label or node.id for node in block.nodes}
    with st.expander(f"Edges ({len(block.edges)}) and nodes ({len(block.nodes)})"):
        st.dataframe(pd.DataFrame(
            [[labels[e.source], labels[e.target], e.label, e.weight] for e in block.edges],
            columns=["from", "to", "label", "weight"]), hide_index=True)


def json_block(block: b.Json, key: str) -> None:
    st.json(block.data, expanded=2)


RENDERERS: dict[str, Callable[[Any, str], None]] = {
    "markdown": markdown, "metrics": metrics, "table": table, "image": image,
    "chart": chart, "graph": graph, "json": json_block,
}


def _as_json(block: Any) -> Any:
    if hasattr(block, "model_dump"):
        return block.model_dump(mode="json")
    try:
        json.dumps(block)
    except (TypeError, ValueError):
        return repr(block)
    return block


def render_block(block: Any, key: str) -> None:
    kind = getattr(block, "kind", None)
    if kind is None and isinstance(block, dict):
        kind = block.get("kind")
    title = getattr(block, "title", None)
    if title:
        st.markdown(f"**{inert_markdown(title)}**")
    renderer = RENDERERS.get(kind) if isinstance(kind, str) else None
    if renderer is None:
        st.caption(inert_markdown(f"A {kind or 'unknown'} block, shown as JSON."))
        st.json(_as_json(block), expanded=1)
        return
    try:
        renderer(block, key)
    except Exception as error:  # a malformed block must not take the page down
        st.warning(inert_markdown(f"This {kind} block could not be drawn "
                                  f"({type(error).__name__}: {error}); here it is as JSON."))
        st.json(_as_json(block), expanded=1)


def render_blocks(blocks: Sequence[Any], key: str) -> None:
    """Draw blocks in order; `key` makes widget keys unique (e.g. the call id)."""
    if not blocks:
        st.caption("The function returned no blocks.")
    for index, block in enumerate(blocks):
        render_block(block, f"tw_block:{key}:{index}")
