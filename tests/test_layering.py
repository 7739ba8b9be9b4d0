"""The layering rules, checked by import-linter's contracts in pyproject.toml.

The source folders install as one package (core/ is `tokenworks`, portals/ and plugins/ are
`tokenworks.portals` and `tokenworks.plugins`), which import-linter can only read from one
folder tree: each test lays the files out that way in a temporary folder and lints there.
The contracts must hold for the code as it is, and must break when a forbidden import is
added, so each rule is also shown failing on a copy with one such import.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"core": "tokenworks", "portals": "tokenworks/portals", "plugins": "tokenworks/plugins"}
CONTRACTS = {
    "portals": "only the portals import the portals (core and plugins do not)",
    "plugins": "only the plugins import the plugins (core loads them by name; portals do not)",
    "streamlit": "only the portals import streamlit (core and plugins return blocks)",
    "plugins-indirect": "plugins reach neither streamlit nor the portals, even through "
                        "other modules",
}


def lay_out(target: Path) -> Path:
    """The Python files of core/, portals/ and plugins/ as the installed package tree."""
    for folder, package in FOLDERS.items():
        shutil.copytree(ROOT / folder, target / package, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "data", "*.parquet"))
    shutil.copy(ROOT / "pyproject.toml", target / "pyproject.toml")
    return target


def lint(tree: Path) -> subprocess.CompletedProcess:
    # A process of its own, so `tokenworks` is found in the laid-out tree, not installed.
    code = ("import sys; from importlinter.cli import lint_imports; "
            "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True))")
    return subprocess.run([sys.executable, "-c", code], cwd=tree, capture_output=True,
                          text=True, timeout=300, env={"PYTHONPATH": str(tree),
                                                       "PATH": "/usr/bin:/bin"})


def broken_contracts(result: subprocess.CompletedProcess) -> set[str]:
    return {key for key, name in CONTRACTS.items() if f"{name} BROKEN" in result.stdout}


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return lay_out(tmp_path_factory.mktemp("layering"))


def test_the_code_keeps_every_layering_contract(tree: Path) -> None:
    result = lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in CONTRACTS.values():
        assert f"{name} KEPT" in result.stdout


@pytest.mark.parametrize(("where", "line", "broken"), [
    ("tokenworks/cli/probe.py", "from tokenworks.portals import serve", {"portals"}),
    ("tokenworks/host_probe.py", "import tokenworks.plugins.text_tools", {"plugins"}),
    ("tokenworks/store/probe.py", "import streamlit", {"streamlit"}),
    ("tokenworks/plugins/text_tools/probe.py", "import streamlit as st",
     {"streamlit", "plugins-indirect"}),
    ("tokenworks/plugins/job_titles/probe.py", "from tokenworks.portals import render",
     {"portals", "plugins-indirect"}),
    ("tokenworks/portals/probe.py", "from tokenworks.plugins.job_titles import data",
     {"plugins"}),
])
def test_a_forbidden_import_breaks_its_contract(tmp_path: Path, where: str, line: str,
                                                broken: set[str]) -> None:
    tree = lay_out(tmp_path)
    (tree / where).write_text(textwrap.dedent(f'"""A forbidden import."""\n{line}\n'))
    result = lint(tree)
    assert result.returncode != 0
    assert broken_contracts(result) == broken, result.stdout
    assert where.removesuffix(".py").replace("/", ".") in result.stdout  # names the culprit


def test_plugins_reaching_streamlit_through_core_is_caught(tmp_path: Path) -> None:
    """An indirect path: a plugin imports a core module that imports streamlit."""
    tree = lay_out(tmp_path)
    (tree / "tokenworks/drawing.py").write_text('"""Core drawing."""\nimport streamlit\n')
    (tree / "tokenworks/plugins/text_tools/uses_drawing.py").write_text(
        '"""A plugin helper."""\nfrom tokenworks import drawing\n')
    result = lint(tree)
    assert broken_contracts(result) == {"streamlit", "plugins-indirect"}, result.stdout
