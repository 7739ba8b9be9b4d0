"""Every package the product imports is one pyproject.toml declares, not one that merely
arrives with another (that one may drop it in any release)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("core", "portals", "plugins")


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    # The product's extras (postgres), not the test tools.
    extras = [req for name, reqs in project["optional-dependencies"].items()
              if name != "test" for req in reqs]
    return {_name(requirement) for requirement in [*project["dependencies"], *extras]}


def imported(folder: Path) -> dict[str, str]:
    """Top-level names of third-party modules imported under `folder`, with one place each."""
    found: dict[str, str] = {}
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and not node.level
                     and node.module else [])
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "tokenworks":
                    found.setdefault(top, f"{path.relative_to(folder.parent)}:{node.lineno}")
    return found


def test_every_imported_package_is_declared() -> None:
    distributions = packages_distributions()
    wanted = declared()
    undeclared = []
    for folder in SOURCES:
        for module, where in imported(ROOT / folder).items():
            names = {_name(d) for d in distributions.get(module, [module])}
            if not names & wanted:
                undeclared.append(f"{module} ({where})")
    assert undeclared == []


def test_the_check_sees_an_undeclared_import(tmp_path: Path) -> None:
    (tmp_path / "module.py").write_text("import pandas\nfrom anyio import to_thread\n")
    found = imported(tmp_path)
    assert set(found) == {"pandas", "anyio"}
    assert "anyio" not in declared()  # so the test above would name it
