"""The external example plugin(s) under examples/: installed with pip, found through their
entry point, listed by `tokenworks functions`, and callable through the meter.

They are not part of the core install. `make install` (and so CI) pip-installs them; a
checkout without them skips these tests with the reason shown, unless
TOKENWORKS_REQUIRE_EXAMPLES=1 (set by .ci/run), which turns the skip into a failure.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import write_registry

from tokenworks.cli import cli
from tokenworks.config import load_registry
from tokenworks.host import Host
from tokenworks.testing import call, check_plugin

DIST, PLUGIN, FUNCTION = "tokenworks-occupation-wages", "occupation_wages", "occupation_wages"
REQUIRE_ENV = "TOKENWORKS_REQUIRE_EXAMPLES"


@pytest.fixture(scope="module", autouse=True)
def example_installed() -> None:
    try:
        importlib.metadata.distribution(DIST)
    except importlib.metadata.PackageNotFoundError:
        message = (f"{DIST} is not installed: pip install --no-build-isolation -e "
                   f"examples/{DIST} (make install does)")
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but {message}")
        pytest.skip(message)


def registry(tmp_path: Path) -> Path:
    # Only installed plugins: no built-ins, no local folder.
    return write_registry(tmp_path, '[plugins]\nfolder = ""\nentry_points = true\n'
                                    f"[plugin_settings.{PLUGIN}]\nmax_matches = 3\n")


def test_listed_by_tokenworks_functions_through_its_entry_point(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--registry", str(registry(tmp_path)), "functions",
                                      "--json"])
    assert result.exit_code == 0, result.output
    listed = {f["name"]: f for f in json.loads(result.output)}
    assert listed[FUNCTION]["plugin"] == PLUGIN
    assert listed[FUNCTION]["plugin_version"] == importlib.metadata.version(DIST)
    assert listed[FUNCTION]["input_schema"]["required"] == ["occupation"]


def test_runs_on_a_host_from_registry_toml_with_its_settings(tmp_path: Path) -> None:
    with Host(load_registry(registry(tmp_path)), sweep=False) as host:
        record = host.plugin(PLUGIN).plugin
        assert (record.status, record.source) == ("loaded", "entry_point")
        assert "Bureau of Labor Statistics" in (record.attribution or "")
        result = call(host, FUNCTION, {"occupation": "manager"})
    assert result.charged == 2
    assert result.kinds() == ["markdown", "metrics", "chart", "table"]
    assert len(result.blocks[-1].rows) == 3  # max_matches from [plugin_settings]


def test_installed_module_meets_the_contract() -> None:
    report = check_plugin("tokenworks_occupation_wages")
    assert report.ok, report.format()
    assert report.plugin == PLUGIN  # its entry-point name, found from the module
