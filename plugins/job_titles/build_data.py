"""Build the job-title data: raw O*NET, BLS, ESCO and IPOD files -> compact Parquet files.

Run from the repository root; it is rerunnable and deterministic (same input, same rows in the
same order, same bytes with the same DuckDB version)::

    .venv/bin/python -m tokenworks.plugins.job_titles.build_data \\
        --source ../shared/data --out plugins/job_titles/data

The raw files and their licences are described in the source folder's README.md; what each
output file holds, and the choices made here, are in DATA.md beside this script. Only this
build reads the raw data: at run time the plugin reads the Parquet files with DuckDB.

Everything that can be is done in DuckDB SQL over `read_csv` (explicit delimiter, quoting and
header options; every column read as text and cast on purpose). The OEWS file is SQLite:
Python's sqlite3 reads a gunzipped temporary copy, and the cells needed are handed to DuckDB
as a temporary tab-separated file.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCE = HERE.parents[1] / ".." / "shared" / "data"
DEFAULT_OUT = HERE / "data"
MAX_TOTAL_BYTES = 15 * 1024 * 1024

ONET_VERSION = "O*NET 29.3 (May 2025)"
EP_FILE = "bls/employment_projections_2024_34 Table {}.csv"

# OEWS area state codes (FIPS) -> USPS abbreviations; the SQLite file names states in full.
STATE_ABBR = {
    "01": "AL", "02": "AK", "04": "AZ", "05": "AR", "06": "CA", "08": "CO", "09": "CT",
    "10": "DE", "11": "DC", "12": "FL", "13": "GA", "15": "HI", "16": "ID", "17": "IL",
    "18": "IN", "19": "IA", "20": "KS", "21": "KY", "22": "LA", "23": "ME", "24": "MD",
    "25": "MA", "26": "MI", "27": "MN", "28": "MS", "29": "MO", "30": "MT", "31": "NE",
    "32": "NV", "33": "NH", "34": "NJ", "35": "NM", "36": "NY", "37": "NC", "38": "ND",
    "39": "OH", "40": "OK", "41": "OR", "42": "PA", "44": "RI", "45": "SC", "46": "SD",
    "47": "TN", "48": "TX", "49": "UT", "50": "VT", "51": "VA", "53": "WA", "54": "WV",
    "55": "WI", "56": "WY", "60": "AS", "66": "GU", "69": "MP", "72": "PR", "78": "VI",
}  # fmt: skip

# OEWS data types kept, by their name in the file's own `datatype` table -> output column.
OEWS_VALUES = {
    "Employment percent relative standard error": "employment_rse",
    "Employment per 1,000 jobs": "jobs_per_1000",
    "Location Quotient": "location_quotient",
    "Hourly mean wage": "hourly_mean",
    "Hourly median wage": "hourly_median",
}
OEWS_ANNUAL = {
    "Annual mean wage": "annual_mean",
    "Annual 10th percentile wage": "annual_p10",
    "Annual 25th percentile wage": "annual_p25",
    "Annual median wage": "annual_median",
    "Annual 75th percentile wage": "annual_p75",
    "Annual 90th percentile wage": "annual_p90",
}
# SOC 2018 group names that neither OEWS nor the projections carry (military occupations).
SOC_EXTRA = {
    "55-0000": "Military Specific Occupations",
    "55-1000": "Military Officer Special and Tactical Operations Leaders",
    "55-2000": "First-Line Enlisted Military Supervisors",
    "55-3000": "Military Enlisted Tactical Operations and Air/Weapons Specialists and Crew Members",
}
CROSS_INDUSTRY = "000000"  # "Cross-Industry, Private, Federal, State, and Local"

# Employment Projections sheet headers (prefixes) -> output column names.
EP_12_COLUMNS = {
    "2024 National Employment Matrix title": "title",
    "2024 National Employment Matrix code": "soc",
    "Occupation type": "occupation_type",
    "Employment, 2024": "employment_2024",
    "Employment, 2034": "employment_2034",
    "Employment change, numeric": "change",
    "Employment change, percent": "change_percent",
    "Percent self employed": "self_employed_percent",
    "Occupational openings": "openings",
    "Median annual wage": "median_wage",
    "Typical education needed for entry": "education",
    "Work experience in a related occupation": "work_experience",
    "Typical on-the-job training": "on_the_job_training",
}
EP_112_COLUMNS = {
    "2024 National Employment Matrix occupation title": "title",
    "2024 National Employment Matrix occupation code": "soc",
    "2024 National Employment Matrix industry title": "industry",
    "2024 National Employment Matrix industry code": "industry_code",
    "Factors affecting occupational utilization": "factor",
}

# Output file -> ORDER BY (a unique key, so the row order is fixed).
OUTPUTS = {
    "occupations": "onet_code",
    "titles": "onet_code, list_position(['occupation', 'alternate', 'short', 'reported', "
    "'bls_direct_match', 'esco_preferred', 'esco_alternative'], source), title",
    "related_occupations": "onet_code, rank, related_code",
    "skills": "onet_code, kind, importance DESC NULLS LAST, element_id",
    "technology": "onet_code, example, commodity_code",
    "tasks": "onet_code, rank",
    "education": "onet_code",
    "wages": "soc, area_code",
    "projections": "soc",
    "projection_factors": "soc, industry_code <> 'TE1000', industry_code, factor",
    "gazetteer": "token",
    "meta": "key",
}


def lit(value: object) -> str:
    """A SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


