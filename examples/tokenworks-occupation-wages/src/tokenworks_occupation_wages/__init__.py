"""Occupation wages: what an occupation pays in the US, and its ten-year outlook.

One function, `occupation_wages`, over a small extract of public BLS data committed with
the package (data/wages.csv, built by build_data.py; sources in DATA.md): annual wage
percentiles and employment from OEWS May 2025, projected growth, openings and entry
education from Employment Projections 2024-34. An example of an external tokenworks
plugin: installed with pip, discovered through its entry point, configured through
[plugin_settings.occupation_wages].
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from pydantic import BaseModel, Field

from tokenworks import blocks, hookimpl

__version__ = "0.1.0"

ATTRIBUTION = (
    "Wages: U.S. Bureau of Labor Statistics, Occupational Employment and Wage Statistics "
    "(OEWS), May 2025, national estimates. Outlook: BLS Employment Projections 2024-34. "
    "Public domain. BLS.gov cannot vouch for the data or analyses derived from these data "
    "after the data have been retrieved from BLS.gov."
)
PERCENTILES = [("p10", "10th"), ("p25", "25th"), ("median", "Median"), ("p75", "75th"),
               ("p90", "90th")]


class Settings(BaseModel):
    max_matches: int = Field(default=8, ge=1, le=50,
                             description="Most other matching occupations to list.")


class WagesInput(BaseModel):
    occupation: str = Field(min_length=2, max_length=100,
                            description="An occupation title or SOC code, e.g. 'nurse' or "
                                        "'15-1252'.")


@dataclass(frozen=True)
class Occupation:
    soc: str
    title: str
    values: dict[str, float | None]
    education: str


@cache
def occupations() -> list[Occupation]:
    """The committed extract, read once (csv from the standard library: no heavy imports)."""
    text = resources.files(__name__).joinpath("data/wages.csv").read_text(encoding="utf-8")
    rows = []
    for row in csv.DictReader(text.splitlines()):
        numbers = {k: float(v) if v else None for k, v in row.items()
                   if k not in ("soc", "title", "education")}
        rows.append(Occupation(row["soc"], row["title"], numbers, row["education"]))
    return rows


def find(query: str) -> list[Occupation]:
    """By SOC code, else every word of the query in the title; best-paid first among
    matches with the query as a whole word, so 'nurse' finds Registered Nurses first."""
    query = query.strip().lower()
    if re.fullmatch(r"\d{2}-?\d{4}", query):
        code = query if "-" in query else f"{query[:2]}-{query[2:]}"
        return [o for o in occupations() if o.soc == code]
    words = re.findall(r"[a-z0-9]+", query)
    hits = [o for o in occupations() if all(w in o.title.lower() for w in words)]

    def rank(o: Occupation) -> tuple[bool, float, str]:
        whole = all(re.search(rf"\b{w}", o.title.lower()) for w in words)
        return (not whole, -(o.values["employment"] or 0), o.title)

    return sorted(hits, key=rank)


def money(value: float | None) -> str:
    return f"${value:,.0f}" if value is not None else "n/a"


def build(settings: Settings):
    def occupation_wages(request: WagesInput) -> list[blocks.Block]:
        """What an occupation pays in the US (BLS, May 2025), and its ten-year outlook.

        Matches the occupation by title words or SOC code; the most-employed match is
        shown, with its wage spread and projected growth, and other matches are listed.
        """
        matches = find(request.occupation)
        if not matches:
            return [blocks.Markdown(text=f"No occupation matches **{request.occupation}**. "
                                         "Try a shorter title, e.g. 'nurse' or 'developer'.")]
        top = matches[0]
        v = top.values
        growth = v["growth_pct"]
        out: list[blocks.Block] = [
            blocks.Markdown(text=f"### {top.title} (SOC {top.soc})\n"
                                 f"Typical entry education: {top.education or 'n/a'}."),
            blocks.Metrics(items=[
                blocks.Metric(label="Median annual wage", value=money(v["median"])),
                blocks.Metric(label="Employment", value=f"{v['employment'] or 0:,.0f}"),
                blocks.Metric(label="Growth 2024-34",
                              value=f"{growth:+.1f}%" if growth is not None else "n/a"),
                blocks.Metric(label="Openings a year",
                              value=f"{(v['openings_k'] or 0) * 1000:,.0f}"),
            ]),
            blocks.Chart(title="Annual wage percentiles", spec={
                "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
                "data": {"values": [{"percentile": label, "wage": v[key]}
                                    for key, label in PERCENTILES if v[key] is not None]},
                "mark": "bar",
                "encoding": {
                    "x": {"field": "percentile", "type": "ordinal", "sort": None},
                    "y": {"field": "wage", "type": "quantitative", "title": "USD a year"},
                },
            }),
        ]
        others = matches[1:settings.max_matches + 1]
        if others:
            out.append(blocks.Table(
                title="Other matching occupations", columns=["SOC", "title", "median wage"],
                rows=[[o.soc, o.title, o.values["median"]] for o in others]))
        return out

    return occupation_wages


@hookimpl
def settings_model():
    return Settings


@hookimpl
def register_functions(register, settings: Settings):
    register(
        build(settings),
        title="Occupation wages",
        category="careers",
        tags=("wages", "salary", "BLS"),
        cost=2,
        returns=["markdown", "metrics", "chart", "table"],
        examples=[{"occupation": "registered nurse"}, {"occupation": "15-1252"},
                  {"occupation": "data"}, {"occupation": "zzz-no-such-job"}],
        timeout=10,
    )


@hookimpl
def warm():
    occupations()


@hookimpl
def attribution():
    return ATTRIBUTION
