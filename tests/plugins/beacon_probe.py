"""Beacon probe: a plugin that echoes a URL into every markdown field, unescaped.

``beacon_everywhere`` puts image syntax (inline, reference and shortcut images, raw HTML
<img>, <picture>, <video>, <audio>, <iframe>, <link>, <object>, <embed>, <svg>, CSS
url(), KaTeX \\includegraphics) that names the given base URL into a markdown block, block
titles, metric labels, values, deltas and help, an image's alt text, and a chart that loads
data from the URL: everything a careless plugin could do. The browser test
(tests/browser/test_beacons_browser.py) checks that drawing it fetches nothing. Its last
block echoes ``text`` through blocks.escape_markdown, which must show it exactly as typed.
"""

from __future__ import annotations

import struct
import zlib

from pydantic import BaseModel, Field

from tokenworks import blocks, hookimpl


class BeaconInput(BaseModel):
    base: str = Field(max_length=200, description="The URL the beacons name (no slash at "
                                                  "the end).")
    text: str = Field(default="", max_length=1000, description="Echoed, escaped.")


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x80\x20\x20" * 2 for _ in range(2))
    return (blocks.PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


def beacon_everywhere(request: BeaconInput) -> list[blocks.Block]:
    """Name a URL in every markdown field, as images and HTML; then echo a text escaped."""
    u = request.base
    raw = "\n\n".join([
        f"inline ![inline]({u}/inline.png) and linked [![nested]({u}/nested.png)]({u}/)",
        f"reference ![ref][r] collapsed ![c][] shortcut ![s]\n\n[r]: {u}/reference.png\n"
        f"[c]: {u}/collapsed.png\n[s]: {u}/shortcut.png",
        f'<img src="{u}/html-img.png">',
        f'<picture><source srcset="{u}/picture.png"><img src="{u}/picture-img.png"></picture>',
        f'<video src="{u}/video.mp4" autoplay muted></video>',
        f'<audio src="{u}/audio.mp3" autoplay></audio>',
        f'<iframe src="{u}/iframe.html"></iframe>',
        f'<link rel="stylesheet" href="{u}/style.css">',
        f'<object data="{u}/object.png"></object><embed src="{u}/embed.png">',
        f'<svg><image href="{u}/svg.png" /></svg>',
        f'<div style="background: url({u}/css.png)">styled</div>',
        f"<style>@import url({u}/import.css);</style>",
        f"$\\includegraphics{{{u}/katex.png}}$ and $$\\href{{{u}/href}}{{x}}$$",
        "end of the raw beacons",
    ])
    def image(field: str) -> str:
        return f"![{field}]({u}/{field}.png)"

    return [
        blocks.Markdown(title=f"Raw {image('title')}", text=raw),
        blocks.Metrics(title=image("metrics-title"), items=[
            blocks.Metric(label=image("label"), value=image("value"), delta=image("delta"),
                          help=image("help"))]),
        blocks.Image(png=_png(), alt=image("alt"), title=image("image-title")),
        blocks.Chart(title="Chart from a URL", spec={
            "data": {"url": f"{u}/data.csv"}, "mark": "point"}),
        blocks.Markdown(title="Escaped", text=blocks.escape_markdown(request.text)),
    ]


@hookimpl
def register_functions(register):
    register(beacon_everywhere, title="Probe: beacons everywhere", cost=1,
             returns=("markdown", "metrics", "image", "chart"),
             examples=[{"base": "http://127.0.0.1:9", "text": "![](http://127.0.0.1:9/x)"}])
