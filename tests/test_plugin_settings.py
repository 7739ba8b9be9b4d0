"""Plugin settings: [plugin_settings.NAME] validated against the plugin's model at start,
environment variables for secrets, errors naming the plugin and the key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import TEST_PLUGINS
from pydantic import BaseModel, Field

from tokenworks.errors import ConfigError, PluginError
from tokenworks.host import Host
from tokenworks.plugin_settings import env_name, resolve_settings
from tokenworks.testing import call, registered

SECTION = "[plugin_settings.settings_plugin]\n"
PLUGIN = TEST_PLUGINS / "settings_plugin.py"


def salute(host: Host) -> tuple[str, dict]:
    markdown, data = call(host, "salute", {"name": "Ann"}).blocks
    return markdown.text, data.data  # type: ignore[union-attr]


def test_hook_settings_model_validated_settings_reach_the_function(
        make_host: Callable[..., Host]) -> None:
    # Through a real registry.toml file, as an admin would configure it.
    host = make_host("settings_plugin.py", registry=SECTION + 'greeting = "Hi"\nrepeat = 2\n'
                     'api_key = "sk-from-file"\n')
    assert host.plugin("settings_plugin").plugin.status == "loaded"
    assert salute(host) == ("Hi, Ann. Hi, Ann.", {"key_length": 12, "key_prefix": "sk"})
    assert host._discovery.settings["settings_plugin"].repeat == 2


def test_environment_sets_and_overrides_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKENWORKS_SETTINGS_PLUGIN_API_KEY", "ek-secret-from-env")
    monkeypatch.setenv("TOKENWORKS_SETTINGS_PLUGIN_REPEAT", "3")  # a string, validated to 3
    with registered(PLUGIN, settings={"repeat": 1}) as host:
        assert salute(host) == ("Hello, Ann. Hello, Ann. Hello, Ann.",
                                {"key_length": 18, "key_prefix": "ek"})


def test_missing_required_setting_fails_the_plugin_naming_plugin_and_key(
        make_host: Callable[..., Host], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOKENWORKS_SETTINGS_PLUGIN_API_KEY", raising=False)
    host = make_host("settings_plugin.py", "good_plugin.py")
    record = host.plugin("settings_plugin").plugin
    assert record.status == "failed"
    # The error names the registry file by its path (the plugin's section in it).
    registry = host.config.source
    assert registry.endswith("registry.toml") and Path(registry).is_absolute()
    assert record.error == (
        f"ConfigError: {registry} [plugin_settings.settings_plugin]: api_key: Field "
        "required; set it there or in $TOKENWORKS_SETTINGS_PLUGIN_API_KEY")
    assert "salute" not in host._discovery.functions
    assert host.plugin("good_plugin").plugin.status == "loaded"  # the others keep working


@pytest.mark.parametrize(("body", "expected"), [
    ('api_key = "k"\ngreting = "Hi"\n', "unknown key 'greting' (plugin settings_plugin takes: "
                                        "greeting, repeat, api_key)"),
    ('api_key = "k"\nrepeat = 9\n', "repeat: Input should be less than or equal to 5"),
    ('api_key = "k"\nrepeat = "many"\n', "repeat: Input should be a valid integer"),
])
def test_bad_section_fails_the_plugin(make_host: Callable[..., Host], body: str,
                                      expected: str) -> None:
    record = make_host("settings_plugin.py",
                       registry=SECTION + body).plugin("settings_plugin").plugin
    assert record.status == "failed"
    assert record.error.startswith("ConfigError: /")
    assert "registry.toml [plugin_settings.settings_plugin]: " in record.error
    assert expected in record.error


def test_bad_environment_value_names_the_variable(make_host: Callable[..., Host],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKENWORKS_SETTINGS_PLUGIN_REPEAT", "lots")
    record = make_host("settings_plugin.py", registry=SECTION + 'api_key = "k"\n'
                       ).plugin("settings_plugin").plugin
    assert "repeat (from $TOKENWORKS_SETTINGS_PLUGIN_REPEAT): Input should be a valid integer" \
        in record.error


def test_every_settings_error_is_reported_with_its_source() -> None:
    class Model(BaseModel):  # settings_plugin's model
        greeting: str = Field(default="Hello", min_length=1)
        repeat: int = Field(default=1, ge=1, le=5)
        api_key: str

    with pytest.raises(ConfigError) as raised:
        resolve_settings("settings_plugin", Model, {"greting": "Hi", "repeat": 9},
                         {"TOKENWORKS_SETTINGS_PLUGIN_GREETING": ""}, source="/srv/reg.toml")
    assert str(raised.value) == (
        "/srv/reg.toml [plugin_settings.settings_plugin]: "
        "unknown key 'greting' (plugin settings_plugin takes: greeting, repeat, api_key); "
        "greeting (from $TOKENWORKS_SETTINGS_PLUGIN_GREETING): String should have at least "
        "1 character; "
        "repeat: Input should be less than or equal to 5; "
        "api_key: Field required; set it there or in $TOKENWORKS_SETTINGS_PLUGIN_API_KEY")


def test_strict_mode_raises_on_bad_settings(make_host: Callable[..., Host]) -> None:
    with pytest.raises(PluginError, match=r"settings_plugin.*api_key: Field required"):
        make_host("settings_plugin.py", strict=True)


def test_sections_for_unknown_plugins_or_plugins_without_settings_warn(
        make_host: Callable[..., Host]) -> None:
    host = make_host("good_plugin.py", registry="[plugin_settings.good_plugin]\nx = 1\n"
                     "[plugin_settings.nobody]\nx = 1\n")
    assert host.plugin_warnings() == [
        "registry.toml has [plugin_settings.good_plugin] but plugin good_plugin declares no "
        "settings_model()",
        "registry.toml has [plugin_settings.nobody] but no plugin is named 'nobody'",
    ]


def test_settings_model_must_be_a_pydantic_class() -> None:
    with pytest.raises(ConfigError, match="must return a pydantic model class"):
        resolve_settings("p", dict, {})


def test_env_name_is_upper_case_with_underscores() -> None:
    assert env_name("job-titles", "api_key") == "TOKENWORKS_JOB_TITLES_API_KEY"


def test_explicit_environment_mapping_wins_over_section() -> None:
    class Model(BaseModel):
        limit: int = Field(default=1)

    assert resolve_settings("p", Model, {"limit": 2}, {"TOKENWORKS_P_LIMIT": "7"}).limit == 7
    assert resolve_settings("p", Model, None, {}).limit == 1
