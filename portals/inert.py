"""Markdown the browser can draw without fetching anything: every text the portals draw
as markdown and did not write themselves goes through ``inert_markdown``.
"""

from __future__ import annotations


def inert_markdown(text: str) -> str:
    """Markdown that cannot load an image: each "![" becomes "!\\[".

    Every image form (inline, reference, collapsed, shortcut) starts with "![" as two
    adjacent characters, and an escaped "[" starts nothing, so what was an image shows as
    its literal text. Inside a code span the added backslash shows; nothing else changes.
    """
    return text.replace("![", "!\\[")
