"""Numbers the functions show and compare: dollars, wage medians, entry education levels."""

from __future__ import annotations

from ..data import JobData, Occupation


def top_code_annual(data: JobData) -> int:
    return int(float(data.meta.get("oews_top_code_annual", "239200")))


def money(value: float | None, *, top_coded: bool = False, cap: int = 239_200) -> str:
    """Dollars with thousands separators; OEWS's top-coded NULL shows as "≥ $239,200"."""
    if value is None:
        return f"≥ ${cap:,}" if top_coded else "n/a"
    return f"${value:,.0f}"


def number(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def short_education(label: str | None) -> str | None:
    """O*NET's long category labels cut to their name ("Post-Secondary Certificate")."""
    if label is None:
        return None
    return label.split(" - ")[0].split(" (")[0].strip()


# Entry education on one ordinal scale, so two occupations can be compared. BLS's entry
# categories are the scale; O*NET's required-level categories are mapped onto it.
BLS_EDUCATION_RANK = {
    "No formal educational credential": 1,
    "High school diploma or equivalent": 2,
    "Some college, no degree": 3,
    "Postsecondary nondegree award": 4,
    "Associate's degree": 5,
    "Bachelor's degree": 6,
    "Master's degree": 7,
    "Doctoral or professional degree": 8,
}
ONET_TO_BLS_RANK = {1: 1, 2: 2, 3: 4, 4: 3, 5: 5, 6: 6, 7: 6, 8: 7, 9: 7, 10: 8, 11: 8, 12: 8}


def entry_education(data: JobData, occ: Occupation) -> tuple[str | None, int | None]:
    """Typical entry education (label, rank on the BLS scale).

    BLS's own assignment where it covers exactly this SOC; otherwise O*NET's modal level for
    this occupation, which is more specific than BLS's broader group; else the broader group.
    """
    projection = data.projections.get(occ.projection_soc or "")
    bls = projection.education if projection is not None else None
    if bls in BLS_EDUCATION_RANK and occ.projection_soc == occ.soc:
        return bls, BLS_EDUCATION_RANK[bls]
    edu = data.education.get(occ.onet_code)
    if edu is not None and edu.education_category is not None:
        return short_education(edu.education), ONET_TO_BLS_RANK.get(edu.education_category)
    if bls in BLS_EDUCATION_RANK:
        return bls, BLS_EDUCATION_RANK[bls]
    return None, None


def national_median(data: JobData, occ: Occupation) -> tuple[int | None, bool]:
    """OEWS national annual median for the occupation's wage SOC, and whether it is top-coded.

    A top-coded median is returned as the cap, a lower bound, so comparisons still work.
    """
    row = data.wage(occ.wage_soc) if occ.wage_soc else None
    if row is None:
        return None, False
    if row.annual_median is None and row.top_coded:
        return top_code_annual(data), True
    return row.annual_median, False
