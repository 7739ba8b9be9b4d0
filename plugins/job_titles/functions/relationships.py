"""get_title_relationships: synonyms, titles shared with other occupations, related jobs."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tokenworks import blocks

from ..data import JobData, Occupation, Related, TitleRow
from .common import Context, JobTitle, job_data, match_note, match_title, no_match_blocks
from .indexes import SOURCE_LABELS, Indexes, common_titles, indexes, unique_titles

RETURNS = ("markdown", "metrics", "graph", "table")
Tier = Literal["Primary-Short", "Primary-Long", "Supplemental"]
EXAMPLES = [
    {"title": "Data Scientist"},
    {"title": "Analyst", "max_titles": 15},
    {"title": "RN", "tiers": ["Primary-Short"], "include_esco": False},
]
GRAPH_TITLES = 12  # title nodes drawn around the occupation; the table lists the rest


class RelationshipsInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: JobTitle
    context: Context = None
    max_titles: int = Field(default=30, ge=5, le=300,
                            description="At most this many synonyms in the table.")
    max_related: int = Field(default=10, ge=1, le=30,
                             description="At most this many related occupations.")
    tiers: list[Tier] = Field(default=["Primary-Short", "Primary-Long", "Supplemental"],
                              min_length=1, max_length=3,
                              description="O*NET relatedness tiers to include.")
    include_esco: bool = Field(default=True,
                               description="Include the European ESCO labels as synonyms.")


def get_title_relationships(request: RelationshipsInput) -> list[blocks.Block]:
    """How a job title relates to others: synonyms, shared titles and related occupations.

    Synonyms are the other titles of the same O\\*NET occupation (O\\*NET, BLS and ESCO); shared
    titles are those other occupations use too, which is where a title is ambiguous; related
    occupations are O\\*NET's, by tier, each with its common titles. As a graph and tables.

    A title that matches no occupation with enough confidence still gets a successful
    answer, charged like any other call: "No confident match", the closest occupations
    with their confidence, and known titles to try instead.
    """
    match, resolution = match_title(request.title, request.context)
    if match is None:
        return no_match_blocks(request.title, resolution)
    data = job_data()
    idx = indexes(data)
    occ = match.occupation
    titles = unique_titles(data, occ.onet_code, request.include_esco)
    shared = {t.title: sorted(idx.codes_by_title.get(t.title.lower(), frozenset())
                              - {occ.onet_code}) for t in titles}
    shared = {title: codes for title, codes in shared.items() if codes}
    related = [r for r in data.related.get(occ.onet_code, ()) if r.tier in request.tiers]
    related = related[:request.max_related]
    summary = (f"## Titles related to {occ.title}\n\n{match_note(match)}\n\n"
               f"{len(titles):,} distinct titles name this occupation; {len(shared):,} of them "
               "also name other occupations, so on their own they are ambiguous.")
    out: list[blocks.Block] = [
        blocks.Markdown(title="Relationships", text=summary),
        blocks.Metrics(items=[
            blocks.Metric(label="Synonyms", value=len(titles)),
            blocks.Metric(label="Shared with other occupations", value=len(shared)),
            blocks.Metric(label="Related occupations", value=len(related)),
        ]),
        _graph(data, occ, titles[:GRAPH_TITLES], shared, related),
        blocks.Table(title="Synonyms (titles of this occupation)",
                     columns=["title", "source", "also names"],
                     rows=[[t.title, SOURCE_LABELS.get(t.source, t.source),
                            _names(data, shared.get(t.title, []))]
                           for t in titles[:request.max_titles]]),
    ]
    if shared:
        out.append(_shared_table(data, shared, request.max_titles))
    if related:
        out.append(blocks.Table(
            title="Related occupations (O*NET)",
            columns=["tier", "rank", "O*NET code", "occupation", "common titles",
                     "shares titles"],
            rows=[[r.tier, r.rank, r.related_code, _title(data, r.related_code),
                   ", ".join(common_titles(data, r.related_code)),
                   _shares(idx, titles, r.related_code)] for r in related]))
    return out


def _graph(data: JobData, occ: Occupation, titles: list[TitleRow],
           shared: dict[str, list[str]], related: list[Related]) -> blocks.Graph:
    """The occupation in the middle; its titles around it; other occupations that share a
    title hang off that title; related occupations link straight to the centre."""
    nodes = {occ.onet_code: blocks.Node(id=occ.onet_code, label=occ.title,
                                        group="this occupation", size=30.0)}
    edges: list[blocks.Edge] = []
    for t in titles:
        node_id = f"title:{t.title.lower()}"
        nodes[node_id] = blocks.Node(id=node_id, label=t.title, group="synonym", size=8.0)
        edges.append(blocks.Edge(source=occ.onet_code, target=node_id, label="synonym"))
        for code in shared.get(t.title, [])[:3]:
            nodes.setdefault(code, blocks.Node(id=code, label=_title(data, code),
                                               group="shares a title", size=14.0))
            edges.append(blocks.Edge(source=node_id, target=code, label="also names"))
    for r in related:
        weight = {"Primary-Short": 1.0, "Primary-Long": 0.75}.get(r.tier, 0.5)
        existing = nodes.get(r.related_code)
        if existing is None or existing.group == "shares a title":
            nodes[r.related_code] = blocks.Node(id=r.related_code,
                                                label=_title(data, r.related_code),
                                                group=r.tier, size=10 + 10 * weight)
        edges.append(blocks.Edge(source=occ.onet_code, target=r.related_code,
                                 label=f"related ({r.tier})", weight=weight))
    return blocks.Graph(title="Title relationships", nodes=list(nodes.values()), edges=edges,
                        directed=True)


def _shared_table(data: JobData, shared: dict[str, list[str]], limit: int) -> blocks.Table:
    ranked = sorted(shared.items(), key=lambda item: (-len(item[1]), item[0].lower()))
    return blocks.Table(
        title="Titles shared with other occupations (ambiguity)",
        columns=["title", "other occupations", "count"],
        rows=[[title, _names(data, codes), len(codes)] for title, codes in ranked[:limit]])


def _title(data: JobData, code: str) -> str:
    occ = data.occupation(code)
    return occ.title if occ else code


def _names(data: JobData, codes: list[str]) -> str | None:
    if not codes:
        return None
    shown = [f"{_title(data, c)} ({c})" for c in codes[:4]]
    return "; ".join(shown) + (f"; +{len(codes) - 4} more" if len(codes) > 4 else "")


def _shares(idx: Indexes, titles: list[TitleRow], code: str) -> int:
    """How many of this occupation's titles the related occupation uses too."""
    return sum(code in idx.codes_by_title.get(t.title.lower(), ()) for t in titles)
