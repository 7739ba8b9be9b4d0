"""tokenworks.testing: the helpers plugin authors (and this project) write tests with."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tokenworks.errors import InvalidInputError, PluginError
from tokenworks.testing import CallFailed, call, registered, temporary_host

PLUGINS = Path(__file__).parent / "plugins"


@pytest.fixture
def good_module() -> Iterator[ModuleType]:
    """tests/plugins/good_plugin.py imported as a module, as an author's package would be."""
    spec = importlib.util.spec_from_file_location("tw_test_good", PLUGINS / "good_plugin.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_registered_module_is_called_through_the_meter(good_module: ModuleType) -> None:
    with registered(good_module, name="greeter") as host:
        result = call(host, "greet", {"name": "Ada", "excited": True})
        assert host.plugin("greeter").plugin.source == "module"
        assert host.balance("tester") == 0  # funded with exactly the cost, then charged
        assert host.verify_books().ok
    assert result.charged == 2
    assert result.kinds() == ["markdown", "json"]
    assert result.blocks[0].text == "Hello, Ada!"
    assert result.outcome.status == "succeeded"


def test_the_host_and_its_store_are_gone_after_the_block(good_module: ModuleType) -> None:
    with registered(good_module) as host:
        store_file = Path(host.config.store_path())
        assert store_file.exists()
    assert not store_file.parent.exists()


def test_call_defaults_to_the_first_example() -> None:
    with registered(PLUGINS / "good_plugin.py") as host:
        assert call(host, "greet").blocks[0].text == "Hello, Ada."


def test_failed_call_raises_call_failed_unless_unchecked() -> None:
    with registered(PLUGINS / "meter_probe.py") as host:
        with pytest.raises(CallFailed, match=r"probe_fail failed: .*\nRuntimeError: probe failure"):
            call(host, "probe_fail", {"text": "x"})
        result = call(host, "probe_fail", {"text": "x"}, check=False)
    assert (result.outcome.status, result.charged, result.blocks) == ("failed", 0, [])


def test_refusals_raise_as_the_host_does() -> None:
    with registered(PLUGINS / "good_plugin.py") as host, pytest.raises(InvalidInputError):
        call(host, "greet", {"name": ""})


def test_a_plugin_that_fails_to_load_raises_by_default() -> None:
    with pytest.raises(PluginError, match="example 0 does not validate"), \
            registered(PLUGINS / "bad_example.py"):
        pass


def test_settings_are_passed_to_the_plugin() -> None:
    with registered(PLUGINS / "settings_plugin.py",
                    settings={"api_key": "sk-1", "greeting": "Hey"}) as host:
        assert call(host, "salute", {"name": "Bo"}).blocks[0].text == "Hey, Bo."


def test_temporary_host_with_several_plugins_and_a_builtin() -> None:
    with temporary_host(PLUGINS / "good_plugin.py", PLUGINS / "package_plugin",
                        builtin=["text_tools"], registry="[functions.greet]\ncost = 5\n") as host:
        names = sorted(view.spec.name for view in host.functions())
        assert names == ["greet", "shout_text", "word_frequencies"]
        assert call(host, "greet").charged == 5
