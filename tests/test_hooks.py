"""One test per hook, named test_hook_<hook>, each through a real plugin in tests/plugins/.

tests/test_hooks_documented.py fails when a hook has no such test (as datasette's
test_plugin_hooks_have_tests does). settings_model's are in test_plugin_settings.py.
"""

from __future__ import annotations

from pathlib import Path

import click
from click.testing import CliRunner
from conftest import TEST_PLUGINS, plugin_folder

from tokenworks.loader import call_each
from tokenworks.testing import call, registered


def test_hook_register_functions() -> None:
    with registered(TEST_PLUGINS / "good_plugin.py") as host:
        spec = host.function("greet").spec
        result = call(host, "greet", {"name": "Ada", "excited": True})
    assert (spec.title, spec.cost, spec.returns, spec.timeout) == (
        "Greet", 2, ("markdown", "json"), 5)
    assert result.blocks[0].text == "Hello, Ada!"


def test_hook_register_commands() -> None:
    with registered(TEST_PLUGINS / "cli_plugin.py") as host:
        group = click.Group()
        results = list(call_each(host._discovery, "register_commands", cli=group))
    assert results == [("cli_plugin", None)]
    assert "hello" in group.commands
    # The command itself needs a CLI session (it reaches the host): see test_cli.py.
    assert "Say hello" in CliRunner().invoke(group, ["hello", "--help"]).output


def test_hook_attribution() -> None:
    with registered(TEST_PLUGINS / "cli_plugin.py") as host:
        credit = host.plugin("cli_plugin").plugin.attribution
    assert credit == ("Greetings data © *The Example Society*, "
                      "[CC BY 4.0](https://example.org/cc-by).")


def test_hook_warm(tmp_path: Path) -> None:
    plugin = plugin_folder(tmp_path, "warm_plugin.py") / "warm_plugin.py"
    with registered(plugin) as host:  # a short-lived host never warms: data loads lazily
        assert call(host, "warmed").blocks[0].data == {"count": 0}
    with registered(plugin) as host:
        assert host.warm() == []  # servers warm the plugins before the workers take calls
        assert call(host, "warmed").blocks[0].data == {"count": 1}


def test_hook_warm_failure_is_reported_and_the_plugin_stays(tmp_path: Path) -> None:
    plugin = plugin_folder(tmp_path, "warm_plugin.py") / "warm_plugin.py"
    plugin.with_name("warm_plugin.fail").touch()
    with registered(plugin) as host:
        assert host.warm() == ["warm_plugin"]
        assert call(host, "warmed").charged == 0  # still loaded and callable