@dataclass
class Build:
    """One build: a DuckDB connection, the source folder, and notes for the summary."""

    source: Path
    out: Path
    con: duckdb.DuckDBPyConnection = field(default_factory=duckdb.connect)
    notes: list[str] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)

    def path(self, relative: str) -> Path:
        path = self.source / relative
        if not path.is_file():
            raise SystemExit(f"missing raw file: {path}")
        return path

    def sql(self, query: str) -> None:
        self.con.execute(query)

    def value(self, query: str) -> object:
        row = self.con.execute(query).fetchone()
        return None if row is None else row[0]

    def note(self, text: str) -> None:
        self.notes.append(text)

    def onet(self, name: str) -> str:
        """A read_csv over one O*NET tab-separated file (no quoting: O*NET text has none)."""
        path = self.path(f"onet_29_3/{name}.tsv.gz")
        return (
            f"read_csv({lit(path)}, delim='\\t', header=true, quote='', escape='', "
            "all_varchar=true, compression='gzip')"
        )

    def csv(self, relative: str) -> str:
        """A read_csv over a comma-separated file with a header row and "-quoting."""
        return (
            f"read_csv({lit(self.path(relative))}, delim=',', header=true, quote='\"', "
            "escape='\"', all_varchar=true)"
        )


# --------------------------------------------------------------------------------------------
# O*NET


