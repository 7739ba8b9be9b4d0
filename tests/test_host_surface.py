"""The Host is the only door: the portals, the REST API and the CLI use only its public
surface, and import none of what stands behind it (the loader, catalog, meter, workers,
result cache or a store engine). Dataclasses of the store (tokenworks.store and
tokenworks.store.base) and a few value types are what the door hands out, so they are fine.

The check reads the source (ast), so it covers pages Streamlit runs as scripts too.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tokenworks.host import Host

ROOT = Path(__file__).resolve().parents[1]
# Folder -> the package it installs as (pyproject.toml's package-dir).
CALLERS = {"portals": "tokenworks.portals", "core/api": "tokenworks.api",
           "core/cli": "tokenworks.cli"}
PUBLIC = frozenset(name for name in dir(Host) if not name.startswith("_"))
BEHIND_THE_DOOR = ("tokenworks.loader", "tokenworks.catalog", "tokenworks.meter",
                   "tokenworks.workers", "tokenworks.result_cache", "tokenworks.store")
STORE_DATA = ("tokenworks.store", "tokenworks.store.base")  # their dataclasses are fine
VALUE_TYPES = {  # what the door hands out, importable for type hints and formatting
    "tokenworks.catalog": {"FunctionView"},
    "tokenworks.meter": {"CallOutcome"},
    "tokenworks.loader": {"DiscoveredPlugin"},
    "tokenworks.result_cache": {"ttl_text"},
}
# Commands that work on a store without any host, so the door has nothing to offer them.
# `serve` opens the store once before the server starts, to fail early and to apply
# PostgreSQL migrations before its threads race to; it moves from the CLI to the portals.
STORE_TOOLS = {
    "core/cli/serve.py": "serve",
    "portals/serve.py": "serve",
    "core/cli/migrate.py": "copies one store (DuckDB) into another (PostgreSQL)",
}


def caller_files() -> Iterator[tuple[Path, str]]:
    for folder, package in CALLERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT / folder).with_suffix("")
            parts = [part for part in relative.parts if part != "__init__"]
            module = ".".join([package, *parts])
            # A package's __init__ resolves relative imports against itself.
            is_package = path.name == "__init__.py"
            yield path, module if is_package else module.rsplit(".", 1)[0]


def _is_host(node: ast.AST, names: set[str]) -> bool:
    """Whether an expression is a Host: a name bound to one, get_host(), Host(...),
    Host.from_registry(...), session.host() (the CLI's), or get_host run in a thread."""
    if isinstance(node, ast.Await):
        return _is_host(node.value, names)
    if isinstance(node, ast.Name):
        return node.id in names
    if isinstance(node, ast.Call):
        func = node.func
        called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if called in {"to_thread", "run_in_threadpool"} and node.args:
            return isinstance(node.args[0], ast.Name) and node.args[0].id == "get_host"
        if isinstance(func, ast.Name):
            return func.id in {"get_host", "Host"}
        return called in {"host", "from_registry"}
    return False


def _annotated_host(annotation: ast.AST | None) -> bool:
    if isinstance(annotation, ast.Name):
        return annotation.id in {"Host", "HostDep"}
    return isinstance(annotation, ast.Constant) and annotation.value in {"Host", "HostDep"}


def host_names(tree: ast.AST) -> set[str]:
    names = {"host"}
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and _annotated_host(node.annotation):
            names.add(node.arg)
    changed = True
    while changed:  # x = get_host(); y = x
        changed = False
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and _is_host(node.value, names):
                for target in node.targets:
                    if isinstance(target, ast.Name) and target.id not in names:
                        names.add(target.id)
                        changed = True
    return names


def reach_throughs(source: str) -> list[str]:
    """Every attribute reached through a host that is not on Host's public surface."""
    tree = ast.parse(source)
    names = host_names(tree)
    found = []
    for node in ast.walk(tree):
        reached = None
        if isinstance(node, ast.Attribute) and _is_host(node.value, names):
            reached = node.attr
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in {"getattr", "setattr", "hasattr"} and len(node.args) >= 2
              and _is_host(node.args[0], names) and isinstance(node.args[1], ast.Constant)):
            reached = node.args[1].value
        if reached is not None and reached not in PUBLIC:
            found.append(f"line {node.lineno}: host.{reached}")
    return found


