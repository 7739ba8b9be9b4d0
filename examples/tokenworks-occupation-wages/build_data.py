"""Build data/wages.csv from the raw BLS files (run by hand when BLS publishes new data).

    python build_data.py /path/to/shared/data

Reads the OEWS May 2025 national estimates (bls/oews-2025.sqlite.gz) and the Employment
Projections 2024-34 (bls/employment_projections_2024_34 Table 1.2.csv) and writes one row
per detailed occupation: annual wage percentiles, employment, projected growth, openings
and typical entry education. About 60 KB; the plugin never reads the raw files.
"""

from __future__ import annotations

import csv
import gzip
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

OUT = Path(__file__).parent / "src" / "tokenworks_occupation_wages" / "data" / "wages.csv"
COLUMNS = ["soc", "title", "employment", "mean", "p10", "p25", "median", "p75", "p90",
           "growth_pct", "openings_k", "education"]
# OEWS data types: 01 employment, 04 annual mean, 11..15 annual 10th..90th percentile.
FIELDS = {"employment": "v01", "mean": "v04", "p10": "v11", "p25": "v12", "median": "v13",
          "p75": "v14", "p90": "v15"}


def number(text: str | None) -> str:
    """BLS marks suppressed or top-coded values with symbols; keep numbers only."""
    try:
        return str(round(float(text)))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""


def projections(path: Path) -> dict[str, tuple[str, str, str]]:
    rows = {}
    with path.open(encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)  # the sheet's title row
        header = next(reader)
        code, growth, openings = (header.index(h) for h in (
            "2024 National Employment Matrix code", "Employment change, percent, 2024\u201334",
            "Occupational openings, 2024\u201334 annual average"))  # en dashes, as BLS writes
        education = header.index("Typical education needed for entry")
        for row in reader:
            if len(row) > education and row[code]:
                rows[row[code].replace("-", "")] = (row[growth], row[openings], row[education])
    return rows


def main(shared: Path) -> None:
    bls = shared / "bls"
    outlook = projections(bls / "employment_projections_2024_34 Table 1.2.csv")
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "oews.sqlite"
        with gzip.open(bls / "oews-2025.sqlite.gz") as source, database.open("wb") as target:
            shutil.copyfileobj(source, target)
        connection = sqlite3.connect(database)
        query = f"""
            SELECT o.occupation_code, o.occupation_name, {", ".join(FIELDS.values())}
            FROM occupation o JOIN cell c ON c.key = 'OEUN0000000000000' || o.occupation_code
            WHERE o.display_level = 3 ORDER BY o.occupation_code"""
        records = connection.execute(query).fetchall()
        connection.close()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for code, title, *values in records:
            growth, openings, education = outlook.get(code, ("", "", ""))
            soc = f"{code[:2]}-{code[2:]}"
            writer.writerow([soc, title, *(number(v) for v in values),
                             growth, openings, "" if education == "\u2014" else education])
    print(f"wrote {len(records)} occupations to {OUT}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../../../shared/data"))