def build_onet(b: Build) -> None:
    """Occupations, job zones, related occupations, skills, technology, tasks, education."""
    b.sql(f"""CREATE TABLE raw_occupation AS SELECT "O*NET-SOC Code" AS onet_code,
        left(onet_code, 7) AS soc, Title AS title, Description AS description
        FROM {b.onet("Occupation Data")}""")
    b.sql(f"""CREATE TABLE job_zone AS SELECT z."O*NET-SOC Code" AS onet_code,
        CAST(z."Job Zone" AS INTEGER) AS job_zone, r.Name AS job_zone_name,
        r.Education AS job_zone_education, r.Experience AS job_zone_experience,
        r."Job Training" AS job_zone_training, r.Examples AS job_zone_examples
        FROM {b.onet("Job Zones")} z
        LEFT JOIN {b.onet("Job Zone Reference")} r ON r."Job Zone" = z."Job Zone" """)

    b.sql(f"""CREATE TABLE related_occupations AS SELECT "O*NET-SOC Code" AS onet_code,
        "Related O*NET-SOC Code" AS related_code, "Relatedness Tier" AS tier,
        CAST("Index" AS INTEGER) AS rank FROM {b.onet("Related Occupations")}""")

    ratings = " UNION ALL ".join(
        f"""SELECT "O*NET-SOC Code" AS onet_code, '{kind}' AS kind, "Element ID" AS element_id,
            "Element Name" AS element_name, "Scale ID" AS scale,
            CAST("Data Value" AS DOUBLE) AS value, "Not Relevant" = 'Y' AS not_relevant,
            "Recommend Suppress" = 'Y' AS suppress FROM {b.onet(name)}"""
        for kind, name in (("skill", "Skills"), ("knowledge", "Knowledge"))
    )
    b.sql(f"""CREATE TABLE skills AS SELECT onet_code, kind, element_id, element_name,
        max(value) FILTER (WHERE scale = 'IM') AS importance,
        max(value) FILTER (WHERE scale = 'LV') AS level,
        coalesce(bool_or(not_relevant) FILTER (WHERE scale = 'LV'), false)
            AS level_not_relevant,
        coalesce(bool_or(suppress), false) AS suppress
        FROM ({ratings}) GROUP BY onet_code, kind, element_id, element_name""")

    b.sql(f"""CREATE TABLE technology AS SELECT DISTINCT "O*NET-SOC Code" AS onet_code,
        Example AS example, "Commodity Code" AS commodity_code,
        "Commodity Title" AS commodity_title, "Hot Technology" = 'Y' AS hot,
        "In Demand" = 'Y' AS in_demand FROM {b.onet("Technology Skills")}""")

    b.sql(f"""CREATE TABLE tasks AS SELECT "O*NET-SOC Code" AS onet_code,
        CAST("Task ID" AS INTEGER) AS task_id, Task AS task, "Task Type" AS task_type,
        CAST("Incumbents Responding" AS DOUBLE) AS incumbents_responding,
        CAST(row_number() OVER (PARTITION BY onet_code ORDER BY task_type = 'Core' DESC NULLS LAST,
            incumbents_responding DESC NULLS LAST, task_id) AS INTEGER) AS rank
        FROM {b.onet("Task Statements")}""")

    # Typical (modal) category per occupation: the category with the largest share of
    # respondents; a tie goes to the lower category. Category 1 of the experience scales has
    # no description in the categories file: it means "None".
    b.sql(f"""CREATE TABLE modal AS SELECT e."O*NET-SOC Code" AS onet_code,
        e."Scale ID" AS scale, CAST(e.Category AS INTEGER) AS category,
        coalesce(c."Category Description", 'None') AS label,
        CAST(e."Data Value" AS DOUBLE) AS share
        FROM {b.onet("Education, Training, and Experience")} e
        LEFT JOIN {b.onet("Education, Training, and Experience Categories")} c
            ON c."Scale ID" = e."Scale ID" AND c.Category = e.Category
        WHERE e."Scale ID" IN ('RL', 'RW')
        QUALIFY row_number() OVER (PARTITION BY e."O*NET-SOC Code", e."Scale ID"
            ORDER BY CAST(e."Data Value" AS DOUBLE) DESC, CAST(e.Category AS INTEGER)) = 1""")
    b.sql("""CREATE TABLE education AS SELECT rl.onet_code,
        rl.category AS education_category, rl.label AS education, rl.share AS education_share,
        rw.category AS experience_category, rw.label AS experience,
        rw.share AS experience_share
        FROM modal rl LEFT JOIN modal rw ON rw.onet_code = rl.onet_code AND rw.scale = 'RW'
        WHERE rl.scale = 'RL'""")

    total = b.value("SELECT count(*) FROM raw_occupation")
    for table, what in (
        ("job_zone", "job zone"),
        ("skills", "Skills/Knowledge ratings"),
        ("tasks", "task statements"),
        ("technology", "technology skills"),
        ("education", "education/experience ratings"),
    ):
        missing = b.value(f"""SELECT count(*) FROM raw_occupation
            WHERE onet_code NOT IN (SELECT onet_code FROM {table})""")
        b.note(f"{missing} of {total} O*NET occupations have no {what}")


# --------------------------------------------------------------------------------------------
# Titles


