"""The job-title data build, run on a small raw fixture (tests/fixtures/job_titles_raw)."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest

from tokenworks.plugins.job_titles import build_data, index_file
from tokenworks.plugins.job_titles.data import DATA_DIR, JobData
from tokenworks.plugins.job_titles.resolver import TitleResolver

RAW = Path(__file__).parent / "fixtures" / "job_titles_raw"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """Run the command line once: the output folder and what it printed."""
    out = tmp_path_factory.mktemp("job_titles_data")
    capture = tmp_path_factory.mktemp("stdout") / "stdout.txt"
    with capture.open("w") as handle, contextlib.redirect_stdout(handle):
        assert build_data.main(["--source", str(RAW), "--out", str(out)]) == 0
    yield out, capture.read_text()


@pytest.fixture(scope="module")
def query(built: tuple[Path, str]) -> Iterator[Any]:
    out, _ = built
    con = duckdb.connect()

    def run(sql: str) -> list[tuple[Any, ...]]:
        for name in build_data.OUTPUTS:
            sql = sql.replace(f"{{{name}}}", f"'{out / name}.parquet'")
        return con.execute(sql).fetchall()

    yield run
    con.close()


def test_every_file_is_written_and_summarised(built: tuple[Path, str]) -> None:
    out, printed = built
    assert sorted(p.stem for p in out.glob("*.parquet")) == sorted(build_data.OUTPUTS)
    assert not list(out.glob("*.tmp"))
    for name in build_data.OUTPUTS:
        assert f"{name}.parquet" in printed
    assert "dropped 2 whose O*NET-SOC 2010 code" in printed  # the two stale crosswalk rows


def test_occupations_carry_job_zone_and_soc_hierarchy(query: Any) -> None:
    assert query("SELECT count(*) FROM {occupations}") == [(10,)]
    [row] = query("""SELECT soc, title, job_zone, job_zone_name, major_code, major_name,
        minor_code, minor_name, broad_code, broad_name, wage_soc, projection_soc, has_skills
        FROM {occupations} WHERE onet_code = '15-2051.00'""")
    assert row == (
        "15-2051", "Data Scientists", 4, "Job Zone Four: Considerable Preparation Needed",
        "15-0000", "Computer and Mathematical Occupations",
        "15-2000", "Mathematical Science Occupations", "15-2050", "Data Scientists",
        "15-2051", "15-2051", False,
    )  # fmt: skip
    # 2018 SOC's minor group 15-1200 (not 15-1000); an OEWS-combined code falls back to 13-1020.
    assert query("SELECT minor_code, minor_name FROM {occupations} WHERE soc = '15-1252'") == [
        ("15-1200", "Computer Occupations")
    ]
    assert query("SELECT wage_soc, projection_soc FROM {occupations} WHERE soc = '13-1021'") == [
        ("13-1020", "13-1020")
    ]


def test_national_and_state_wages(query: Any) -> None:
    [row] = query("""SELECT employment, annual_p10, annual_p25, annual_median, annual_p75,
        annual_p90, top_coded, hourly_only, not_released FROM {wages}
        WHERE soc = '15-2051' AND area_type = 'national'""")
    assert row == (262440, 67240, 85660, 120230, 158880, 199130, False, False, False)
    # Only the nation and states, only cross-industry: the metro and industry cells are gone.
    assert query("SELECT DISTINCT area_type, state FROM {wages} ORDER BY ALL") == [
        ("national", None), ("state", "AL"), ("state", "CA"), ("state", "MA"), ("state", "TX"),
    ]  # fmt: skip
    assert query("SELECT count(*) FROM {wages} WHERE soc = '15-2051'") == [(5,)]
    [(state_lq,)] = query("SELECT location_quotient FROM {wages} WHERE soc = '15-2051' "
                          "AND state = 'CA'")
    assert state_lq > 0


def test_suppressed_and_top_coded_wages_become_null_with_a_flag(query: Any) -> None:
    # Massachusetts chief executives: wages '-' with footnote "Estimate not released".
    assert query("""SELECT employment IS NOT NULL, annual_mean, annual_median, not_released,
        top_coded FROM {wages} WHERE soc = '11-1011' AND state = 'MA'""") == [
        (True, None, None, True, False)
    ]
    # Alabama oral surgeons: every wage >= $239,200 (footnote 5).
    assert query("""SELECT annual_mean, annual_p10, annual_median, annual_p90, top_coded
        FROM {wages} WHERE soc = '29-1022' AND state = 'AL'""") == [
        (None, None, None, None, True)
    ]
    # Actors nationally: hourly wages only.
    [(hourly, annual, hourly_only)] = query("""SELECT hourly_median, annual_median, hourly_only
        FROM {wages} WHERE soc = '27-2011' AND area_type = 'national'""")
    assert hourly > 0 and annual is None and hourly_only
    assert query("SELECT value FROM {meta} WHERE key = 'oews_top_code_annual'") == [("239200",)]


def test_titles_from_every_source(query: Any) -> None:
    sources = dict(query("SELECT source, count(*) FROM {titles} GROUP BY source"))
    assert set(sources) == {
        "occupation", "alternate", "short", "reported", "bls_direct_match",
        "esco_preferred", "esco_alternative",
    }  # fmt: skip
    assert sources["occupation"] == 10
    # Alternate titles keep their O*NET source codes (08 = USDOL-ETA, 10 = job postings).
    assert query("""SELECT alt_sources FROM {titles} WHERE onet_code = '15-2051.00'
        AND source = 'alternate' AND title = 'Data Scientist'""") == [("08,10",)]
    assert query("""SELECT count(*) > 0 FROM {titles} WHERE source = 'alternate'
        AND alt_sources = '10'""") == [(True,)]
    assert query("""SELECT my_next_move FROM {titles} WHERE source = 'reported'
        AND title = 'CEO (Chief Executive Officer)'""") == [(True,)]
    # SOC 15-2051 covers two O*NET occupations: each direct-match title goes to both, flagged.
    assert query("""SELECT onet_code, shared_soc FROM {titles} WHERE source = 'bls_direct_match'
        AND title = 'Data Mining Analyst' ORDER BY 1""") == [
        ("15-2051.00", True), ("15-2051.01", True)
    ]  # fmt: skip
    assert query("""SELECT DISTINCT shared_soc FROM {titles} WHERE source = 'bls_direct_match'
        AND onet_code = '29-1141.00'""") == [(False,)]
    # ESCO labels arrive through the crosswalk; rows on retired 2010 codes are dropped.
    assert query("""SELECT onet_code FROM {titles} WHERE source = 'esco_preferred'
        AND title = 'actor/actress'""") == [("27-2011.00",)]
    assert query("SELECT count(*) FROM {titles} WHERE title = 'software analyst'") == [(0,)]
    assert query("""SELECT count(*) FROM {titles} WHERE title = '' OR title <> trim(title)
        OR title LIKE '%  %'""") == [(0,)]
    assert query("""SELECT count(*) FROM (SELECT title, onet_code, source FROM {titles}
        GROUP BY ALL HAVING count(*) > 1)""") == [(0,)]


def test_projections_skip_the_sheet_headers(query: Any) -> None:
    assert query("""SELECT count(*) FROM {projections}
        WHERE NOT regexp_full_match(soc, '\\d{2}-\\d{4}')""") == [(0,)]
    assert query("""SELECT employment_2024_thousands, employment_2034_thousands, change_percent,
        median_wage_2024, education, work_experience, on_the_job_training FROM {projections}
        WHERE soc = '15-2051'""") == [
        (245.9, 328.3, 33.5, 112590, "Bachelor's degree", "None", "None")
    ]
    assert query("""SELECT median_wage_2024, median_wage_top_coded FROM {projections}
        WHERE soc = '29-1022'""") == [(None, True)]
    assert query("""SELECT education FROM {projections} WHERE soc = '00-0000'""") == [(None,)]
    [(industry, factor)] = query("""SELECT industry_code, factor FROM {projection_factors}
        WHERE soc = '15-2051'""")
    assert industry == "TE1000" and factor.startswith("Demand change")


def test_ratings_tasks_and_education(query: Any) -> None:
    assert query("SELECT count(*) FROM {skills} WHERE onet_code = '15-1252.00'") == [(0,)]
    [(count, kinds)] = query("""SELECT count(*), count(DISTINCT kind) FROM {skills}
        WHERE onet_code = '29-1141.00' AND importance IS NOT NULL AND level IS NOT NULL""")
    assert count > 50 and kinds == 2
    assert query("""SELECT task_type FROM {tasks} WHERE onet_code = '29-1141.00'
        AND rank = 1""") == [("Core",)]
    assert query("""SELECT education, experience FROM {education}
        WHERE onet_code = '29-1141.00'""") == [
        ("Bachelor's Degree", "Over 1 year, up to and including 2 years")
    ]
    assert query("""SELECT count(*) > 0, bool_or(hot), bool_or(in_demand) FROM {technology}
        WHERE onet_code = '15-2051.00'""") == [(True, True, True)]
    assert query("""SELECT tier, rank FROM {related_occupations}
        WHERE onet_code = '15-2051.00' ORDER BY rank LIMIT 1""") == [("Primary-Short", 1)]
    assert query("SELECT tag, agreement FROM {gazetteer} WHERE token = 'senior'") == [("RES", 3)]


def test_the_build_is_deterministic(built: tuple[Path, str], tmp_path: Path) -> None:
    out, _ = built
    build_data.build(RAW, tmp_path)
    for name in build_data.OUTPUTS:
        assert (tmp_path / f"{name}.parquet").read_bytes() == (
            out / f"{name}.parquet"
        ).read_bytes(), name


# -- the precomputed resolver index (data/title_index.npz) ---------------------------------
INDEX_TITLES = ["Data Scientist", "RN", "Sr. Software Engineer", "Truck Driver", "cashier", "xqzt"]


def test_the_committed_index_is_current() -> None:
    # Stale means its inputs (Parquet files, cleaning or indexing code) changed since it was
    # written: rebuild it with `python -m tokenworks.plugins.job_titles.index_file`.
    assert index_file.read_index(DATA_DIR) is not None


def test_the_build_writes_an_index_that_answers_as_a_built_one(
        built: tuple[Path, str]) -> None:
    out, printed = built
    assert index_file.INDEX_FILE in printed
    data = JobData.load(out)
    state = index_file.read_index(out)
    assert state is not None
    loaded = TitleResolver.from_state(data, state)
    fresh = TitleResolver(data)
    assert loaded.keys == fresh.keys and loaded.alias_title == fresh.alias_title
    assert np.array_equal(loaded.chars.vals, fresh.chars.vals)
    for title in INDEX_TITLES:
        assert loaded.resolve(title) == fresh.resolve(title), title


def test_a_stale_index_is_ignored(built: tuple[Path, str], tmp_path: Path) -> None:
    out, _ = built
    copy = tmp_path / "data"
    shutil.copytree(out, copy)
    assert index_file.read_index(copy) is not None
    with (copy / "titles.parquet").open("ab") as handle:  # the titles changed since
        handle.write(b"\0")
    assert index_file.read_index(copy) is None


def test_an_index_for_other_occupations_is_refused(built: tuple[Path, str]) -> None:
    out, _ = built
    state = index_file.read_index(out)
    assert state is not None
    with pytest.raises(ValueError, match="other occupations"):
        TitleResolver.from_state(JobData.load(), state)