def _absolute(node: ast.ImportFrom, package: str) -> str:
    if not node.level:
        return node.module or ""
    base = package.split(".")[: len(package.split(".")) - node.level + 1]
    return ".".join([*base, *([node.module] if node.module else [])])


def _store_data(module: str, name: str) -> bool:
    value = getattr(importlib.import_module(module), name, None)
    return (isinstance(value, type) and dataclasses.is_dataclass(value)) or name == "utcnow"


def forbidden_imports(source: str, package: str) -> list[str]:
    """Imports of what stands behind the door (values it hands out excepted)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"line {node.lineno}: import {alias.name}" for alias in node.names
                      if alias.name.startswith(BEHIND_THE_DOOR)]
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(node, package)
            if not module.startswith(BEHIND_THE_DOOR):
                continue
            for alias in node.names:
                allowed = (_store_data(module, alias.name) if module in STORE_DATA
                           else alias.name in VALUE_TYPES.get(module, ()))
                if not allowed:
                    found.append(f"line {node.lineno}: from {module} import {alias.name}")
    return found


@pytest.mark.parametrize("path,package", list(caller_files()),
                         ids=lambda value: str(value.relative_to(ROOT))
                         if isinstance(value, Path) else "")
def test_callers_use_only_the_hosts_public_surface(path: Path, package: str) -> None:
    source = path.read_text(encoding="utf-8")
    problems = reach_throughs(source)
    if str(path.relative_to(ROOT)) not in STORE_TOOLS:
        problems += forbidden_imports(source, package)
    assert not problems, f"{path.relative_to(ROOT)} goes past the Host: {problems}"


def test_every_caller_folder_is_checked() -> None:
    checked = {str(path.relative_to(ROOT)) for path, _ in caller_files()}
    assert {"portals/routes.py", "portals/admin/users.py", "core/api/keys.py",
            "core/cli/commands.py", "core/cli/migrate.py"} <= checked


def test_the_surface_holds_the_callers_reads_and_writes_but_not_the_parts() -> None:
    assert {"call", "function", "functions", "balance", "user", "users", "ledger", "calls",
            "audit", "plugins", "health", "create_api_key", "open_portal_session",
            "take_attempt", "config"} <= PUBLIC
    assert not PUBLIC & {"store", "catalog", "meter", "discovery", "workers"}


@pytest.mark.parametrize("source", [
    "def page():\n    host = get_host()\n    host.store.balance('ann')\n",
    "def f(h: Host):\n    return h._store\n",
    "def f(session):\n    return session.host().catalog.view('x')\n",
    "async def f():\n    found = await asyncio.to_thread(get_host)\n    return found.meter\n",
    "def f(host: HostDep):\n    return getattr(host, '_workers')\n",
    "def f():\n    mine = get_host()\n    other = mine\n    return other.discovery\n",
])
def test_a_reach_through_is_caught(source: str) -> None:
    assert reach_throughs(source)


@pytest.mark.parametrize("source", [
    "from tokenworks.store.duckdb_store import DuckDBStore\n",
    "from tokenworks.store import Store\n",
    "from ..store.open import open_store\n",
    "from ..loader import discover\n",
    "from tokenworks.catalog import Catalog\n",
    "from tokenworks.meter import Meter\n",
    "import tokenworks.workers\n",
])
def test_an_import_from_behind_the_door_is_caught(source: str) -> None:
    assert forbidden_imports(source, "tokenworks.cli")


def test_what_the_door_hands_out_may_be_imported() -> None:
    source = ("from tokenworks.store import CallRecord, User, utcnow\n"
              "from tokenworks.store.base import ApiKey, ThrottleRule\n"
              "from tokenworks.catalog import FunctionView\n"
              "from ..host import Host\n")
    assert forbidden_imports(source, "tokenworks.portals") == []
    assert reach_throughs("def f(host: Host):\n    return host.balance('ann')\n") == []