def build_titles(b: Build) -> None:
    """Every title string usable for matching, with its O*NET code and where it came from."""
    alternates = b.onet("Alternate Titles")
    # A 2018 SOC code may cover several O*NET occupations: a direct-match title is attached to
    # each of them, flagged shared_soc, so the resolver can weigh it (see DATA.md).
    b.sql("""CREATE TABLE soc_onet AS SELECT soc, onet_code,
        count(*) OVER (PARTITION BY soc) > 1 AS shared_soc FROM raw_occupation""")
    b.sql(f"""CREATE TABLE bls_titles AS SELECT "2018 SOC Code" AS soc,
        "2018 SOC Direct Match Title" AS title FROM {b.csv("bls/soc_2018_direct_match_titles.csv")}
        WHERE title IS NOT NULL""")
    dropped = b.value("SELECT count(*) FROM bls_titles WHERE soc NOT IN (SELECT soc FROM soc_onet)")
    socs = b.value("""SELECT count(DISTINCT soc) FROM bls_titles
        WHERE soc NOT IN (SELECT soc FROM soc_onet)""")
    b.note(f"BLS direct-match titles: dropped {dropped} whose SOC code ({socs} codes) "
           "has no O*NET occupation")

    # ESCO labels reach O*NET through Nesta's crosswalk, which uses O*NET-SOC 2010 codes: kept
    # where the code still exists in O*NET 29.3, dropped (and counted) otherwise.
    b.sql(f"""CREATE TABLE esco AS SELECT conceptUri AS uri, preferredLabel AS preferred,
        altLabels AS alternatives FROM {b.csv("esco/esco_1.2.0_occupations_en.csv")}""")
    b.sql(f"""CREATE TABLE crosswalk AS SELECT concept_uri AS uri, onet_code
        FROM {b.csv("esco/esco_onet_crosswalk_Nov2020.csv")}""")
    rows = b.value("SELECT count(*) FROM crosswalk")
    stale = b.value("""SELECT count(*) FROM crosswalk
        WHERE onet_code NOT IN (SELECT onet_code FROM raw_occupation)""")
    stale_codes = b.value("""SELECT count(DISTINCT onet_code) FROM crosswalk
        WHERE onet_code NOT IN (SELECT onet_code FROM raw_occupation)""")
    unknown = b.value("SELECT count(*) FROM crosswalk WHERE uri NOT IN (SELECT uri FROM esco)")
    b.note(f"ESCO crosswalk: {rows} rows; dropped {stale} whose O*NET-SOC 2010 code "
           f"({stale_codes} codes) is not in O*NET 29.3 and {unknown} whose ESCO URI is not "
           "in ESCO 1.2.0")
    b.sql("""CREATE TABLE esco_onet AS SELECT c.onet_code, e.preferred, e.alternatives
        FROM crosswalk c JOIN esco e USING (uri)
        WHERE c.onet_code IN (SELECT onet_code FROM raw_occupation)""")

    parts = [
        "SELECT title, onet_code, 'occupation', NULL, NULL, false FROM raw_occupation",
        f"""SELECT "Alternate Title", "O*NET-SOC Code", 'alternate', "Source(s)", NULL, false
            FROM {alternates}""",
        f"""SELECT "Short Title", "O*NET-SOC Code", 'short', "Source(s)", NULL, false
            FROM {alternates} WHERE "Short Title" IS NOT NULL""",
        f"""SELECT "Reported Job Title", "O*NET-SOC Code", 'reported', NULL,
            "Shown in My Next Move" = 'Y', false FROM {b.onet("Sample of Reported Titles")}""",
        """SELECT t.title, s.onet_code, 'bls_direct_match', NULL, NULL, s.shared_soc
            FROM bls_titles t JOIN soc_onet s USING (soc)""",
        "SELECT preferred, onet_code, 'esco_preferred', NULL, NULL, false FROM esco_onet",
        """SELECT unnest(string_split(alternatives, chr(10))), onet_code, 'esco_alternative',
            NULL, NULL, false FROM esco_onet""",
    ]
    union = " UNION ALL ".join(parts)
    # One row per (title, code, source); titles are trimmed with runs of spaces collapsed.
    # alt_sources merges the O*NET source codes of every alternate row bearing the title.
    b.sql(f"""CREATE TABLE titles AS
        WITH raw(title, onet_code, source, sources, my_next_move, shared_soc) AS ({union}),
        clean AS (SELECT regexp_replace(trim(title), '\\s+', ' ', 'g') AS title, * EXCLUDE (title)
            FROM raw)
        SELECT title, onet_code, source,
            nullif(array_to_string(list_sort(list_distinct(flatten(
                list(string_split(sources, ',')) FILTER (WHERE sources IS NOT NULL)))), ','), '')
                AS alt_sources,
            bool_or(my_next_move) AS my_next_move,
            bool_or(shared_soc) AS shared_soc
        FROM clean WHERE title <> ''
        GROUP BY title, onet_code, source""")


# --------------------------------------------------------------------------------------------
# OEWS wages


def export_sqlite(db: sqlite3.Connection, query: str, path: Path) -> None:
    """Write a SQLite query's rows, under a header row, to a tab-separated file."""
    cursor = db.execute(query)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t", quotechar='"', lineterminator="\n")
        writer.writerow([column[0] for column in cursor.description])
        writer.writerows(cursor)


def footnote_codes(footnotes: dict[str, str], pattern: str) -> list[str]:
    """The codes of the OEWS footnotes whose text matches `pattern`."""
    return sorted(code for code, text in footnotes.items() if re.search(pattern, text, re.I))


