"""OEWS wage rows as display cells and Vega-Lite charts (market intelligence's pictures)."""

from __future__ import annotations

from typing import Any

from tokenworks import blocks

from ..data import JobData, Occupation, Wage
from .measures import money, number, top_code_annual

VEGA = "https://vega.github.io/schema/vega-lite/v5.json"
PERCENTILES = (("annual_p10", "10th"), ("annual_p25", "25th"), ("annual_median", "median"),
               ("annual_p75", "75th"), ("annual_p90", "90th"))


def annual(data: JobData, row: Wage, field: str) -> tuple[str, int | None]:
    """(display text, value to plot) for one annual wage cell, with OEWS's reasons for NULL.

    A top-coded wage is plotted at the cap (a lower bound) and shown as "≥ $239,200".
    """
    value = getattr(row, field)
    if value is not None:
        return money(value), value
    cap = top_code_annual(data)
    if row.top_coded:
        return money(None, top_coded=True, cap=cap), cap
    if row.hourly_only:
        return "hourly only", None
    if row.not_released:
        return "not released", None
    return "n/a", None


def state_row(data: JobData, occ: Occupation, state: str) -> Wage | None:
    """The state's OEWS row for the occupation, falling back through broader SOC groups
    (as wage_soc does nationally) because states suppress more detailed cells."""
    for soc in (occ.wage_soc, occ.broad_code, occ.minor_code, occ.major_code):
        if soc and (row := data.wage(soc, state)) is not None and not _empty(row):
            return row
    return None


def _empty(row: Wage) -> bool:
    return (row.employment is None and row.annual_median is None and not row.top_coded
            and row.hourly_median is None)


def wage_table(data: JobData, rows: list[Wage]) -> blocks.Table:
    out: list[list[blocks.Scalar]] = []
    for row in rows:
        cells = [annual(data, row, field)[0] for field in
                 ("annual_mean", *(f for f, _ in PERCENTILES))]
        hourly = "n/a" if row.hourly_median is None else f"${row.hourly_median:,.2f}"
        out.append([row.area_name, f"{row.soc} {row.soc_title}", number(row.employment),
                    *cells, hourly])
    return blocks.Table(
        title="Employment and annual wages (OEWS May 2025)",
        columns=["area", "SOC", "employment", "mean", "10th pct", "25th pct", "median",
                 "75th pct", "90th pct", "hourly median"],
        rows=out,
    )


def wage_chart(data: JobData, rows: list[Wage]) -> blocks.Chart | None:
    values: list[dict[str, Any]] = []
    for row in rows:
        for order, (field, label) in enumerate(PERCENTILES):
            text, value = annual(data, row, field)
            if value is not None:
                values.append({"area": row.area_name, "percentile": label, "order": order,
                               "wage": value, "label": text})
    if not values:
        return None
    grouped = len(rows) > 1
    encoding: dict[str, Any] = {
        "x": {"field": "percentile", "type": "ordinal", "sort": [p for _, p in PERCENTILES],
              "title": "wage percentile"},
        "y": {"field": "wage", "type": "quantitative", "title": "annual wage (USD)",
              "axis": {"format": "$,.0f"}},
        "tooltip": [{"field": "area"}, {"field": "percentile"},
                    {"field": "label", "title": "annual wage"}],
    }
    if grouped:
        encoding["xOffset"] = {"field": "area"}
        encoding["color"] = {"field": "area", "type": "nominal", "title": None}
    return blocks.Chart(title="Annual wage percentiles", spec={
        "$schema": VEGA,
        "description": "OEWS May 2025 annual wage percentiles; a top-coded wage is drawn "
                       "at the cap, a lower bound.",
        "data": {"values": values},
        "mark": {"type": "bar", "tooltip": True},
        "encoding": encoding,
    })


def top_states(data: JobData, soc: str | None, by: str, limit: int) -> list[Wage]:
    """States ranked by employment or location quotient (rows missing the measure skipped)."""
    if soc is None:
        return []
    field = "employment" if by == "employment" else "location_quotient"
    rows = [r for r in data.wages_state.get(soc, {}).values() if getattr(r, field) is not None]
    return sorted(rows, key=lambda r: (-getattr(r, field), r.state or ""))[:limit]


def states_table(data: JobData, rows: list[Wage], by: str) -> blocks.Table:
    out: list[list[blocks.Scalar]] = [
        [i, r.area_name, r.state, r.employment, r.jobs_per_1000, r.location_quotient,
         annual(data, r, "annual_median")[0]]
        for i, r in enumerate(rows, start=1)
    ]
    return blocks.Table(
        title=f"Top states by {by.replace('_', ' ')}",
        columns=["rank", "state", "code", "employment", "jobs per 1,000", "location quotient",
                 "median annual wage"],
        rows=out,
    )


def states_chart(rows: list[Wage], by: str) -> blocks.Chart:
    field = "employment" if by == "employment" else "location_quotient"
    title = "employment" if by == "employment" else "location quotient (1 = national share)"
    values = [{"state": r.area_name, "value": getattr(r, field)} for r in rows]
    return blocks.Chart(title=f"Top states by {by.replace('_', ' ')}", spec={
        "$schema": VEGA,
        "data": {"values": values},
        "mark": {"type": "bar", "tooltip": True},
        "encoding": {
            "y": {"field": "state", "type": "nominal", "sort": "-x", "title": None},
            "x": {"field": "value", "type": "quantitative", "title": title},
        },
    })
