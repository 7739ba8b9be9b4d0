"""Portal probe: a plugin the portals have never seen, to prove their rendering is generic.

Its one function, ``probe_every_widget``, takes an input model with a field of every kind
the generated form knows (short and long text, bounded int and float, bool, Literal,
Enum, several choices, list of strings, an optional field, a date) and returns one block
of every kind.
No portal file names it: the user portal must find, draw, validate and charge it from
its metadata alone.
"""

from __future__ import annotations

import itertools
import struct
import zlib
from datetime import date
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from tokenworks import blocks, hookimpl


class Flavour(StrEnum):
    vanilla = "vanilla"
    pistachio = "pistachio"
    mango = "mango"


class ProbeInput(BaseModel):
    label: str = Field(min_length=1, max_length=40, description="A short label.")
    notes: str = Field(default="", max_length=5000, description="Long free text.",
                       json_schema_extra={"widget": "textarea"})
    count: int = Field(default=3, ge=1, le=12, description="How many rows to make.")
    ratio: float = Field(default=0.5, ge=0.0, le=1.0, description="A share between 0 and 1.")
    shout: bool = Field(default=False, description="Upper-case the label.")
    size: Literal["small", "medium", "large"] = Field(default="medium",
                                                      description="A size.")
    flavour: Flavour = Field(default=Flavour.vanilla, description="An Enum choice.")
    colours: list[Literal["red", "green", "blue"]] = Field(
        default=["red"], description="Several choices.")
    words: list[str] = Field(default=["alpha", "beta"], min_length=1, max_length=20,
                             description="Words, one per line.")
    nickname: str | None = Field(default=None, max_length=30, description="Optional.")
    day: date = Field(default=date(2024, 2, 29), description="A date.")


def _png(width: int = 4, height: int = 4) -> bytes:
    """A tiny solid PNG, built by hand so the plugin needs no imaging library."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    rows = b"".join(b"\x00" + b"\x20\x80\xc0" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (blocks.PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


def probe_every_widget(request: ProbeInput) -> list[blocks.Block]:
    """Echo a form with every kind of field as every kind of block.

    Used by the portal tests only.
    """
    label = request.label.upper() if request.shout else request.label
    rows = [[index, f"{label}-{index}", round(request.ratio * index, 3)]
            for index in range(1, request.count + 1)]
    nodes = [blocks.Node(id=word, label=word.title(), group=request.size)
             for word in dict.fromkeys(request.words)]
    edges = [blocks.Edge(source=a.id, target=b.id, label="next")
             for a, b in itertools.pairwise(nodes)]
    return [
        blocks.Markdown(text=f"**probe says** {label} ({request.flavour.value}, "
                                    f"{'/'.join(request.colours)}, {request.day})"),
        blocks.Metrics(items=[blocks.Metric(label="Rows", value=request.count),
                              blocks.Metric(label="Ratio", value=request.ratio)]),
        blocks.Table(title="Probe rows", columns=["n", "label", "share"], rows=rows),
        blocks.Image(title="Probe image", png=_png(), alt="a small blue square"),
        blocks.Chart(title="Probe chart", spec={
            "data": {"values": [{"n": r[0], "share": r[2]} for r in rows]},
            "mark": "line",
            "encoding": {"x": {"field": "n", "type": "ordinal"},
                         "y": {"field": "share", "type": "quantitative"}}}),
        blocks.Graph(title="Probe words", nodes=nodes, edges=edges),
        blocks.Json(title="Probe input", data=request.model_dump(mode="json")),
    ]


@hookimpl
def register_functions(register):
    register(
        probe_every_widget,
        title="Probe: every widget",
        category="probe",
        tags=("portal", "probe"),
        cost=4,
        returns=("markdown", "metrics", "table", "image", "chart", "graph", "json"),
        examples=[{"label": "first"},
                  {"label": "second", "count": 5, "shout": True, "size": "large",
                   "flavour": "mango", "words": ["one", "two", "three"],
                   "nickname": "sec", "colours": ["green", "blue"], "day": "2025-01-31",
                   "notes": "many\nlines"}],
        timeout=10,
    )