def build_wages(b: Build, work: Path) -> None:
    """National and state cross-industry OEWS cells, decoded with the file's own tables."""
    database = work / "oews.sqlite"
    with gzip.open(b.path("bls/oews-2025.sqlite.gz"), "rb") as src, database.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    db = sqlite3.connect(database)
    try:
        datatypes = {name: code for code, name in db.execute("SELECT * FROM datatype")}
        footnotes = dict(db.execute("SELECT footnote_code, footnote_text FROM footnote"))
        meta = dict(db.execute("SELECT name, value FROM meta"))
        industries = dict(db.execute("SELECT industry_code, industry_name FROM industry"))
        missing = [n for n in ("Employment", *OEWS_VALUES, *OEWS_ANNUAL) if n not in datatypes]
        if missing or CROSS_INDUSTRY not in industries:
            raise SystemExit(f"OEWS file lacks data types {missing} or the cross-industry code")
        # Cell key: OEU + area type (N/S/M) + area (7) + industry (6) + occupation (6).
        export_sqlite(db, f"""SELECT substr(key, 4, 1) AS area_type, substr(key, 5, 7)
            AS area_code, substr(key, 18, 6) AS occupation_code, * FROM cell
            WHERE substr(key, 4, 1) IN ('N', 'S') AND substr(key, 12, 6) = '{CROSS_INDUSTRY}'
            ORDER BY key""", work / "cells.tsv")
        export_sqlite(db, "SELECT * FROM area ORDER BY area_code", work / "areas.tsv")
        export_sqlite(db, "SELECT * FROM occupation ORDER BY occupation_code",
                      work / "oews_occupations.tsv")
    finally:
        db.close()

    top = footnote_codes(footnotes, r"equal to or greater than")
    hourly_only = footnote_codes(footnotes, r"hourly wages or annual salaries")
    not_released = footnote_codes(footnotes, r"not released")
    top_text = " ".join(footnotes[c] for c in top)
    annual_cap = re.search(r"\$([\d,]+) per year", top_text)
    hourly_cap = re.search(r"\$([\d.,]+) per hour", top_text)
    b.meta.update({
        "oews_release": meta.get("release", ""),
        "oews_release_code": meta.get("release_code", ""),
        "oews_top_code_annual": annual_cap.group(1).replace(",", "") if annual_cap else "",
        "oews_top_code_hourly": hourly_cap.group(1) if hourly_cap else "",
    })

    def tsv(name: str) -> str:
        return (f"read_csv({lit(work / name)}, delim='\\t', header=true, quote='\"', "
                "escape='\"', all_varchar=true)")

    def codes(values: Sequence[str]) -> str:
        return "[" + ", ".join(lit(v) for v in values) + "]"

    def number(name: str) -> str:
        # '-' (see the footnote), '*', '**', '#' and '~' are the BLS markers for values not
        # shown; none of them is a number, so each becomes NULL.
        return f"TRY_CAST(replace(v{datatypes[name]}, ',', '') AS DOUBLE)"

    def why(name: str, footnote_list: Sequence[str], markers: Sequence[str]) -> str:
        """SQL: this value is missing for the reason given by these footnotes or markers."""
        code = datatypes[name]
        return (f"({number(name)} IS NULL AND (list_contains({codes(footnote_list)}, f{code}) "
                f"OR list_contains({codes(markers)}, v{code})))")

    annual = list(OEWS_ANNUAL)
    any_top = " OR ".join(why(n, top, ["#"]) for n in annual)
    any_hourly_only = " OR ".join(why(n, hourly_only, []) for n in annual)
    any_not_released = " OR ".join(why(n, not_released, ["*", "**"]) for n in annual)
    values = ", ".join(f"{number(n)} AS {col}" for n, col in OEWS_VALUES.items())
    annual_values = ", ".join(
        f"CAST(round({number(n)}) AS INTEGER) AS {col}" for n, col in OEWS_ANNUAL.items()
    )
    states = ", ".join(f"({lit(k)}, {lit(v)})" for k, v in STATE_ABBR.items())
    b.sql(f"""CREATE TABLE oews_occupation AS SELECT
        left(occupation_code, 2) || '-' || right(occupation_code, 4) AS soc,
        occupation_name AS title FROM {tsv("oews_occupations.tsv")}""")
    b.sql(f"""CREATE TABLE wages AS SELECT
        CASE c.area_type WHEN 'N' THEN 'national' ELSE 'state' END AS area_type,
        c.area_code, a.area_name, s.abbr AS state,
        left(c.occupation_code, 2) || '-' || right(c.occupation_code, 4) AS soc,
        o.title AS soc_title,
        CAST(round({number("Employment")}) AS INTEGER) AS employment,
        {values},
        {annual_values},
        coalesce({any_top}, false) AS top_coded,
        coalesce({any_hourly_only}, false) AS hourly_only,
        coalesce({any_not_released}, false) AS not_released
        FROM {tsv("cells.tsv")} c
        LEFT JOIN {tsv("areas.tsv")} a USING (area_code)
        LEFT JOIN (VALUES {states}) s(fips, abbr) ON s.fips = a.state_code
            AND c.area_type = 'S'
        LEFT JOIN oews_occupation o
            ON o.soc = left(c.occupation_code, 2) || '-' || right(c.occupation_code, 4)""")

    explained = " OR ".join(f"{number(n)} IS NULL" for n in annual)
    unexplained = b.value(f"""SELECT count(*) FROM {tsv("cells.tsv")} WHERE ({explained})
        AND NOT coalesce({any_top} OR {any_hourly_only} OR {any_not_released}, false)""")
    mixed = b.value("""SELECT count(*) FROM wages
        WHERE CAST(top_coded AS INT) + CAST(hourly_only AS INT) + CAST(not_released AS INT) > 1""")
    b.note(f"OEWS {b.meta['oews_release']}: national + state cross-industry rows; annual wages "
           f"NULL: top-coded (>= ${int(b.meta['oews_top_code_annual'] or 0):,}) in "
           f"{b.value('SELECT count(*) FROM wages WHERE top_coded')} rows, hourly only in "
           f"{b.value('SELECT count(*) FROM wages WHERE hourly_only')}, not released in "
           f"{b.value('SELECT count(*) FROM wages WHERE not_released')}; rows with more than "
           f"one reason: {mixed}; NULL annual wages with no stated reason: {unexplained}; "
           f"employment not released in "
           f"{b.value('SELECT count(*) FROM wages WHERE employment IS NULL')}")


