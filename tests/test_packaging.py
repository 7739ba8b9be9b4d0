"""The install lists every package: an editable install finds any folder, a wheel only
the packages pyproject.toml names, so a missing one would break only real installs.
Python can import any folder (data folders too), so setuptools warns about each folder
the list leaves out; the list names them all."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def _source_folders() -> set[str]:
    found = set()
    for name, folder in SETUPTOOLS["package-dir"].items():
        base = ROOT / folder
        for path in (base, *base.rglob("*")):
            if not path.is_dir() or path.name == "__pycache__" or path.name.startswith("."):
                continue
            if any(part.startswith(".") or part == "__pycache__" for part in path.parts):
                continue
            found.add(".".join((name, *path.relative_to(base).parts)))
    return found


def test_every_package_folder_is_listed_in_pyproject() -> None:
    listed = set(SETUPTOOLS["packages"])
    found = _source_folders()
    assert found - listed == set(), "packages missing from pyproject.toml"
    assert listed - found == set(), "pyproject.toml lists packages that do not exist"


@pytest.mark.slow
def test_wheel_builds_without_package_warnings_and_carries_the_data(tmp_path: Path) -> None:
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps",
         "--no-build-isolation", "-w", str(tmp_path)],
        capture_output=True, text=True, check=False,
    )
    assert build.returncode == 0, build.stderr
    output = build.stdout + build.stderr
    assert "absent from the `packages` configuration" not in output
    (wheel,) = tmp_path.glob("tokenworks-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for source_file in [
        *(ROOT / "core" / "scaffold" / "templates").glob("*.tmpl"),
        *(ROOT / "plugins" / "job_titles" / "data").glob("*.parquet"),
        *(ROOT / "plugins" / "job_titles" / "data").glob("*.npz"),
    ]:
        relative = source_file.relative_to(ROOT).parts
        prefix = {"core": ("tokenworks",), "plugins": ("tokenworks", "plugins")}[relative[0]]
        assert "/".join((*prefix, *relative[1:])) in names
