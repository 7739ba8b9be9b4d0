"""Occupation profile pieces shared by analyze and market: skills, technologies, tasks, SOC."""

from __future__ import annotations

from collections import Counter

from tokenworks import blocks

from ..data import JobData, Occupation, Technology
from .measures import short_education


def soc_hierarchy(data: JobData, occ: Occupation) -> blocks.Table:
    # The detailed SOC's own name comes from OEWS (or the projections), since O*NET names
    # only its occupations and one SOC can hold several of them.
    wage = data.wages_national.get(occ.soc)
    projection = data.projections.get(occ.soc)
    soc_name = wage.soc_title if wage else projection.title if projection else None
    rows: list[list[blocks.Scalar]] = [
        ["major group", occ.major_code, occ.major_name],
        ["minor group", occ.minor_code, occ.minor_name],
        ["broad group", occ.broad_code, occ.broad_name],
        ["detailed occupation (SOC)", occ.soc, soc_name],
        ["O*NET-SOC occupation", occ.onet_code, occ.title],
    ]
    return blocks.Table(title="SOC hierarchy", columns=["level", "code", "name"], rows=rows)


def job_zone_text(occ: Occupation) -> str:
    if occ.job_zone is None:
        return ("**Job zone:** O*NET assigns none to this occupation (it is an “All Other” "
                "or military code).")
    parts = [f"**{occ.job_zone_name}** (job zone {occ.job_zone} of 5)"]
    for label, text in (("Education", occ.job_zone_education),
                        ("Experience", occ.job_zone_experience),
                        ("Training", occ.job_zone_training)):
        if text:
            parts.append(f"- *{label}:* {text}")
    return "\n".join(parts)


def education_table(data: JobData, occ: Occupation) -> blocks.Table | None:
    """O*NET's modal education and experience, with BLS's entry requirements beside them."""
    rows: list[list[blocks.Scalar]] = []
    edu = data.education.get(occ.onet_code)
    if edu is not None:
        if edu.education:
            rows.append(["typical education", short_education(edu.education),
                         "O*NET (share of workers)", _share(edu.education_share)])
        if edu.experience:
            rows.append(["related work experience", edu.experience,
                         "O*NET (share of workers)", _share(edu.experience_share)])
    projection = data.projections.get(occ.projection_soc or "")
    if projection is not None and projection.occupation_type == "Line item":
        source = "BLS entry requirement"
        if occ.projection_soc != occ.soc:
            source += f" (for {projection.soc} {projection.title})"
        for label, value in (("education for entry", projection.education),
                             ("work experience in a related occupation",
                              projection.work_experience),
                             ("on-the-job training", projection.on_the_job_training)):
            if value:
                rows.append([label, value, source, None])
    if not rows:
        return None
    return blocks.Table(title="Typical education and experience",
                        columns=["measure", "value", "source", "share %"], rows=rows)


def _share(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def skills_table(data: JobData, occ: Occupation, top: int) -> blocks.Table | None:
    """The most important skills and knowledge areas by O*NET's importance rating (1-5)."""
    rows = [s for s in data.skills.get(occ.onet_code, ()) if not s.suppress
            and s.importance is not None]
    if not rows:
        return None
    out: list[list[blocks.Scalar]] = []
    for kind in ("skill", "knowledge"):
        ranked = sorted((s for s in rows if s.kind == kind),
                        key=lambda s: (-(s.importance or 0), s.element_name))[:top]
        out += [[kind, s.element_name, s.importance,
                 None if s.level_not_relevant else s.level] for s in ranked]
    return blocks.Table(title="Top skills and knowledge",
                        columns=["kind", "element", "importance (1-5)", "level (0-7)"],
                        rows=out)


def technology_rank(tech: Technology) -> tuple[int, str]:
    # In-demand (employers ask for it in postings) ranks above merely hot (in demand across
    # many occupations), which ranks above the rest.
    return (-(2 * tech.in_demand + tech.hot), tech.example.lower())


def technologies(data: JobData, occ: Occupation, top: int,
                 only_flagged: bool = False) -> list[Technology]:
    rows = sorted(data.technology.get(occ.onet_code, ()), key=technology_rank)
    if only_flagged:
        rows = [t for t in rows if t.hot or t.in_demand]
    return rows[:top]


def technology_table(data: JobData, occ: Occupation, top: int) -> blocks.Table | None:
    rows = technologies(data, occ, top)
    if not rows:
        return None
    return blocks.Table(
        title="Hot and in-demand technologies",
        columns=["technology", "category", "hot technology", "in demand"],
        rows=[[t.example, t.commodity_title, t.hot, t.in_demand] for t in rows],
    )


def technology_areas(data: JobData, occ: Occupation, top: int) -> blocks.Table | None:
    """Technology categories by how many tools the occupation lists in each: the stand-in for
    skill ratings where O*NET has none (Software Developers, Data Scientists...)."""
    counts = Counter(t.commodity_title for t in data.technology.get(occ.onet_code, ()))
    if not counts:
        return None
    rows: list[list[blocks.Scalar]] = [[area, n] for area, n in counts.most_common(top)]
    return blocks.Table(title="Technology skill areas (no O*NET skill ratings)",
                        columns=["technology area", "tools listed"], rows=rows)


def tasks_table(data: JobData, occ: Occupation, top: int) -> blocks.Table | None:
    rows = data.tasks.get(occ.onet_code, ())[:top]
    if not rows:
        return None
    return blocks.Table(title="Key tasks", columns=["rank", "task", "type"],
                        rows=[[t.rank, t.task, t.task_type] for t in rows])
