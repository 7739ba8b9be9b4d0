"""The job-title data in memory: the Parquet files of data/, read once into plain Python.

`JobData.load()` reads every file with DuckDB's built-in Parquet reader (an in-memory
connection that is closed afterwards) and keeps rows as named tuples in dicts keyed by O*NET
code or SOC code. `get_data()` caches one instance per process, so the host pays the load
(well under a second) once. What each column means is in DATA.md beside this module; the
dataclass fields keep the Parquet column names.
"""

from __future__ import annotations

import functools
import gc
import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import duckdb

DATA_DIR = Path(__file__).resolve().parent / "data"


class Occupation(NamedTuple):
    onet_code: str
    soc: str
    title: str
    description: str
    job_zone: int | None
    job_zone_name: str | None
    job_zone_education: str | None
    job_zone_experience: str | None
    job_zone_training: str | None
    job_zone_examples: str | None
    major_code: str
    major_name: str | None
    minor_code: str
    minor_name: str | None
    broad_code: str
    broad_name: str | None
    wage_soc: str | None
    projection_soc: str | None
    has_skills: bool


class TitleRow(NamedTuple):
    title: str
    onet_code: str
    source: str
    alt_sources: str | None
    my_next_move: bool | None
    shared_soc: bool


class Related(NamedTuple):
    onet_code: str
    related_code: str
    tier: str
    rank: int


class Skill(NamedTuple):
    onet_code: str
    kind: str
    element_id: str
    element_name: str
    importance: float | None
    level: float | None
    level_not_relevant: bool | None
    suppress: bool | None


class Technology(NamedTuple):
    onet_code: str
    example: str
    commodity_code: str
    commodity_title: str
    hot: bool
    in_demand: bool


class Task(NamedTuple):
    onet_code: str
    task_id: int
    task: str
    task_type: str | None
    incumbents_responding: float | None
    rank: int


class Education(NamedTuple):
    onet_code: str
    education_category: int | None
    education: str | None
    education_share: float | None
    experience_category: int | None
    experience: str | None
    experience_share: float | None


class Wage(NamedTuple):
    area_type: str
    area_code: str
    area_name: str
    state: str | None
    soc: str
    soc_title: str
    employment: int | None
    employment_rse: float | None
    jobs_per_1000: float | None
    location_quotient: float | None
    hourly_mean: float | None
    hourly_median: float | None
    annual_mean: int | None
    annual_p10: int | None
    annual_p25: int | None
    annual_median: int | None
    annual_p75: int | None
    annual_p90: int | None
    top_coded: bool
    hourly_only: bool
    not_released: bool


class Projection(NamedTuple):
    soc: str
    title: str
    occupation_type: str
    employment_2024_thousands: float | None
    employment_2034_thousands: float | None
    change_thousands: float | None
    change_percent: float | None
    openings_annual_thousands: float | None
    self_employed_percent: float | None
    median_wage_2024: int | None
    median_wage_top_coded: bool | None
    education: str | None
    work_experience: str | None
    on_the_job_training: str | None


class ProjectionFactor(NamedTuple):
    soc: str
    industry_code: str
    industry: str
    factor: str


class GazetteerToken(NamedTuple):
    token: str
    tag: str
    agreement: int


Row = TypeVar("Row")


# Columns whose values repeat across rows: one shared str object per distinct value saves
# tens of MB (DuckDB hands back a new object for every cell).
SHARED = frozenset({
    "onet_code", "soc", "source", "alt_sources", "tier", "related_code", "kind", "element_id",
    "element_name", "commodity_code", "commodity_title", "example", "task_type", "area_type",
    "area_code", "area_name", "state", "soc_title", "industry_code", "industry", "tag",
})


def _rows(con: duckdb.DuckDBPyConnection, path: Path, cls: type[Row]) -> list[Row]:
    """Every row of one Parquet file as `cls` named tuples, in the file's order."""
    names: tuple[str, ...] = cls._fields  # type: ignore[attr-defined]
    cols = ", ".join(f'"{n}"' for n in names)
    # Column-wise through numpy: about a third faster than fetchall()'s row tuples, with the
    # same Python values (tolist() gives None for NULLs, int, float, bool and str).
    arrays = con.execute(f"SELECT {cols} FROM read_parquet(?)", [str(path)]).fetchnumpy()
    columns: list[Any] = [arrays[n].tolist() for n in names]
    del arrays
    if not columns or not columns[0]:
        return []
    cache: dict[Any, Any] = {}
    for i, name in enumerate(names):
        if name in SHARED:
            columns[i] = list(map(cache.setdefault, columns[i], columns[i]))
    # tuple.__new__ makes each named tuple in C; cls._make is a Python call per row.
    return list(map(tuple.__new__, repeat(cls), zip(*columns, strict=True)))


def _group(rows: Iterable[Any], key: str) -> dict[str, tuple[Any, ...]]:
    out: dict[str, list[Any]] = defaultdict(list)
    for r in rows:
        out[getattr(r, key)].append(r)
    return {k: tuple(v) for k, v in out.items()}


