"""`tokenworks cache clear`, and cached answers in `functions`, `call` and `calls`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import Result
from conftest import plugin_folder, write_registry
from test_cli import _clean_env, invoke  # noqa: F401  (_clean_env: an autouse fixture)

from tokenworks.store import DuckDBStore


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    plugin_folder(tmp_path, "cache_probe.py")
    return write_registry(tmp_path, '[store]\npath = "store.duckdb"\n[plugins]\n'
                          'entry_points = false\n[users]\nstarting_grant = 10\n')


def tw(registry: Path, *args: str, input: str | None = None, expect: int = 0) -> Result:
    return invoke(["--registry", str(registry), *args], input=input, expect=expect)


def entries(registry: Path) -> int:
    store = DuckDBStore(registry.parent / "store.duckdb")
    try:
        return store._read("SELECT count(*) FROM result_cache")[0][0]
    finally:
        store.close()


def test_functions_show_the_cache_ttl(registry: Path) -> None:
    rows = {line.split()[0]: line for line in tw(registry, "functions").stdout.splitlines()}
    assert " 1 min " in rows["cache_count"]
    listed = {f["name"]: f for f in json.loads(tw(registry, "functions", "--json").stdout)}
    assert listed["cache_count"]["cache_ttl"] == 60.0


def test_a_cached_call_is_marked_and_charged_and_clear_drops_it(registry: Path) -> None:
    tw(registry, "users", "add", "ann", input="correct horse battery\n")
    call = ("call", "cache_count", "--user", "ann", "--input", '{"text": "a"}')
    first = tw(registry, *call)
    assert "cached" not in first.stderr
    second = tw(registry, *call)
    assert "(cached result; charged as usual)" in second.stderr
    assert "charged 2, balance 6" in second.stderr
    assert second.stdout == first.stdout  # the same answer
    as_json = json.loads(tw(registry, *call, "--json").stdout)
    assert as_json["cached"] is True and as_json["charged"] == 2 and as_json["balance"] == 4
    calls = json.loads(tw(registry, "calls", "--json").stdout)
    assert [c["cached"] for c in calls] == [True, True, False]

    cleared = tw(registry, "cache", "clear", "cache_count", "--reason", "new data")
    assert cleared.stdout.strip() == "dropped 1 cached result of cache_count"
    assert entries(registry) == 0
    assert "cached" not in tw(registry, *call).stderr
    audit = json.loads(tw(registry, "audit", "--json").stdout)[0]
    assert (audit["target_kind"], audit["target"], audit["reason"]) == (
        "cache", "cache_count", "new data")
    assert tw(registry, "cache", "clear", "--reason", "all").stdout.strip() == (
        "dropped 1 cached result of all functions")
    tw(registry, "ledger", "verify")


def test_clear_refusals_are_one_line(registry: Path) -> None:
    missing = tw(registry, "cache", "clear", expect=2)
    assert "--reason" in missing.output
    unknown = tw(registry, "cache", "clear", "nope", "--reason", "x", expect=1)
    assert unknown.output.strip().startswith("Error: no function named 'nope'")
    assert "Traceback" not in unknown.output
