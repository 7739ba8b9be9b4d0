"""analyze_job_title: what a title means, which occupation it is, and what that job involves."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from tokenworks import blocks

from ..clean import SENIORITY_LABELS
from . import profile
from .common import Context, JobTitle, Match, job_data, match_note, match_title, no_match_blocks
from .measures import entry_education

RETURNS = ("markdown", "metrics", "table")
EXAMPLES = [
    {"title": "Data Scientist"},
    {"title": "Sr. Software Engineer"},
    {"title": "RN", "context": "hospital"},
    {"title": "CDL Truck Driver - Remote, $80k", "top_tasks": 5},
]


class AnalyzeInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: JobTitle
    context: Context = None
    top_skills: int = Field(default=8, ge=1, le=25,
                            description="How many skills and how many knowledge areas to list.")
    top_tasks: int = Field(default=8, ge=1, le=30, description="How many key tasks to list.")
    top_technologies: int = Field(default=12, ge=1, le=50,
                                  description="How many technologies to list.")


def analyze_job_title(request: AnalyzeInput) -> list[blocks.Block]:
    """Normalize a job title and profile its occupation.

    Cleans the title, reads its seniority and function, matches it to an O\\*NET occupation
    with a confidence and alternatives, then shows the SOC hierarchy, the job zone and what
    it means, typical education and experience, the top skills and knowledge (technology
    areas where O\\*NET has no ratings), hot and in-demand technologies and the key tasks.

    A title that matches no occupation with enough confidence still gets a successful
    answer, charged like any other call: "No confident match", the closest occupations
    with their confidence, and known titles to try instead.
    """
    match, resolution = match_title(request.title, request.context)
    if match is None:
        return no_match_blocks(request.title, resolution)
    data = job_data()
    occ = match.occupation
    out: list[blocks.Block] = [_summary(match), _metrics(match)]
    if match.resolution is not None and match.resolution.candidates:
        out.append(_candidates(match))
    out += [profile.soc_hierarchy(data, occ),
            blocks.Markdown(title="Job zone", text=profile.job_zone_text(occ))]
    optional = [profile.education_table(data, occ)]
    skills = profile.skills_table(data, occ, request.top_skills)
    if skills is None:
        out.append(blocks.Markdown(title="Skills", text=(
            "O*NET has no skill or knowledge ratings for this occupation, so the technology "
            "areas and tasks below describe it instead.")))
        optional.append(profile.technology_areas(data, occ, request.top_skills))
    else:
        optional.append(skills)
    optional += [profile.technology_table(data, occ, request.top_technologies),
                 profile.tasks_table(data, occ, request.top_tasks)]
    out += [block for block in optional if block is not None]
    return out


def _summary(match: Match) -> blocks.Markdown:
    occ = match.occupation
    lines = [f"## {occ.title}", match_note(match)]
    res = match.resolution
    if res is not None:
        # The cleaned title and the function are the user's words: escaped to show as typed.
        read = [f"cleaned title *{blocks.escape_markdown(res.cleaned)}*" if res.cleaned
                else None,
                f"seniority **{_label(res.seniority)}**" if res.seniority else None,
                f"function **{blocks.escape_markdown(_label(res.function))}**"
                if res.function else None]
        kept = [part for part in read if part]
        if kept:
            lines.append("Read as: " + ", ".join(kept) + ".")
    lines.append(occ.description)
    return blocks.Markdown(title="Occupation", text="\n\n".join(lines))


def _metrics(match: Match) -> blocks.Metrics:
    data = job_data()
    occ = match.occupation
    education, _ = entry_education(data, occ)
    res = match.resolution
    items = [
        blocks.Metric(label="Occupation", value=occ.onet_code, help=occ.title),
        blocks.Metric(label="Confidence", value=f"{match.confidence:.0%}",
                      help="how well the title matches this occupation (0-100%)"),
        blocks.Metric(label="Seniority", value=_label(res.seniority) if res else "n/a"),
        blocks.Metric(label="Job zone", value=occ.job_zone if occ.job_zone else "n/a",
                      help="O*NET preparation level, 1 (little) to 5 (extensive)"),
        blocks.Metric(label="Entry education", value=education or "n/a"),
    ]
    if res is not None and res.function:
        items.insert(3, blocks.Metric(label="Function",
                                      value=blocks.escape_markdown(_label(res.function))))
    return blocks.Metrics(title="At a glance", items=items)


def _candidates(match: Match) -> blocks.Table:
    assert match.resolution is not None
    rows: list[list[blocks.Scalar]] = [
        [i, c.code, c.occupation, c.soc, round(c.confidence, 3), c.matched, c.source]
        for i, c in enumerate(match.resolution.candidates, start=1)
    ]
    return blocks.Table(title="Best matches",
                        columns=["rank", "O*NET code", "occupation", "SOC", "confidence",
                                 "matched title", "matched on"], rows=rows)


def _label(value: str | None) -> str:
    """A seniority level's display name ("c_level" -> "C-level"); other values as they are."""
    if value is None:
        return "n/a"
    return SENIORITY_LABELS.get(value, value.replace("_", " "))
