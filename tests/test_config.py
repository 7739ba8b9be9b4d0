"""registry.toml: strict parsing, finding the file, store location, and the layers of settings.

A function's effective cost and switch come from three layers, lowest first: the plugin's
spec, registry.toml's [functions.NAME], then an admin's change kept in the store.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import write_registry

from tokenworks.config import MEMORY, load_registry, parse_registry
from tokenworks.errors import ConfigError, FunctionDisabledError, TokenworksError
from tokenworks.host import Host


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's shell may point these at a real registry or switch strict mode on.
    for name in ("TOKENWORKS_REGISTRY", "TOKENWORKS_STORE", "TOKENWORKS_STRICT"):
        monkeypatch.delenv(name, raising=False)


def test_empty_registry_gives_defaults(tmp_path: Path) -> None:
    config = parse_registry("", base_dir=tmp_path)
    assert config.store.path == "tokenworks.duckdb"
    assert config.plugins.builtin == []
    assert config.plugins.entry_points is True
    assert config.users.starting_grant == 0
    assert config.invocation.workers is None  # replaced by [workers]
    assert config.workers.count == len(os.sched_getaffinity(0))  # one per core
    assert config.workers.default_concurrency() == max(1, config.workers.count // 2)
    assert config.plugins.import_timeout == 30.0
    assert config.functions == {}
    assert config.plugins_folder() == tmp_path / "local_plugins"
    # Sessions and throttling: no proxy is trusted unless named; the grant may be 0.
    assert config.portal.trusted_proxies == [] and config.portal.secret_key_file is None
    assert (config.users.session_hours, config.users.session_idle_minutes,
            config.users.signups_per_hour) == (12.0, 120.0, 5)


def test_full_registry_parses(tmp_path: Path) -> None:
    config = parse_registry(
        '[store]\npath = "data/books.duckdb"\n'
        '[plugins]\nbuiltin = ["text_tools"]\nfolder = "mine"\nentry_points = false\n'
        'allow = ["a"]\nblock = ["b"]\n'
        "[users]\nstarting_grant = 20\n"
        "[invocation]\nworkers = 2\nsweep_interval = 5\nhold_grace = 0\n"
        "[functions.greet]\ncost = 0\nenabled = false\n",
        base_dir=tmp_path,
    )
    assert config.plugins.builtin == ["text_tools"]
    assert config.plugins.allow == ["a"] and config.plugins.block == ["b"]
    assert config.users.starting_grant == 20
    assert config.invocation.sweep_interval == 5.0  # an int is fine where seconds are floats
    assert (config.functions["greet"].cost, config.functions["greet"].enabled) == (0, False)
    assert config.store_path() == str(tmp_path / "data" / "books.duckdb")
    assert config.plugins_folder() == tmp_path / "mine"


# Each bad registry and the key its ConfigError must name.
BAD_REGISTRIES = [
    ("colour = 'red'\n", "colour", "unknown key"),
    ("[stores]\npath = 'x'\n", "stores", "unknown key"),
    ("[plugins]\nfolders = 'x'\n", "plugins.folders", "unknown key"),
    ("[store]\npath = 'x'\nsize = 3\n", "store.size", "unknown key"),
    ("[functions.greet]\ncots = 5\n", "functions.greet.cots", "unknown key"),
    ("[functions.greet]\ncost = '5'\n", "functions.greet.cost", "valid integer"),
    ("[functions.greet]\ncost = -1\n", "functions.greet.cost", "greater than or equal to 0"),
    ("[functions.greet]\ncost = 1.5\n", "functions.greet.cost", "valid integer"),
    ("[functions.greet]\nenabled = 'no'\n", "functions.greet.enabled", "valid boolean"),
    ("[functions.greet]\nenabled = 1\n", "functions.greet.enabled", "valid boolean"),
    ("[users]\nstarting_grant = -1\n", "users.starting_grant", "greater than or equal to 0"),
    ("[users]\nstarting_grant = true\n", "users.starting_grant", "valid integer"),
    ("[plugins]\nentry_points = 'yes'\n", "plugins.entry_points", "valid boolean"),
    ("[plugins]\nbuiltin = 'x'\n", "plugins.builtin", "valid list"),
    ("[plugins]\nallow = [1]\n", "plugins.allow.0", "valid string"),
    ("[invocation]\nworkers = 0\n", "invocation.workers", "greater than or equal to 1"),
    ("[invocation]\nsweep_interval = 0\n", "invocation.sweep_interval", "greater than 0"),
    ("[store]\npath = ''\n", "store.path", "at least 1 character"),
    ("store = 'x.duckdb'\n", "store", "valid dictionary"),
    ("[store]\nholds = 'disk'\n", "store.holds", "'memory' or 'durable'"),
    ("[users]\nsignups_per_hour = 0\n", "users.signups_per_hour", "greater than or equal to 1"),
    ("[users]\nsession_idle_minutes = 0\n", "users.session_idle_minutes", "greater than 0"),
    ("[portal]\ntrusted_proxies = ['my-proxy']\n", "portal.trusted_proxies",
     "'my-proxy' is not an IP address or network"),
    ("[portal]\ntrusted_proxies = '10.0.0.1'\n", "portal.trusted_proxies", "valid list"),
    ("[portal]\nsecret_key_file = ''\n", "portal.secret_key_file", "at least 1 character"),
    ("[portal]\nsecret_key = 'x'\n", "portal.secret_key", "unknown key"),
]


@pytest.mark.parametrize(("toml", "key", "problem"), BAD_REGISTRIES)
def test_bad_registry_names_the_key(tmp_path: Path, toml: str, key: str, problem: str) -> None:
    path = tmp_path / "registry.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as caught:
        load_registry(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {key}: "), message
    assert problem in message
    assert "\n" not in message


def test_internal_field_is_not_a_key(tmp_path: Path) -> None:
    # base_dir is where the file was read from; a registry may not move it.
    with pytest.raises(ConfigError, match="unknown key 'base_dir'"):
        parse_registry("base_dir = '/etc'\n", base_dir=tmp_path)


def test_several_errors_are_counted(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\(and 2 more\)$"):
        parse_registry("[users]\nstarting_grant = -1\n[plugins]\nfolders = 1\nallows = 2\n",
                       base_dir=tmp_path)


@pytest.mark.parametrize("toml", ["[store\npath = 'x'\n", "a = \n", "[plugins]\nbuiltin = [\n",
                                  "x = 1\nx = 2\n"])
def test_invalid_toml(tmp_path: Path, toml: str) -> None:
    path = tmp_path / "registry.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: not valid TOML: \w"):
        load_registry(path)


def test_non_utf8_registry(tmp_path: Path) -> None:
    path = tmp_path / "registry.toml"
    path.write_bytes(b"\xff\xfe not utf-8")
    with pytest.raises(ConfigError, match=r"registry.toml: not UTF-8 text \(byte 0"):
        load_registry(path)


# -- finding the file -----------------------------------------------------------------


def test_missing_named_registry(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "registry.toml"
    with pytest.raises(ConfigError) as caught:
        load_registry(missing)
    message = str(caught.value)
    assert message.startswith(f"no registry file named: {missing}.")
    assert "tokenworks init" in message and "--registry" in message
    assert "TOKENWORKS_REGISTRY" in message


def test_missing_registry_in_current_folder(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"^no registry file found in the current folder: "):
        load_registry()


def test_registry_in_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_registry(tmp_path, "[users]\nstarting_grant = 7\n")
    monkeypatch.chdir(tmp_path)
    assert load_registry().users.starting_grant == 7


def test_registry_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_path = write_registry(tmp_path / "env", "[users]\nstarting_grant = 3\n")
    named = write_registry(tmp_path / "named", "[users]\nstarting_grant = 4\n")
    monkeypatch.setenv("TOKENWORKS_REGISTRY", str(env_path))
    monkeypatch.chdir(tmp_path)
    assert load_registry().users.starting_grant == 3
    assert load_registry(named).users.starting_grant == 4  # the explicit one wins


def test_missing_registry_from_environment(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKENWORKS_REGISTRY", str(tmp_path / "gone.toml"))
    with pytest.raises(ConfigError, match=r"gone\.toml"):
        load_registry()


# -- the store's location -------------------------------------------------------------


def test_relative_store_path_is_relative_to_the_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_registry(tmp_path / "site", '[store]\npath = "var/books.duckdb"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_registry(path)
    assert config.store_path() == str((tmp_path / "site" / "var" / "books.duckdb").resolve())
    assert config.plugins_folder() == (tmp_path / "site" / "local_plugins").resolve()


def test_relative_registry_path_resolves_too(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    write_registry(tmp_path / "site", '[store]\npath = "books.duckdb"\n')
    monkeypatch.chdir(tmp_path)
    config = load_registry("site/registry.toml")
    assert config.store_path() == str((tmp_path / "site" / "books.duckdb").resolve())


def test_absolute_store_path_kept(tmp_path: Path) -> None:
    target = tmp_path / "abs" / "books.duckdb"
    path = write_registry(tmp_path / "site", f'[store]\npath = "{target}"\n')
    assert load_registry(path).store_path() == str(target)


def test_store_override_from_environment_and_argument(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_registry(tmp_path / "site", '[store]\npath = "books.duckdb"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TOKENWORKS_STORE", "from_env.duckdb")
    # Relative overrides are relative to where the command runs, not to the registry.
    here = tmp_path.resolve()
    assert load_registry(path).store_path() == str(here / "from_env.duckdb")
    assert load_registry(path, "from_arg.duckdb").store_path() == str(here / "from_arg.duckdb")
    assert load_registry(path, MEMORY).store_path() == MEMORY
    monkeypatch.setenv("TOKENWORKS_STORE", MEMORY)
    assert load_registry(path).store_path() == MEMORY


def test_the_deprecated_holds_key_is_still_accepted(tmp_path: Path) -> None:
    # No longer used (each engine keeps its holds), but a registry that says it still loads;
    # opening the store warns that it is ignored (tests/test_store.py).
    assert load_registry(write_registry(tmp_path / "a", "")).store.holds is None
    path = write_registry(tmp_path / "b", '[store]\npath = "x.duckdb"\nholds = "durable"\n')
    assert load_registry(path).store.holds == "durable"
    assert load_registry(path, MEMORY).store.holds == "durable"


def test_memory_store_in_registry(tmp_path: Path) -> None:
    path = write_registry(tmp_path, '[store]\npath = ":memory:"\n')
    assert load_registry(path).store_path() == MEMORY


def test_host_opens_the_configured_store(tmp_path: Path) -> None:
    path = write_registry(tmp_path / "site",
                          '[store]\npath = "var/books.duckdb"\n[plugins]\nentry_points = false\n')
    with Host.from_registry(str(path), sweep=False) as host:
        host.add_user("ann", password="a fine password", actor="test")
    assert (tmp_path / "site" / "var" / "books.duckdb").is_file()
    # The same store, reopened through the environment override, still knows ann.
    with Host.from_registry(str(path), str(tmp_path / "site" / "var" / "books.duckdb"),
                            sweep=False) as host:
        assert host.user("ann") is not None


# -- layers: spec < registry.toml < admin change in the store -------------------------


def user_with(host: Host, tokens: int, name: str = "ann") -> str:
    host.add_user(name, password="a fine password", actor="test")
    if tokens:
        host.grant(name, tokens, actor="test", reason="for the test")
    return name


def test_cost_from_spec(make_host: Callable[..., Host]) -> None:
    host = make_host("good_plugin.py")
    assert host.function("greet").cost == 2


def test_cost_precedence(make_host: Callable[..., Host]) -> None:
    host = make_host("good_plugin.py", registry="[functions.greet]\ncost = 5\n")
    assert host.function("greet").cost == 5
    assert host.function("greet").spec.cost == 2  # the spec itself is unchanged
    user = user_with(host, 20)
    assert host.call("greet", user, {"name": "A"}).charged == 5
    host.set_cost("greet", 7, actor="admin", reason="dearer")
    assert host.function("greet").cost == 7
    assert host.call("greet", user, {"name": "A"}).charged == 7
    assert host.balance(user) == 20 - 5 - 7
    host.set_cost("greet", 0, actor="admin", reason="free week")
    outcome = host.call("greet", user, {"name": "A"})
    assert (outcome.ok, outcome.charged) == (True, 0)
    assert host.balance(user) == 8


def test_admin_cost_survives_a_restart(make_host: Callable[..., Host]) -> None:
    first = make_host("good_plugin.py", registry="[functions.greet]\ncost = 5\n")
    first.set_cost("greet", 9, actor="admin", reason="kept in the store")
    first.close()
    second = make_host(registry="[functions.greet]\ncost = 5\n")
    assert second.function("greet").cost == 9


def test_enabled_precedence(make_host: Callable[..., Host]) -> None:
    host = make_host("good_plugin.py", registry="[functions.greet]\nenabled = false\n")
    user = user_with(host, 10)
    view = host.function("greet")
    assert (view.function_enabled, view.enabled) == (False, False)
    assert view.why_disabled() == "greet is switched off"
    with pytest.raises(FunctionDisabledError, match="nothing was charged"):
        host.call("greet", user, {"name": "A"})
    assert host.set_function_enabled("greet", True, actor="admin", reason="back on")
    assert host.function("greet").enabled
    assert host.call("greet", user, {"name": "A"}).ok
    assert host.balance(user) == 8


def test_registry_can_enable_and_admin_disable(make_host: Callable[..., Host]) -> None:
    host = make_host("good_plugin.py", registry="[functions.greet]\nenabled = true\n")
    assert host.function("greet").enabled
    host.set_function_enabled("greet", False, actor="admin", reason="broken upstream")
    assert not host.function("greet").enabled


def test_setting_the_same_switch_twice_changes_nothing(make_host: Callable[..., Host]) -> None:
    host = make_host("good_plugin.py")
    version = host.state_version()
    assert host.set_function_enabled("greet", True, actor="admin", reason="noop") is False
    assert host.set_plugin_enabled("good_plugin", True, actor="admin", reason="noop") is False
    assert host.state_version() == version
    assert host.audit() == []


def test_plugin_switch_off_disables_its_functions(make_host: Callable[..., Host]) -> None:
    host = make_host("good_plugin.py", "package_plugin")
    user = user_with(host, 10)
    ledger_before = host.ledger(user)
    assert host.set_plugin_enabled("good_plugin", False, actor="admin", reason="audit")
    view = host.function("greet")
    assert (view.function_enabled, view.plugin_enabled, view.enabled) == (True, False, False)
    assert view.why_disabled() == "plugin 'good_plugin' is switched off"
    with pytest.raises(FunctionDisabledError, match="plugin 'good_plugin' is switched off"):
        host.call("greet", user, {"name": "A"})
    # Refused before anything was written: no charge, no hold, no call record.
    assert host.balance(user) == 10
    assert host.ledger(user) == ledger_before
    assert host.calls(user) == []
    # The other plugin's functions are untouched.
    assert host.call("shout_text", user, {"text": "still here"}).ok

    assert host.set_plugin_enabled("good_plugin", True, actor="admin", reason="audit done")
    assert host.call("greet", user, {"name": "A"}).charged == 2
    changes = host.audit()
    assert [(c.target_kind, c.target, c.before, c.after) for c in changes] == [
        ("plugin", "good_plugin", "false", "true"),
        ("plugin", "good_plugin", "true", "false"),
        ("user", "ann", None, "user"),
    ]


def test_plugin_switch_beats_a_function_switched_on(make_host: Callable[..., Host]) -> None:
    host = make_host("good_plugin.py", registry="[functions.greet]\nenabled = true\n")
    host.set_plugin_enabled("good_plugin", False, actor="admin", reason="off")
    host.set_function_enabled("greet", False, actor="admin", reason="off too")
    host.set_function_enabled("greet", True, actor="admin", reason="function on")
    assert not host.function("greet").enabled


def test_switches_need_a_known_target_and_a_reason(make_host: Callable[..., Host]) -> None:
    host = make_host("good_plugin.py")
    with pytest.raises(TokenworksError, match="no plugin named 'nope'"):
        host.set_plugin_enabled("nope", False, actor="admin", reason="x")
    with pytest.raises(TokenworksError, match="no function named 'gret'; did you mean greet"):
        host.set_function_enabled("gret", False, actor="admin", reason="x")
    for reason in ("", "   "):
        with pytest.raises(TokenworksError, match="a reason is required"):
            host.set_function_enabled("greet", False, actor="admin", reason=reason)
        with pytest.raises(TokenworksError, match="a reason is required"):
            host.set_cost("greet", 1, actor="admin", reason=reason)
    with pytest.raises(TokenworksError, match="whole number"):
        host.set_cost("greet", -1, actor="admin", reason="x")
    with pytest.raises(TokenworksError, match="whole number"):
        host.set_cost("greet", True, actor="admin", reason="x")
    assert host.function("greet").enabled and host.function("greet").cost == 2


def test_state_version_rises_on_toggle_cost_and_grant(make_host: Callable[..., Host]) -> None:
    host = make_host("good_plugin.py")
    user = user_with(host, 0)
    seen = [host.state_version()]

    def rose() -> bool:
        seen.append(host.state_version())
        return seen[-1] > seen[-2]

    host.set_function_enabled("greet", False, actor="admin", reason="toggle")
    assert rose()
    host.set_plugin_enabled("good_plugin", False, actor="admin", reason="toggle")
    assert rose()
    host.set_cost("greet", 3, actor="admin", reason="cost")
    assert rose()
    host.grant(user, 5, actor="admin", reason="grant")
    assert rose()
    host.grant(user, -1, actor="admin", reason="take back")
    assert rose()
    # Reading does not move it.
    host.functions()
    host.balance(user)
    assert not rose()