@dataclass(frozen=True)
class JobData:
    """All job-title data, keyed for lookup. Build it with `JobData.load()` or `get_data()`."""

    occupations: dict[str, Occupation]  # by onet_code, in code order
    titles: tuple[TitleRow, ...]  # every title row, in file order
    titles_by_code: dict[str, tuple[TitleRow, ...]]
    related: dict[str, tuple[Related, ...]]  # by onet_code, tier then rank order
    skills: dict[str, tuple[Skill, ...]]  # by onet_code: skills and knowledge rows
    technology: dict[str, tuple[Technology, ...]]
    tasks: dict[str, tuple[Task, ...]]  # by onet_code, ordered by rank
    education: dict[str, Education]
    wages_national: dict[str, Wage]  # by soc (every OEWS level, 00-0000 included)
    wages_state: dict[str, dict[str, Wage]]  # soc -> state abbreviation -> row
    states: dict[str, str]  # state abbreviation -> area name
    projections: dict[str, Projection]  # by soc
    projection_factors: dict[str, tuple[ProjectionFactor, ...]]  # by soc, all-industries first
    gazetteer: dict[str, GazetteerToken]  # by lower-case token
    meta: dict[str, str]
    by_soc: dict[str, tuple[Occupation, ...]]  # 6-digit soc -> its O*NET occupations
    data_dir: Path

    @classmethod
    def load(cls, data_dir: Path | None = None) -> JobData:
        """Read every Parquet file of `data_dir` (default: data/ beside this module)."""
        d = Path(data_dir) if data_dir is not None else DATA_DIR
        # Hundreds of thousands of small tuples: the cyclic GC would rescan them repeatedly.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return cls._load(d)
        finally:
            if was_enabled:
                gc.enable()

    @classmethod
    def _load(cls, d: Path) -> JobData:
        con = duckdb.connect(":memory:")
        try:
            occupations = {o.onet_code: o for o in _rows(con, d / "occupations.parquet",
                                                          Occupation)}
            titles = tuple(_rows(con, d / "titles.parquet", TitleRow))
            related = _rows(con, d / "related_occupations.parquet", Related)
            skills = _rows(con, d / "skills.parquet", Skill)
            technology = _rows(con, d / "technology.parquet", Technology)
            tasks = sorted(_rows(con, d / "tasks.parquet", Task),
                           key=lambda t: (t.onet_code, t.rank))
            education = _rows(con, d / "education.parquet", Education)
            wages = _rows(con, d / "wages.parquet", Wage)
            projections = _rows(con, d / "projections.parquet", Projection)
            factors = _rows(con, d / "projection_factors.parquet", ProjectionFactor)
            gazetteer = _rows(con, d / "gazetteer.parquet", GazetteerToken)
            meta = dict(con.execute("SELECT key, value FROM read_parquet(?)",
                                    [str(d / "meta.parquet")]).fetchall())
        finally:
            con.close()
        tier_order = {"Primary-Short": 0, "Primary-Long": 1, "Supplemental": 2}
        related.sort(key=lambda r: (r.onet_code, tier_order.get(r.tier, 3), r.rank))
        wages_state: dict[str, dict[str, Wage]] = defaultdict(dict)
        states: dict[str, str] = {}
        national: dict[str, Wage] = {}
        for w in wages:
            if w.area_type == "national":
                national[w.soc] = w
            elif w.state is not None:
                wages_state[w.soc][w.state] = w
                states.setdefault(w.state, w.area_name)
        return cls(
            occupations=occupations,
            titles=titles,
            titles_by_code=_group(titles, "onet_code"),
            related=_group(related, "onet_code"),
            skills=_group(skills, "onet_code"),
            technology=_group(technology, "onet_code"),
            tasks=_group(tasks, "onet_code"),
            education={e.onet_code: e for e in education},
            wages_national=national,
            wages_state=dict(wages_state),
            states=dict(sorted(states.items())),
            projections={p.soc: p for p in projections},
            projection_factors=_group(factors, "soc"),
            gazetteer={g.token: g for g in gazetteer},
            meta=meta,
            by_soc=_group(occupations.values(), "soc"),
            data_dir=d,
        )

    def occupation(self, code: str) -> Occupation | None:
        """The occupation with this O*NET code (`15-2051.00`), or None."""
        return self.occupations.get(code)

    def wage(self, soc: str, state: str | None = None) -> Wage | None:
        """The OEWS row for a SOC code, national or for a state abbreviation (`CA`)."""
        if state is None:
            return self.wages_national.get(soc)
        return self.wages_state.get(soc, {}).get(state.upper())

    def gazetteer_tags(self) -> dict[str, str]:
        """Lower-case token -> IPOD tag (FUN, RES, LOC or O)."""
        return {t: g.tag for t, g in self.gazetteer.items()}


@functools.lru_cache(maxsize=4)
def _cached(data_dir: Path | None) -> JobData:
    return JobData.load(data_dir)


_LOCK = threading.Lock()


def get_data(data_dir: Path | None = None) -> JobData:
    """The process-wide `JobData` (loaded on first use, then cached); threads that ask at
    the same time wait for the one load."""
    with _LOCK:
        return _cached(Path(data_dir) if data_dir is not None else None)
