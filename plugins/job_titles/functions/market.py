"""get_market_intelligence: employment, wages, projections and outlook from BLS statistics."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tokenworks import blocks

from ..data import JobData, Occupation, Projection, Wage
from . import profile, wages
from .common import Context, JobTitle, job_data, match_note, match_title, no_match_blocks
from .measures import money, number, top_code_annual
from .states import STATES, State

RETURNS = ("markdown", "metrics", "table", "chart")
EXAMPLES = [
    {"title": "Registered Nurse"},
    {"title": "Data Scientist", "state": "CA"},
    {"title": "Truck Driver", "state": "Texas", "rank_states_by": "location_quotient"},
]
MANY_OPENINGS = 100.0  # thousand openings a year: a large number whatever the growth
OUTLOOK_RULE = (
    "**How the outlook label is set** (tokenworks' own rule on BLS projections; it is *not* "
    "O*NET's official Bright Outlook designation). With *g* the projected 2024-34 growth of "
    "all occupations ({avg:.1f}%): **Strong** when growth is at least 2*g* or the occupation "
    "has at least 100,000 openings a year without shrinking; **Good** when growth is at "
    "least *g*; **Modest** when growth is between 0 and *g*; **Declining** when employment "
    "is projected to fall (noted when openings stay at 100,000 a year or more, mostly to "
    "replace workers who leave)."
)
NOT_POSTINGS = ("These are government statistics (BLS OEWS May 2025 and Employment Projections "
                "2024-34), not live job postings: they describe where people work and what "
                "they earn, not who is hiring this week.")


class MarketInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: JobTitle
    context: Context = None
    state: State = None
    rank_states_by: Literal["employment", "location_quotient"] = Field(
        default="employment",
        description="Rank states by the number employed, or by location quotient (how "
                    "concentrated the occupation is there compared with the nation).")
    top_states: int = Field(default=10, ge=3, le=54, description="How many states to rank.")


def get_market_intelligence(request: MarketInput) -> list[blocks.Block]:
    """Employment, wage percentiles, projections and outlook for a job title's occupation.

    OEWS May 2025 employment and annual wage percentiles for the nation (and a state when
    given), the top states by employment or location quotient, BLS 2024-34 projected growth
    and annual openings with an outlook label, the factors BLS lists for the occupation and
    its in-demand technologies, with charts for wages and states.

    A title that matches no occupation with enough confidence still gets a successful
    answer, charged like any other call: "No confident match", the closest occupations
    with their confidence, and known titles to try instead.
    """
    match, resolution = match_title(request.title, request.context)
    if match is None:
        return no_match_blocks(request.title, resolution)
    data = job_data()
    occ = match.occupation
    notes: list[str] = []
    national = data.wage(occ.wage_soc) if occ.wage_soc else None
    if national is None:
        notes.append("OEWS publishes no wages for this occupation (military occupations are "
                     "not covered).")
    elif occ.wage_soc != occ.soc:
        notes.append(f"OEWS does not publish {occ.soc} on its own: wages and employment are "
                     f"for the broader group {national.soc} {national.soc_title}.")
    wage_rows = [national] if national else []
    if request.state:
        row = wages.state_row(data, occ, request.state)
        if row is None:
            notes.append(f"OEWS publishes no estimate for this occupation in "
                         f"{STATES[request.state]}.")
        else:
            if national is not None and row.soc != national.soc:
                notes.append(f"In {row.area_name} the estimate is for the broader group "
                             f"{row.soc} {row.soc_title}; the detailed one is not released.")
            wage_rows.append(row)
    if any(r.top_coded for r in wage_rows):
        notes.append(f"“{money(None, top_coded=True, cap=top_code_annual(data))}” marks "
                     "wages OEWS top-codes: the true value is at least that; the chart draws "
                     "it at the cap.")

    projection = data.projections.get(occ.projection_soc or "")
    if projection is not None and projection.soc != occ.soc:
        notes.append(f"BLS projects {occ.soc} only as part of {projection.soc} "
                     f"{projection.title}: growth, openings and outlook are for that group.")
    average = data.projections.get("00-0000")
    label = outlook(projection, average.change_percent if average else None)
    out: list[blocks.Block] = [
        blocks.Markdown(title="Occupation", text="\n\n".join(
            [f"## {occ.title}: labour market", match_note(match), *notes])),
        _metrics(data, national, projection, label),
    ]
    if wage_rows:
        out.append(wages.wage_table(data, wage_rows))
        chart = wages.wage_chart(data, wage_rows)
        if chart is not None:
            out.append(chart)
    ranked = wages.top_states(data, national.soc if national else None,
                              request.rank_states_by, request.top_states)
    if ranked:
        out += [wages.states_table(data, ranked, request.rank_states_by),
                wages.states_chart(ranked, request.rank_states_by)]
    if projection is not None:
        out.append(_projection_table(occ, projection))
    out.append(blocks.Markdown(title="Outlook, factors and technologies",
                               text=_outlook_text(data, occ, projection, label, average)))
    return out


def outlook(projection: Projection | None, average: float | None) -> str | None:
    """The outlook label from projected growth and openings; the rule is OUTLOOK_RULE."""
    if projection is None or projection.change_percent is None or average is None:
        return None
    growth = projection.change_percent
    openings = projection.openings_annual_thousands or 0.0
    if growth < 0:
        return "Declining (many openings)" if openings >= MANY_OPENINGS else "Declining"
    if growth >= 2 * average or openings >= MANY_OPENINGS:
        return "Strong"
    return "Good" if growth >= average else "Modest"


def _metrics(data: JobData, national: Wage | None, projection: Projection | None,
             label: str | None) -> blocks.Metrics:
    items = []
    if national is not None:
        items += [
            blocks.Metric(label="US employment", value=number(national.employment),
                          help="OEWS May 2025, all industries"),
            blocks.Metric(label="US median annual wage",
                          value=wages.annual(data, national, "annual_median")[0]),
        ]
    if projection is not None:
        items += [
            blocks.Metric(label="Growth 2024-34", value=f"{projection.change_percent:+.1f}%"
                          if projection.change_percent is not None else "n/a",
                          help="BLS Employment Projections"),
            blocks.Metric(label="Openings a year", value=_thousands(
                projection.openings_annual_thousands), help="average, 2024-34"),
        ]
    items.append(blocks.Metric(label="Outlook", value=label or "n/a",
                               help="tokenworks' rule, not O*NET's Bright Outlook"))
    return blocks.Metrics(title="At a glance", items=items)


def _thousands(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 1000:,.0f}"


def _projection_table(occ: Occupation, p: Projection) -> blocks.Table:
    wage = money(p.median_wage_2024, top_coded=bool(p.median_wage_top_coded))
    rows: list[list[blocks.Scalar]] = [
        ["employment 2024", _thousands(p.employment_2024_thousands)],
        ["employment 2034 (projected)", _thousands(p.employment_2034_thousands)],
        ["change", f"{_thousands(p.change_thousands)} ({p.change_percent:+.1f}%)"
         if p.change_percent is not None else "n/a"],
        ["openings a year", _thousands(p.openings_annual_thousands)],
        ["self-employed (2024)", f"{p.self_employed_percent:.1f}%"
         if p.self_employed_percent is not None else "n/a"],
        ["median annual wage (May 2024)", wage],
        ["education for entry", p.education],
        ["work experience", p.work_experience],
        ["on-the-job training", p.on_the_job_training],
    ]
    scope = "" if p.soc == occ.soc else f" for the broader group {p.soc} {p.title}"
    return blocks.Table(title=f"BLS projections 2024-34{scope}", columns=["measure", "value"],
                        rows=rows)


def _outlook_text(data: JobData, occ: Occupation, projection: Projection | None,
                  label: str | None, average: Projection | None) -> str:
    parts: list[str] = []
    if label is not None and average is not None and average.change_percent is not None:
        parts.append(f"**Outlook: {label}.**")
        parts.append(OUTLOOK_RULE.format(avg=average.change_percent))
    else:
        parts.append("No BLS projection covers this occupation, so no outlook is given.")
    factors = data.projection_factors.get(projection.soc, ()) if projection else ()
    if factors:
        listed = [f"- *{f.industry}:* {f.factor}" for f in factors[:6]]
        more = f"\n- … and {len(factors) - 6} more" if len(factors) > 6 else ""
        parts.append("**Factors BLS lists for this occupation:**\n" + "\n".join(listed) + more)
    else:
        parts.append("BLS lists no factors affecting this occupation's employment.")
    techs = profile.technologies(data, occ, 15, only_flagged=True)
    if techs:
        parts.append("**In-demand and hot technologies (O*NET):** "
                     + ", ".join(t.example + (" (in demand)" if t.in_demand else "")
                                 for t in techs) + ".")
    parts.append(NOT_POSTINGS)
    return "\n\n".join(parts)
