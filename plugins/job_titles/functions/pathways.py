"""get_career_pathways: next-step, lateral and feeder occupations from O*NET related occupations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tokenworks import blocks

from ..data import JobData, Occupation
from .common import Context, JobTitle, job_data, match_note, match_title, no_match_blocks
from .indexes import indexes, overlap
from .measures import entry_education, money, national_median

RETURNS = ("markdown", "graph", "table")
Kind = Literal["next_step", "lateral", "feeder"]
EXAMPLES = [
    {"title": "Data Scientist"},
    {"title": "Registered Nurse", "kinds": ["next_step"], "per_kind": 8},
    {"title": "Truck Driver", "include_supplemental": False},
]
# O*NET's tiers, most related first, as a 0..1 relatedness.
TIER_WEIGHT = {"Primary-Short": 1.0, "Primary-Long": 0.75, "Supplemental": 0.5}
NOTABLE_WAGE = 0.10  # a median 10% or more higher (lower) counts as a step up (down)
NOTE = (
    "**These paths are inferred from occupational similarity, not observed career moves.** "
    "They come from O*NET's related occupations, which link jobs with similar work, skills "
    "and preparation; nobody's actual career was tracked. Each neighbour is classed by where "
    "it sits relative to this occupation: a **next step** has a higher job zone or a median "
    "wage at least 10% higher; a **lateral** move has the same zone and a similar wage "
    "(within 10%); a **feeder** lists this occupation among its own related occupations and "
    "sits lower (a lower zone or a wage at least 10% lower). Where zone and wage disagree "
    "(more preparation for notably less pay, or the reverse) the move counts as lateral. "
    "Wages are OEWS May 2025 national annual medians. Education is the typical entry "
    "education (BLS's where it covers exactly this occupation, else O*NET's most common "
    "level), compared on an 8-level scale from no credential to a doctorate. Skill overlap "
    "is the Jaccard similarity of important skills and knowledge (O*NET importance ≥ 3) and "
    "of technology classes. The score that orders each kind and weights the graph's edges is "
    "half O*NET relatedness (by tier) and half skill overlap."
)


class PathwaysInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: JobTitle
    context: Context = None
    kinds: list[Kind] = Field(default=["next_step", "lateral", "feeder"], min_length=1,
                              max_length=3, description="Which kinds of move to show.")
    per_kind: int = Field(default=6, ge=1, le=20, description="At most this many of each kind.")
    include_supplemental: bool = Field(
        default=True, description="Also use O*NET's Supplemental tier (less closely related).")


@dataclass(frozen=True)
class Step:
    kind: Kind
    occupation: Occupation
    relation: str
    zone_delta: int | None
    wage: int | None
    wage_top_coded: bool
    wage_change: float | None
    education: str | None
    education_delta: int | None
    overlap: float | None
    score: float


def get_career_pathways(request: PathwaysInput) -> list[blocks.Block]:
    """Career moves from a job title: next steps, lateral moves and feeder occupations.

    A directed graph and a table built from O\\*NET related occupations, each move weighted by
    the change in job zone, wage (OEWS) and entry education and by skill overlap. The paths
    are inferred from occupational similarity, not observed moves.

    A title that matches no occupation with enough confidence still gets a successful
    answer, charged like any other call: "No confident match", the closest occupations
    with their confidence, and known titles to try instead.
    """
    match, resolution = match_title(request.title, request.context)
    if match is None:
        return no_match_blocks(request.title, resolution)
    data = job_data()
    base = match.occupation
    steps = [s for s in _steps(data, base, request.include_supplemental)
             if s.kind in request.kinds]
    chosen: list[Step] = []
    for kind in ("next_step", "lateral", "feeder"):
        chosen += sorted((s for s in steps if s.kind == kind),
                         key=lambda s: (-s.score, s.occupation.onet_code))[:request.per_kind]
    wage, top = national_median(data, base)
    education, _ = entry_education(data, base)
    summary = (f"## Career pathways from {base.title}\n\n{match_note(match)}\n\n"
               f"Starting point: job zone {base.job_zone or 'n/a'}, median wage "
               f"{money(wage if not top else None, top_coded=top)}, entry education "
               f"{education or 'n/a'}.")
    if not chosen:
        summary += "\n\nO*NET lists no related occupations of the requested kinds."
    return [blocks.Markdown(title="Pathways", text=summary), _graph(base, chosen),
            _table(chosen), blocks.Markdown(title="How to read this", text=NOTE)]


def _steps(data: JobData, base: Occupation, supplemental: bool) -> list[Step]:
    idx = indexes(data)
    lists = {r.related_code: r for r in data.related.get(base.onet_code, ())}
    listed_by = {r.onet_code: r for r in idx.incoming.get(base.onet_code, ())}
    if not supplemental:
        lists = {c: r for c, r in lists.items() if r.tier != "Supplemental"}
        listed_by = {c: r for c, r in listed_by.items() if r.tier != "Supplemental"}
    wage, _ = national_median(data, base)
    _, education = entry_education(data, base)
    out: list[Step] = []
    for code in sorted(lists.keys() | listed_by.keys()):
        other = data.occupation(code)
        if other is None or code == base.onet_code:
            continue
        their_wage, top = national_median(data, other)
        their_label, their_education = entry_education(data, other)
        zone = (other.job_zone - base.job_zone
                if other.job_zone is not None and base.job_zone is not None else None)
        change = (their_wage - wage) / wage if wage and their_wage is not None else None
        kind = _kind(zone, change, code in listed_by)
        if kind is None:
            continue
        relation = [f"{r.tier} #{r.rank}" for r in (lists.get(code),) if r]
        relation += [f"lists this ({r.tier} #{r.rank})" for r in (listed_by.get(code),) if r]
        relatedness = max(TIER_WEIGHT.get(r.tier, 0.5)
                          for r in (lists.get(code), listed_by.get(code)) if r)
        shared = overlap(idx, base.onet_code, code)
        out.append(Step(
            kind=kind, occupation=other, relation="; ".join(relation), zone_delta=zone,
            wage=their_wage, wage_top_coded=top, wage_change=change, education=their_label,
            education_delta=(their_education - education
                             if their_education is not None and education is not None
                             else None),
            overlap=shared, score=round(0.5 * relatedness + 0.5 * (shared or 0.0), 3),
        ))
    return out


def _kind(zone: int | None, change: float | None, lists_base: bool) -> Kind | None:
    """Classify a neighbour (see NOTE). Signals that disagree (more preparation for notably
    less pay, or the reverse) make a lateral move. A lower neighbour that does not list this
    occupation is a step down, not a pathway, so it is left out."""
    higher_zone = zone is not None and zone > 0
    lower_zone = zone is not None and zone < 0
    more_pay = change is not None and change >= NOTABLE_WAGE
    less_pay = change is not None and change <= -NOTABLE_WAGE
    if (higher_zone and not less_pay) or (more_pay and not lower_zone):
        return "next_step"
    if (lower_zone and not more_pay) or (less_pay and not higher_zone):
        return "feeder" if lists_base else None
    return "lateral"


def _graph(base: Occupation, steps: list[Step]) -> blocks.Graph:
    nodes = [blocks.Node(id=base.onet_code, label=base.title, group="this occupation",
                         size=30.0)]
    edges = []
    for s in steps:
        code = s.occupation.onet_code
        nodes.append(blocks.Node(id=code, label=s.occupation.title,
                                 group=s.kind.replace("_", " "), size=10 + 20 * s.score))
        source, target = (code, base.onet_code) if s.kind == "feeder" else (base.onet_code,
                                                                            code)
        edges.append(blocks.Edge(source=source, target=target, label=_delta_label(s),
                                 weight=s.score))
    return blocks.Graph(title="Career pathways", nodes=nodes, edges=edges, directed=True)


def _delta_label(s: Step) -> str:
    parts = [s.kind.replace("_", " ")]
    if s.zone_delta:
        parts.append(f"zone {s.zone_delta:+d}")
    if s.wage_change is not None:
        parts.append(f"wage {s.wage_change:+.0%}")
    return ", ".join(parts)


def _table(steps: list[Step]) -> blocks.Table:
    rows: list[list[blocks.Scalar]] = [[
        s.kind.replace("_", " "), s.occupation.onet_code, s.occupation.title, s.relation,
        s.occupation.job_zone, s.zone_delta,
        money(None if s.wage_top_coded else s.wage, top_coded=s.wage_top_coded),
        None if s.wage_change is None else round(100 * s.wage_change, 1),
        s.education, s.education_delta,
        None if s.overlap is None else round(s.overlap, 3), s.score,
    ] for s in steps]
    return blocks.Table(title="Steps and their deltas", columns=[
        "kind", "O*NET code", "occupation", "O*NET relation", "job zone", "zone change",
        "median wage", "wage change %", "entry education", "education change (levels)",
        "skill overlap", "score"], rows=rows)
