"""Markdown the browser can draw without fetching anything.

Streamlit draws markdown (never raw HTML: the portals do not pass unsafe_allow_html) in
st.markdown, captions, alerts, metric labels and values, help tooltips and image captions.
Of that markdown, only an image loads a resource from a URL: a title such as
``![](http://host/beacon.png)`` echoed into a result would tell that host who looked, and
when. Every text the portals draw as markdown and did not write themselves goes through
``inert_markdown`` first.
"""

from __future__ import annotations


def inert_markdown(text: str) -> str:
    """Markdown that cannot load an image: each "![" becomes "!\\[".

    Every image form (inline, reference, collapsed, shortcut) starts with "![" as two
    adjacent characters, and an escaped "[" starts nothing, so what was an image shows as
    its literal text. Inside a code span the added backslash shows; nothing else changes.
    """
    return text.replace("![", "!\\[")
