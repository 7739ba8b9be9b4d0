"""The contract checker, as a function and as `tokenworks check`, on real test plugins."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from tokenworks.checker import CheckReport, check_plugin
from tokenworks.cli import cli

PLUGINS = Path(__file__).parent / "plugins"


def messages(report: CheckReport, status: str) -> list[str]:
    return [f"{c.subject}: {c.message}" for c in report.checks if c.status == status]


def test_good_plugin_passes_every_check() -> None:
    report = check_plugin(PLUGINS / "good_plugin.py")
    assert report.ok, report.format()
    assert report.plugin == "good_plugin"
    passed = messages(report, "pass")
    assert passed[0].startswith("plugin: loads and registers 1 function (greet) in ")
    assert passed[1:4] == [
        "plugin: no Streamlit import (1 file scanned)",
        "greet: spec valid: cost 2, returns markdown, json, 2 examples, timeout 5 s",
        "greet: input form renders: name: text box, excited: checkbox",
    ]
    assert [m.split(" ran in ")[0] for m in passed[4:]] == ["greet example 0:",
                                                          "greet example 1:"]
    assert all(", returned markdown, json (" in m for m in passed[4:])
    assert messages(report, "warn") == []


def test_contract_breaker_fails_each_rule_it_breaks() -> None:
    report = check_plugin(PLUGINS / "contract_breaker.py")
    assert not report.ok
    failures = messages(report, "fail")
    expected = [
        "plugin: imports streamlit (contract_breaker.py:",
        "no_schema: the portals cannot draw an input form: no JSON Schema",
        "too_slow example 0: did not finish within its timeout of 0.05 s",
        "undeclared example 0: invalid_result: returned json blocks, which its spec does not "
        "declare",
        "raises example 0: failed: RuntimeError: example input breaks me",
        "no_schema example 0: the meter refused it",
    ]
    for start in expected:
        assert any(f.startswith(start) for f in failures), (start, failures)
    assert len(failures) == len(expected)
    warnings = messages(report, "warn")
    assert any(w.startswith("json_only: field 'point' has no widget of its own") for w in warnings)
    assert any(w.startswith("random_result example 0: a second run returned a different")
               for w in warnings)
    assert "does NOT meet the contract" in report.format()


def test_a_cacheable_function_is_run_twice_for_the_determinism_check() -> None:
    # cache_probe answers "run N": a second answer from the cache would hide that.
    report = check_plugin(PLUGINS / "cache_probe.py")
    assert report.ok, report.format()
    assert "cache_count: spec valid: cost 2, returns markdown, 1 example, timeout 30 s, " \
        "cached 1 min" in messages(report, "pass")
    warnings = messages(report, "warn")
    assert any(w.startswith("cache_count example 0: a second run returned a different")
               for w in warnings), warnings


def test_a_plugin_that_does_not_load_fails_with_the_loaders_error() -> None:
    report = check_plugin(PLUGINS / "bad_example.py")
    assert messages(report, "fail") == [
        "plugin: does not load: InvalidSpecError: function 'repeat': invalid spec: (input): "
        "example 0 does not validate: count: Input should be a valid integer, "
        "unable to parse string as an integer"]


def test_two_implementations_of_one_hook_fail_the_check() -> None:
    report = check_plugin(PLUGINS / "duplicate_hook.py")
    assert messages(report, "fail") == [
        "plugin: does not load: PluginError: register_functions() and "
        "register_more_functions() both implement the hook 'register_functions'; only one "
        "would run, so keep one (or merge them)"]
    result = CliRunner().invoke(cli, ["check", str(PLUGINS / "duplicate_hook.py")])
    assert result.exit_code == 1 and "both implement the hook" in result.output


def test_unimportable_module_fails() -> None:
    report = check_plugin("tokenworks_no_such_plugin")
    assert messages(report, "fail") == [
        "plugin: cannot import: ModuleNotFoundError: No module named 'tokenworks_no_such_plugin'"]


def test_a_module_by_name_and_settings_are_used() -> None:
    assert check_plugin("tokenworks.plugins.text_tools").ok
    missing = check_plugin(PLUGINS / "settings_plugin.py")
    assert "api_key: Field required" in messages(missing, "fail")[0]
    assert check_plugin(PLUGINS / "settings_plugin.py", settings={"api_key": "k"}).ok


def test_a_project_folder_is_checked_through_its_entry_point(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    (project / "src" / "tw_proj").mkdir(parents=True)
    shutil.copy(PLUGINS / "good_plugin.py", project / "src" / "tw_proj" / "__init__.py")
    (project / "pyproject.toml").write_text(
        '[project]\nname = "tw-proj"\n[project.entry-points.tokenworks]\ngreeter = "tw_proj"\n')
    report = check_plugin(project)
    assert report.ok, report.format()
    assert report.plugin == "greeter"


def test_cli_check_exit_codes_and_json() -> None:
    runner = CliRunner()
    good = runner.invoke(cli, ["check", str(PLUGINS / "good_plugin.py")])
    assert good.exit_code == 0, good.output
    assert "0 failed: the plugin meets the contract" in good.output
    bad = runner.invoke(cli, ["check", str(PLUGINS / "contract_breaker.py"), "--no-run"])
    assert bad.exit_code == 1
    assert "FAIL  plugin" in bad.output and "imports streamlit" in bad.output
    as_json = runner.invoke(cli, ["check", str(PLUGINS / "settings_plugin.py"), "--json",
                                  "--settings", '{"api_key": "k"}'])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output)["ok"] is True


def test_cli_check_settings_errors_name_their_source_and_are_all_reported(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKENWORKS_SETTINGS_PLUGIN_REPEAT", "lots")
    result = CliRunner().invoke(cli, ["check", str(PLUGINS / "settings_plugin.py"),
                                      "--settings", '{"greeting": "", "colour": "red"}'])
    assert result.exit_code == 1, result.output
    assert ("FAIL  plugin  does not load: ConfigError: --settings "
            "[plugin_settings.settings_plugin]: unknown key 'colour'") in result.output
    for problem in ["greeting: String should have at least 1 character",
                    "repeat (from $TOKENWORKS_SETTINGS_PLUGIN_REPEAT): Input should be a "
                    "valid integer",
                    "api_key: Field required"]:
        assert problem in result.output
    monkeypatch.delenv("TOKENWORKS_SETTINGS_PLUGIN_REPEAT")
    without = check_plugin(PLUGINS / "settings_plugin.py")
    assert messages(without, "fail")[0].startswith(
        "plugin: does not load: ConfigError: no --settings [plugin_settings.settings_plugin]: "
        "api_key: Field required")


@pytest.mark.parametrize("settings", ["not json", "[1]"])
def test_cli_check_refuses_bad_settings(settings: str) -> None:
    result = CliRunner().invoke(cli, ["check", str(PLUGINS / "good_plugin.py"),
                                      "--settings", settings])
    assert result.exit_code == 1 and "--settings" in result.output
