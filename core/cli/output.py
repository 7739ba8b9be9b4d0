"""How the CLI prints: aligned tables for people, JSON for programs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, is_dataclass
from datetime import datetime
from typing import Any

import click

from ..blocks import Block


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=_default))


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds") + "Z"
    if is_dataclass(value):
        return asdict(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], empty: str) -> None:
    click.echo(table(headers, rows) if rows else empty)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value)
    return str(value).replace("\n", " ")


def render_block(block: Block) -> str:
    """A terminal rendering of one result block."""
    heading = f"## {block.title}\n" if block.title else ""
    match block.kind:
        case "markdown":
            body = block.text
        case "metrics":
            body = "\n".join(f"{m.label}: {m.value}" + (f" ({m.delta})" if m.delta else "")
                             for m in block.items)
        case "table":
            body = table(block.columns, block.rows)
        case "image":
            body = f"[PNG image, {len(block.png):,} bytes{': ' + block.alt if block.alt else ''}]"
        case "chart":
            body = f"[Vega-Lite chart: {block.spec.get('mark', 'composite')}]"
        case "graph":
            arrow = "->" if block.directed else "--"
            labels = {node.id: node.label or node.id for node in block.nodes}
            edges = [f"{labels[e.source]} {arrow} {labels[e.target]}" for e in block.edges]
            body = f"[graph: {len(block.nodes)} nodes, {len(block.edges)} edges]"
            body += "".join(f"\n  {edge}" for edge in edges)
        case _:
            body = json.dumps(block.data, indent=2)
    return heading + body