# --------------------------------------------------------------------------------------------
# Employment Projections


def header_row(path: Path, first_label: str) -> tuple[int, list[str]]:
    """The index and cells of the first row whose first cell starts with `first_label`."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for index, row in enumerate(csv.reader(handle)):
            if row and row[0].startswith(first_label):
                if any("\n" in cell for cell in row):
                    raise SystemExit(f"{path}: multi-line header row")
                return index, row
    raise SystemExit(f"{path}: no header row starting with {first_label!r}")


def sheet(b: Build, table: str, columns: dict[str, str]) -> str:
    """A read_csv over one projections sheet, starting below its own header row.

    The sheets carry a title row (maybe more) above the header: the header is the first row
    that starts with the first known label, and its cells (matched by prefix) name the columns.
    """
    path = b.path(EP_FILE.format(table))
    index, row = header_row(path, next(iter(columns)))
    names = []
    for position, cell in enumerate(row):
        known = [name for label, name in columns.items() if cell.startswith(label)]
        names.append(known[0] if known else f"unused_{position}")
    if lost := set(columns.values()) - set(names):
        raise SystemExit(f"{path}: columns {sorted(lost)} not found in the header row")
    return (f"read_csv({lit(path)}, delim=',', quote='\"', escape='\"', header=false, "
            f"skip={index + 1}, names={names}, all_varchar=true, null_padding=true)")


def build_projections(b: Build) -> None:
    """BLS Employment Projections 2024-34: Table 1.2 per SOC code, Table 1.12 factors."""
    soc = "regexp_full_match(soc, '\\d{2}-\\d{4}')"

    def num(column: str) -> str:
        return f"TRY_CAST(replace({column}, ',', '') AS DOUBLE)"

    # '—' means "not available" (Summary rows); an empty experience or training cell on a
    # Line item means "None" (as in BLS's spreadsheet display).
    def text(column: str) -> str:
        return (f"CASE WHEN {column} = '—' THEN NULL WHEN {column} IS NULL AND "
                f"occupation_type = 'Line item' THEN 'None' ELSE {column} END")

    b.sql(f"""CREATE TABLE projections AS SELECT soc, trim(title) AS title, occupation_type,
        {num("employment_2024")} AS employment_2024_thousands,
        {num("employment_2034")} AS employment_2034_thousands,
        {num("change")} AS change_thousands, {num("change_percent")} AS change_percent,
        {num("openings")} AS openings_annual_thousands,
        {num("self_employed_percent")} AS self_employed_percent,
        CAST({num("median_wage")} AS INTEGER) AS median_wage_2024,
        starts_with(median_wage, '>=') AS median_wage_top_coded,
        CASE WHEN education = '—' THEN NULL ELSE education END AS education,
        {text("work_experience")} AS work_experience,
        {text("on_the_job_training")} AS on_the_job_training
        FROM {sheet(b, "1.2", EP_12_COLUMNS)} WHERE {soc}""")
    skipped = b.value(f"""SELECT count(*) FROM {sheet(b, "1.2", EP_12_COLUMNS)}
        WHERE NOT coalesce({soc}, false)""")
    b.note(f"Projections Table 1.2: skipped {skipped} footnote/source rows below the data")

    b.sql(f"""CREATE TABLE projection_factors AS SELECT DISTINCT soc, industry_code,
        trim(industry) AS industry, trim(factor) AS factor
        FROM {sheet(b, "1.12", EP_112_COLUMNS)} WHERE {soc} AND factor IS NOT NULL""")


# --------------------------------------------------------------------------------------------
# Occupations (with the SOC hierarchy and fall-back codes), gazetteer, meta


def build_occupations(b: Build) -> None:
    """O*NET occupations with job zone, SOC groups and the codes that hold wages/projections.

    SOC 2018 groups of 15-2051: major 15-0000, minor 15-2000 (XX-X000, or XX-XX00 where that
    group exists, e.g. 15-1200), broad 15-2050. Names come from OEWS's occupation table, else
    the projections' summary rows, else (military, which neither covers) SOC_EXTRA; a broad
    group with a single detailed occupation, which neither source lists, takes its name.
    wage_soc / projection_soc: the occupation's own 6-digit SOC if that source has it, else the
    nearest broader group that it has (broad, minor, major), else NULL.
    """
    extra = ", ".join(f"({lit(k)}, {lit(v)})" for k, v in SOC_EXTRA.items())
    b.sql(f"""CREATE TABLE soc_name AS
        WITH named AS (SELECT soc, title AS name, 1 AS pick FROM oews_occupation
            UNION ALL SELECT soc, title, 2 FROM projections
            UNION ALL SELECT *, 3 FROM (VALUES {extra}))
        SELECT soc, name FROM named
        QUALIFY row_number() OVER (PARTITION BY soc ORDER BY pick) = 1""")
    b.sql("""CREATE TABLE single_broad AS SELECT left(d.soc, 6) || '0' AS soc,
        any_value(n.name) AS name
        FROM (SELECT soc FROM soc_name UNION SELECT soc FROM raw_occupation) d
        LEFT JOIN soc_name n USING (soc) WHERE right(d.soc, 1) <> '0'
        GROUP BY 1 HAVING count(*) = 1""")
    b.sql("""CREATE TABLE wage_soc AS SELECT soc FROM wages WHERE area_type = 'national'
        AND (employment IS NOT NULL OR annual_median IS NOT NULL OR hourly_median IS NOT NULL)""")

    def fallback(table: str) -> str:
        return "coalesce(" + ", ".join(
            f"(SELECT soc FROM {table} t WHERE t.soc = c.{code})"
            for code in ("soc", "broad_code", "minor_code", "major_code")
        ) + ")"

    def name(code: str) -> str:
        return f"(SELECT name FROM soc_name n WHERE n.soc = c.{code})"

    b.sql(f"""CREATE TABLE occupations AS
        WITH c AS (SELECT *, left(soc, 2) || '-0000' AS major_code,
            CASE WHEN left(soc, 5) || '00' IN (SELECT soc FROM soc_name)
                THEN left(soc, 5) || '00' ELSE left(soc, 4) || '000' END AS minor_code,
            left(soc, 6) || '0' AS broad_code FROM raw_occupation)
        SELECT c.onet_code, c.soc, c.title, c.description, z.* EXCLUDE (onet_code),
            c.major_code, {name("major_code")} AS major_name,
            c.minor_code, {name("minor_code")} AS minor_name,
            c.broad_code, coalesce({name("broad_code")},
                (SELECT name FROM single_broad s WHERE s.soc = c.broad_code)) AS broad_name,
            {fallback("wage_soc")} AS wage_soc,
            {fallback("projections")} AS projection_soc,
            c.onet_code IN (SELECT onet_code FROM skills) AS has_skills
        FROM c LEFT JOIN job_zone z USING (onet_code)""")
    for column in ("major_name", "minor_name", "broad_name"):
        missing = b.value(f"SELECT count(*) FROM occupations WHERE {column} IS NULL")
        b.note(f"occupations without a {column.replace('_', ' ')}: {missing}")
    for column, source in (("wage_soc", "OEWS national"), ("projection_soc", "projections")):
        own = b.value(f"SELECT count(*) FROM occupations WHERE {column} = soc")
        broader = b.value(f"SELECT count(*) FROM occupations WHERE {column} <> soc")
        none = b.value(f"SELECT count(*) FROM occupations WHERE {column} IS NULL")
        b.note(f"{source}: {own} occupations use their own SOC code, {broader} a broader "
               f"group, {none} have none")


def build_gazetteer(b: Build) -> None:
    """IPOD tokens with the three annotators' tags and the majority tag."""
    b.sql(f"""CREATE TABLE gazetteer AS SELECT Title AS token,
        CASE WHEN A1 = A2 OR A1 = A3 THEN A1 WHEN A2 = A3 THEN A2 ELSE A1 END AS tag,
        CAST((A1 = tag)::INT + (A2 = tag)::INT + (A3 = tag)::INT AS TINYINT) AS agreement,
        A1 AS a1, A2 AS a2, A3 AS a3
        FROM {b.csv("lexicons/ipod_gazetteer.csv")}""")


