"""escape_markdown, checked by rendering: a CommonMark renderer (markdown-it-py, with GFM
tables and strikethrough) turns the escaped text into one paragraph of exactly the text
the user typed (give or take invisible word joiners), with no other element: no image,
link, HTML, code or emphasis.

The browser test (tests/browser/test_beacons_browser.py) checks the same through the
portal's own renderer, with Streamlit's extensions (LaTeX, colour directives, icons).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from tokenworks.blocks import WORD_JOINER, escape_markdown

RENDERER = MarkdownIt("commonmark").enable(["table", "strikethrough"])
NASTY = [
    "![](http://127.0.0.1:9/beacon.png)", "![alt][ref]\n\n[ref]: http://x/y.png",
    "<img src=http://x/y.png>", "[link](http://x)", "<http://x>", "**bold** _it_ `code`",
    "# heading", "- item", "1. item", "> quote", "---", "| a | b |\n|---|---|\n| 1 | 2 |",
    "~~gone~~", "&amp; &lt;", "a\\*b", "    indented code", "\tx", "line\n\nnew paragraph",
    "```\nfence\n```", "<!-- comment -->", ":red[red] :material/home: $x^2$ :smile:",
    "www.example.com a@b.co", "Sr. Data Scientist (remote) — 100%",
]


class _Parts(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def rendered(markdown: str) -> tuple[list[str], str]:
    parts = _Parts()
    parts.feed(RENDERER.render(markdown))
    # The invisible word joiners escape_markdown adds (to stop autolinks) are not text.
    return parts.tags, "".join(parts.text).strip("\n").replace(WORD_JOINER, "")


def shown(text: str) -> str:
    """What a reader should see: the text on one line, as markdown trims a paragraph."""
    return re.sub(r"[ \t]*(\r\n|\r|\n)[ \t]*", " ", text).strip(" \t")


def check(text: str) -> None:
    tags, visible = rendered(escape_markdown(text))
    expected = shown(text)
    assert tags == (["p"] if expected else []), (text, tags)
    assert visible == expected, (text, visible)


def test_markup_and_beacons_render_as_the_text_typed() -> None:
    for text in NASTY:
        check(text)


def test_without_the_escape_the_same_texts_are_markup() -> None:
    # The check above can fail: unescaped, these texts make images, links and code.
    assert "img" in rendered(NASTY[0])[0] and "img" in rendered(NASTY[1])[0]
    assert "a" in rendered(NASTY[3])[0] and "code" in rendered(NASTY[5])[0]


PUNCTUATION = "".join(chr(c) for c in range(0x21, 0x7F) if not chr(c).isalnum())


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from([*PUNCTUATION, *"ab1 \t\n\r", "é", "—", "😀"]),
               max_size=60))
def test_any_text_renders_literally(text: str) -> None:
    check(text)
