"""generate_word_cloud: a PNG cloud of job titles, variants merged, with the frequency table."""

from __future__ import annotations

import functools
import io
import math
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from tokenworks import blocks

from ..clean import ROMAN, clean_title
from .common import MAX_TITLE, MIN_CONFIDENCE, resolver

if TYPE_CHECKING:
    from ..resolver import Resolution

RETURNS = ("image", "table", "metrics", "markdown")
MAX_TITLES = 10_000
Colormap = Literal["viridis", "plasma", "inferno", "magma", "cividis", "Blues", "Greens",
                   "Dark2", "Set2", "tab10"]
EXAMPLES = [
    {"job_titles": ["Sr. Data Scientist", "Senior Data Scientist", "Data Scientist",
                    "Data Analyst", "RN", "Registered Nurse", "Software Engineer II",
                    "Software Engineer", "Truck Driver", "CDL Truck Driver"]},
    {"job_titles": ["Senior Software Engineer", "Software Engineer", "Staff Software Engineer",
                    "Jr. Developer"], "drop_seniority": True, "colormap": "plasma"},
    {"job_titles": ["RN", "Registered Nurse", "Nurse Practitioner", "LPN", "Charge Nurse"],
     "count_by": "occupation", "width": 600, "height": 300},
]
# Modifiers that only say how senior: dropped on request so "Lead Data Scientist" counts as
# "Data Scientist". Words that name a different job (manager, director, chief) stay.
SENIORITY_MODIFIERS = frozenset({
    "senior", "junior", "entry", "level", "mid", "midlevel", "experienced", "seasoned",
    "lead", "principal", "staff", "associate", "trainee", "beginner", "novice", *ROMAN,
})
SMALL_WORDS = frozenset({"of", "and", "the", "for", "in", "to", "a", "an", "on", "at", "or"})
UNMATCHED = "Unmatched"
LAYOUT_PIXELS = 480  # the cloud is laid out at most this wide, then scaled: layout is the cost


def _titles(value: object) -> object:
    """Collapse whitespace; blank items stay blank here and are skipped (and counted) later,
    since a pasted list often has some and that is no reason to refuse it."""
    if isinstance(value, list):
        return [" ".join(v.split()) if isinstance(v, str) else v for v in value]
    return value


class WordCloudInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_titles: Annotated[
        list[Annotated[str, Field(max_length=MAX_TITLE)]],
        BeforeValidator(_titles),
        Field(min_length=1, max_length=MAX_TITLES,
              description=f"The job titles, one per item (up to {MAX_TITLES:,}; each at most "
                          f"{MAX_TITLE} characters). Blank items are skipped."),
    ]
    drop_seniority: bool = Field(
        default=False, description="Drop seniority words (Senior, Junior, Lead, II...) so "
                                   "'Senior Data Scientist' counts as 'Data Scientist'.")
    count_by: Literal["title", "occupation"] = Field(
        default="title", description="Count cleaned titles, or the O*NET occupations they "
                                     "resolve to.")
    width: int = Field(default=800, ge=200, le=2000, description="Image width in pixels.")
    height: int = Field(default=400, ge=100, le=2000, description="Image height in pixels.")
    colormap: Colormap = Field(default="viridis", description="Matplotlib colour map.")
    background: Literal["white", "black"] = Field(default="white")
    max_words: int = Field(default=150, ge=5, le=500,
                           description="At most this many titles in the picture.")

    @field_validator("job_titles")
    @classmethod
    def _some_title(cls, value: list[str]) -> list[str]:
        if not any(value):
            raise ValueError("every item is empty or only whitespace: give at least one title")
        return value


def generate_word_cloud(request: WordCloudInput) -> list[blocks.Block]:
    """Draw a word cloud of job titles, sized by frequency, with the frequency table.

    Variants of one title merge ("Sr. Data Scientist" = "Senior Data Scientist", "RN" =
    "Registered Nurse"); optionally seniority words are dropped, or titles are counted by the
    O\\*NET occupation they resolve to. Up to 10,000 titles. By occupation, titles that match
    no occupation with enough confidence are counted as "Unmatched"; the call is charged as
    usual.
    """
    raw = Counter(t for t in request.job_titles if t)
    skipped = len(request.job_titles) - raw.total()
    unmatched = 0
    if request.count_by == "occupation":
        counts, variants, unmatched = _by_occupation(raw, request.drop_seniority)
    else:
        counts, variants = _merge(raw, request.drop_seniority)
    ranked = counts.most_common()
    glyphs = _font_glyphs()
    drawable = [(k, n) for k, n in ranked if k != UNMATCHED
                and all(ord(ch) in glyphs for ch in k)]
    out: list[blocks.Block] = []
    if drawable:
        out.append(blocks.Image(title="Job-title word cloud", png=_render(dict(drawable[
            :request.max_words]), request), alt=_alt(drawable, request.count_by)))
    total = counts.total() or 1
    out.append(blocks.Metrics(title="Counts", items=[
        blocks.Metric(label="Titles given", value=len(request.job_titles)),
        blocks.Metric(label="Distinct as written", value=len(raw)),
        blocks.Metric(label="Distinct after merging", value=len(counts)),
        blocks.Metric(label="Skipped (blank)", value=skipped),
    ]))
    label = "occupation" if request.count_by == "occupation" else "title"
    out.append(blocks.Table(
        title=f"Frequencies by {label}", columns=[label, "count", "share %", "variants merged"],
        rows=[[key, n, round(100 * n / total, 2), ", ".join(_examples(variants[key]))]
              for key, n in ranked[:max(request.max_words, 50)]]))
    undrawable = len(ranked) - len(drawable) - (UNMATCHED in counts)
    if undrawable:
        out.append(blocks.Markdown(text=(
            f"{undrawable:,} distinct titles use characters the cloud's "
            "font cannot draw (emoji, Chinese, Japanese, Korean...): they are in the table "
            "but not in the picture.")))
    if unmatched:
        out.append(blocks.Markdown(text=f"{unmatched:,} titles matched no occupation with "
                                        "confidence; they are counted as “Unmatched” in the "
                                        "table and left out of the picture."))
    return out