def build_meta(b: Build) -> None:
    b.meta.update({
        "onet": ONET_VERSION,
        "projections": "BLS Employment Projections 2024-34",
        "direct_match_titles": "BLS 2018 SOC Direct Match Title File",
        "esco": "ESCO 1.2.0 (English)",
        "esco_onet_crosswalk": "Nesta ESCO-O*NET crosswalk, Nov 2020",
        "gazetteer": "IPOD gazetteer (Liu et al., CSCW 2020)",
    })
    rows = ", ".join(f"({lit(k)}, {lit(v)})" for k, v in sorted(b.meta.items()))
    b.sql(f"CREATE TABLE meta AS SELECT * FROM (VALUES {rows}) t(key, value)")


# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Output:
    name: str
    rows: int
    size: int


def write(b: Build) -> list[Output]:
    """Write every output table to <out>/<name>.parquet with zstd compression."""
    b.out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, order in OUTPUTS.items():
        target = b.out / f"{name}.parquet"
        temporary = target.with_suffix(".parquet.tmp")
        b.sql(f"""COPY (SELECT * FROM {name} ORDER BY {order}) TO {lit(temporary)}
            (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 9)""")
        temporary.replace(target)
        rows = b.value(f"SELECT count(*) FROM {name}")
        written.append(Output(name, int(str(rows)), target.stat().st_size))
    return written


