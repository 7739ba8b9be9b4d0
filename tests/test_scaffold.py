"""`tokenworks new-plugin`: the package it writes is valid, checked and tested as is."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from tokenworks.cli import cli
from tokenworks.errors import TokenworksError
from tokenworks.scaffold import create_plugin, plugin_names
from tokenworks.testing import check_plugin

ROOT = Path(__file__).resolve().parents[1]


def test_names_from_what_people_type() -> None:
    names = plugin_names("Salary bands")
    assert (names.name, names.module, names.dist, names.title, names.class_name) == (
        "salary_bands", "tokenworks_salary_bands", "tokenworks-salary-bands", "Salary bands",
        "SalaryBands")
    assert plugin_names("salary-bands") == names


@pytest.mark.parametrize("bad", ["1st", "x", "class", "naïve", "a/b", ""])
def test_names_that_cannot_be_a_plugin_are_refused(bad: str) -> None:
    with pytest.raises(TokenworksError, match="cannot name a plugin"):
        plugin_names(bad)


def test_new_plugin_writes_an_installable_package(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["new-plugin", "salary-bands", "--dir",
                                      str(tmp_path / "pkg")])
    assert result.exit_code == 0, result.output
    root = tmp_path / "pkg"
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == [".gitignore", "README.md", "pyproject.toml",
                     "src/tokenworks_salary_bands/__init__.py", "tests/test_salary_bands.py"]
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert project["project"]["name"] == "tokenworks-salary-bands"
    assert project["project"]["entry-points"]["tokenworks"] == {
        "salary_bands": "tokenworks_salary_bands"}
    assert "$" not in (root / "src/tokenworks_salary_bands/__init__.py").read_text()
    # The checker passes it as written, found through its pyproject's entry point.
    report = check_plugin(root)
    assert report.ok, report.format()
    assert report.plugin == "salary_bands"
    assert [c.status for c in report.checks].count("warn") == 0


def test_one_install_command_in_the_next_steps_the_readme_and_the_docs(
        tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["new-plugin", "salary-bands", "--dir",
                                      str(tmp_path / "pkg")])
    assert result.exit_code == 0, result.output
    steps = [line.strip() for line in result.output.split("next:", 1)[1].splitlines()]
    (install,) = [step for step in steps if step.startswith("pip install")]
    assert install == "pip install --no-build-isolation -e ."
    readme = (tmp_path / "pkg" / "README.md").read_text()
    assert [line.split("#")[0].strip() for line in readme.splitlines()
            if line.startswith("pip install") and "-e" in line] == [install]
    walkthrough = (ROOT / "docs" / "writing-plugins.md").read_text()
    assert f"\n{install}       # into the tokenworks venv" in walkthrough


def test_new_plugin_never_overwrites(tmp_path: Path) -> None:
    create_plugin("salary_bands", tmp_path / "pkg")
    with pytest.raises(TokenworksError, match="exists and is not empty"):
        create_plugin("salary_bands", tmp_path / "pkg")


def test_default_folder_is_named_after_the_distribution(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    target, _ = create_plugin("wage_floor")
    assert target == tmp_path / "tokenworks-wage-floor"


@pytest.mark.slow  # a pytest process of its own (~5 s)
def test_generated_tests_pass_as_generated(tmp_path: Path) -> None:
    root, _ = create_plugin("salary_bands", tmp_path / "pkg")
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                         cwd=root, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 passed" in run.stdout
    lint = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated",
                           "--select", "E,F,W,I,B,UP", "--line-length", "100", "."],
                          cwd=root, capture_output=True, text=True, timeout=120)
    assert lint.returncode == 0, lint.stdout + lint.stderr
