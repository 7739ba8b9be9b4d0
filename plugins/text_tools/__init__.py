"""Text tools: a small built-in plugin, and the model for a plugin with one module."""

from __future__ import annotations

import re
from collections import Counter

from pydantic import BaseModel, Field

from tokenworks import blocks, hookimpl

WORD = re.compile(r"[^\W\d_]+(?:['\u2019-][^\W\d_]+)*", re.UNICODE)
# The commonest English function words: counting them tells a reader nothing.
STOPWORDS = frozenset(
    "a about after all also an and any are as at be been but by can could do for from had "
    "has have he her his i if in into is it its just more most my no not of on one or our "
    "out so some than that the their them then there these they this to up was we were "
    "what when which who will with would you your".split()
)


class WordFrequencyInput(BaseModel):
    text: str = Field(min_length=1, max_length=200_000, description="The text to count.")
    top: int = Field(default=15, ge=1, le=100, description="How many words to list.")
    min_length: int = Field(default=3, ge=1, le=20, description="Ignore shorter words.")
    drop_stopwords: bool = Field(default=True, description="Ignore common English words.")


def word_frequencies(request: WordFrequencyInput) -> list[blocks.Block]:
    """Count the words of a text: totals, the most frequent words as a table and a chart."""
    words = [w.lower() for w in WORD.findall(request.text)]
    kept = [w for w in words if len(w) >= request.min_length
            and not (request.drop_stopwords and w in STOPWORDS)]
    counts = Counter(kept).most_common(request.top)
    total = len(kept) or 1
    summary = blocks.Metrics(items=[
        blocks.Metric(label="Words", value=len(words)),
        blocks.Metric(label="Counted", value=len(kept), help="after length and stopword filters"),
        blocks.Metric(label="Distinct", value=len(set(kept))),
    ])
    if not counts:
        return [summary, blocks.Markdown(text="No words were left to count after filtering.")]
    rows = [[word, count, round(100 * count / total, 2)] for word, count in counts]
    chart = blocks.Chart(title="Most frequent words", spec={
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "data": {"values": [{"word": w, "count": c} for w, c in counts]},
        "mark": "bar",
        "encoding": {
            "y": {"field": "word", "type": "nominal", "sort": "-x", "title": None},
            "x": {"field": "count", "type": "quantitative", "title": "occurrences"},
        },
    })
    return [summary, blocks.Table(title="Top words", columns=["word", "count", "share %"],
                                  rows=rows), chart]


@hookimpl
def register_functions(register):
    register(
        word_frequencies,
        title="Word frequencies",
        category="text",
        tags=("text", "counting"),
        cost=1,
        returns=("metrics", "table", "chart", "markdown"),
        examples=[{"text": "Data engineer, senior data engineer, data analyst, analyst."}],
        timeout=10,
    )