def _merge(raw: Counter[str], drop_seniority: bool) -> tuple[Counter[str], dict[str, Counter[str]]]:
    """Merge spellings by their cleaned form; keep which raw spellings went into each."""
    counts: Counter[str] = Counter()
    variants: dict[str, Counter[str]] = {}
    for text, n in raw.items():
        key = _merge_key(text, drop_seniority)
        counts[key] += n
        variants.setdefault(key, Counter())[text] += n
    return counts, variants


def _merge_key(text: str, drop_seniority: bool) -> str:
    """The merged title a raw one counts under: its cleaned words, as displayed."""
    return _display(clean_title(text).cleaned, drop_seniority) or text


def _core(key: str) -> str:
    """What a merged title is resolved as: its words without seniority, lower case."""
    return _display(key.lower(), drop_seniority=True).lower()


def _display(cleaned: str, drop_seniority: bool) -> str:
    words = cleaned.split()
    if drop_seniority:
        # The last word is the job itself ("Sales Associate", "Nursing Staff"), so it stays
        # unless it is a level number ("Engineer II").
        last = len(words) - 1
        kept = [w for i, w in enumerate(words) if w not in SENIORITY_MODIFIERS
                or (i == last and w not in ROMAN)]
        words = kept or words  # "Senior" alone stays "Senior"
    return " ".join(w if i and w in SMALL_WORDS else w[:1].upper() + w[1:]
                    for i, w in enumerate(words))


def _by_occupation(raw: Counter[str], drop_seniority: bool
                   ) -> tuple[Counter[str], dict[str, Counter[str]], int]:
    """`_merge`, then each merged title counted under the occupation it resolves to."""
    from ..resolver import resolve_threads

    titles = resolver()  # built on first use; counting by title never needs it
    counts: Counter[str] = Counter()
    cores: dict[str, str] = {}

    def merged_cores() -> Iterator[str]:
        # `_merge`'s counts, yielding each new merged title's core as soon as it is known:
        # resolve_many hands full runs of them to its threads while this cleans the rest.
        # Seniority words never change the occupation, so "Senior X" and "X" share one
        # resolution; all distinct cores are resolved in one batched call (resolve_many),
        # which costs a fraction of resolving them one by one, on both cores when there
        # are two.
        for text, n in raw.items():
            key = _merge_key(text, drop_seniority)
            counts[key] += n
            if key not in cores:
                core = cores[key] = _core(key)
                yield core

    answers = titles.resolve_many(merged_cores(), top_k=1, threads=resolve_threads())
    resolved = {res.raw: _occupation(res) for res in answers}
    by_occ: Counter[str] = Counter()
    merged: dict[str, Counter[str]] = {}
    unmatched = 0
    for title, n in counts.items():
        key = resolved[cores[title]]
        unmatched += n if key == UNMATCHED else 0
        by_occ[key] += n
        merged.setdefault(key, Counter())[title] += n
    return by_occ, merged, unmatched


def _occupation(resolution: Resolution) -> str:
    best = resolution.best
    sure = best is not None and (resolution.confident or best.confidence >= MIN_CONFIDENCE)
    return best.occupation if sure and best is not None else UNMATCHED


def _examples(variants: Counter[str]) -> list[str]:
    shown = [text for text, _ in variants.most_common(4)]
    more = len(variants) - len(shown)
    return shown + ([f"+{more} more"] if more > 0 else [])


def _render(frequencies: dict[str, int], request: WordCloudInput) -> bytes:
    from wordcloud import WordCloud  # numpy, Pillow and matplotlib: loaded on first use only

    # Layout time grows with the canvas area, so lay out on a small canvas and scale it up:
    # an 800x400 cloud costs a quarter of the time and looks the same.
    scale = max(1, math.ceil(max(request.width, request.height) / LAYOUT_PIXELS))
    cloud = WordCloud(
        width=max(1, request.width // scale), height=max(1, request.height // scale),
        scale=scale, background_color=request.background, colormap=request.colormap,
        max_words=request.max_words, prefer_horizontal=0.95, random_state=7,
        relative_scaling=0.5, min_font_size=4, collocations=False,
    ).generate_from_frequencies(frequencies)
    image = cloud.to_image()
    if image.size != (request.width, request.height):  # integer division lost a pixel or two
        image = image.resize((request.width, request.height))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@functools.cache
def _font_glyphs() -> frozenset[int]:
    """Code points the wordcloud library's bundled font (DroidSansMono) can draw."""
    from fontTools.ttLib import TTFont  # a matplotlib dependency, so always present with it
    from wordcloud.wordcloud import FONT_PATH

    font = TTFont(FONT_PATH, lazy=True)
    try:
        return frozenset(font.getBestCmap()) | {ord(" ")}
    finally:
        font.close()


def _alt(ranked: list[tuple[str, int]], count_by: str) -> str:
    """The picture's caption, which the portal draws as markdown: the titles are the user's
    (table cells are plain text and stay as typed)."""
    top = ", ".join(f"{blocks.escape_markdown(key)} ({n})" for key, n in ranked[:5])
    return f"Word cloud of {len(ranked)} {count_by}s; the largest: {top}."