def build(source: Path, out: Path) -> tuple[list[Output], list[str]]:
    """Run the whole build: the files written, and notes on what was dropped and why."""
    b = Build(source=source.resolve(), out=out)
    b.sql("SET threads TO 1")  # one thread: rows reach the writer in one fixed order
    try:
        with tempfile.TemporaryDirectory(prefix="job_titles_build_") as tmp:
            build_onet(b)
            build_titles(b)
            build_wages(b, Path(tmp))
            build_projections(b)
            build_occupations(b)
            build_gazetteer(b)
            build_meta(b)
            return write(b), b.notes
    finally:
        b.con.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE,
                        help="the raw data folder (default: ../shared/data from the repo root)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="where the Parquet files go (default: data/ beside this script)")
    args = parser.parse_args(argv)
    written, notes = build(args.source, args.out)
    # The resolver's index, precomputed from the files just written (index_file.py): a host
    # then loads it in a fraction of a second instead of building it.
    from .data import JobData
    from .index_file import write_index

    index = write_index(JobData.load(args.out), args.out)
    total = sum(output.size for output in written) + index.stat().st_size
    print(f"Wrote {len(written)} files to {args.out}:")
    for output in written:
        print(f"  {output.name + '.parquet':<26} {output.rows:>8,} rows "
              f"{output.size / 1024:>9,.1f} KiB")
    print(f"  {index.name:<26} {'':>13} {index.stat().st_size / 1024:>9,.1f} KiB")
    print(f"  {'total':<26} {'':>13} {total / 1024:>9,.1f} KiB")
    print("Notes:")
    for text in notes:
        print(f"  - {text}")
    if total > MAX_TOTAL_BYTES:
        print(f"ERROR: {total:,} bytes is over the {MAX_TOTAL_BYTES:,}-byte budget")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
