"""The `tokenworks` command line, driven through click's CliRunner over a real registry.

Every test gets a registry in tmp_path with real test plugins (one good, one with a CLI
command, one broken) and a DuckDB store file; each invocation opens and closes it, just
as separate shell commands would.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner, Result
from conftest import installed_plugins, plugin_folder, write_registry

from tokenworks import __version__
from tokenworks.cli import cli
from tokenworks.passwords import verify_password
from tokenworks.store import DuckDBStore, utcnow
from tokenworks.store.base import PortalSession

Run = Callable[..., Result]
PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's shell may point these at a real registry or switch strict mode on.
    for name in ("TOKENWORKS_REGISTRY", "TOKENWORKS_STORE", "TOKENWORKS_STRICT"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    plugin_folder(tmp_path, "good_plugin.py", "cli_plugin.py", "register_raises.py")
    return write_registry(
        tmp_path,
        '[store]\npath = "store.duckdb"\n[plugins]\nentry_points = false\n'
        "[users]\nstarting_grant = 10\n",
    )


@pytest.fixture
def store_file(registry: Path) -> Path:
    return registry.parent / "store.duckdb"


def invoke(args: list[str], input: str | None = None, expect: int = 0,
           env: dict[str, str] | None = None) -> Result:
    result = CliRunner().invoke(cli, args, input=input, env=env)
    assert result.exit_code == expect, (result.output, result.exception)
    if expect:
        # A refusal must be a clean click exit with a message, never a crash.
        assert isinstance(result.exception, SystemExit), result.exc_info
    return result


@pytest.fixture
def tw(registry: Path) -> Run:
    """Run `tokenworks --registry <tmp registry> ARGS...`, expecting exit code `expect`."""

    def run(*args: str, input: str | None = None, expect: int = 0) -> Result:
        return invoke(["--registry", str(registry), *args], input=input, expect=expect)

    return run


def error_line(result: Result) -> str:
    """The one line a failed command printed (click's `Error: ...`)."""
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: "), lines[0]
    return lines[0]


def as_json(result: Result) -> Any:
    return json.loads(result.stdout)


def add_user(tw: Run, name: str = "ann") -> None:
    tw("users", "add", name, input=PASSWORD + "\n")


def balance(tw: Run, name: str = "ann") -> int:
    return as_json(tw("tokens", "balance", name, "--json"))["balance"]


# -- basics ---------------------------------------------------------------------------


def test_version() -> None:
    result = invoke(["--version"])
    assert result.output == f"tokenworks, version {__version__}\n"


def test_help_needs_no_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke(["--help"])
    for command in ("plugins", "functions", "call", "users", "tokens", "ledger", "init"):
        assert re.search(rf"^  {command}\s", result.output, re.MULTILINE), command


def test_missing_registry_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    result = invoke(["--registry", str(missing), "plugins"], expect=1)
    assert error_line(result).startswith(f"Error: no registry file named: {missing}.")
    assert "tokenworks init" in result.output


def test_missing_registry_in_current_folder(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke(["functions"], expect=1)
    assert error_line(result).startswith("Error: no registry file found in the current folder")


def test_registry_from_environment(registry: Path) -> None:
    result = invoke(["functions", "--json"], env={"TOKENWORKS_REGISTRY": str(registry)})
    assert [f["name"] for f in json.loads(result.stdout)] == ["greet"]


def test_bad_registry_names_the_key(tmp_path: Path) -> None:
    path = write_registry(tmp_path, "[plugins]\nfolders = 'x'\n")
    result = invoke(["--registry", str(path), "plugins"], expect=1)
    assert error_line(result) == f"Error: {path}: plugins.folders: unknown key"


def test_strict_mode_from_environment(registry: Path) -> None:
    result = invoke(["--registry", str(registry), "plugins"], expect=1,
                    env={"TOKENWORKS_STRICT": "1"})
    # The plugin's traceback first (on stderr), down to the line in the plugin that
    # raised, then the one-line error.
    traceback, error = result.output.strip().rsplit("\n", 1)
    assert error.startswith("Error: plugin register_raises (")
    assert "RuntimeError: register_raises cannot reach its database" in error
    assert traceback.startswith("Traceback (most recent call last):")
    assert 'register_raises.py", line' in traceback
    assert 'raise RuntimeError("register_raises cannot reach its database")' in traceback
    assert result.stderr.strip().endswith(error)


def test_store_option_overrides_the_registry(tw: Run, registry: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.duckdb"
    invoke(["--registry", str(registry), "--store", str(other), "users", "add", "zed"],
           input=PASSWORD)
    assert other.is_file()
    assert not (registry.parent / "store.duckdb").exists()


# -- plugins and functions ------------------------------------------------------------


def test_plugins_table(tw: Run) -> None:
    result = tw("plugins")
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["PLUGIN", "STATUS", "SOURCE", "VERSION", "LOAD", "MS",
                              "FUNCTIONS", "ERROR", "/", "ORIGIN"]
    by_name = {row.split()[0]: row for row in rows}
    assert set(by_name) == {"cli_plugin", "good_plugin", "register_raises"}
    assert by_name["good_plugin"].split()[1:4] == ["loaded", "folder", "local"]
    assert by_name["register_raises"].split()[1:3] == ["failed", "folder"]
    assert "RuntimeError: register_raises cannot reach its database" in by_name[
        "register_raises"]


def test_plugins_json_includes_failure_details(tw: Run) -> None:
    records = {r["name"]: r for r in as_json(tw("plugins", "--json"))}
    failed = records["register_raises"]
    assert failed["status"] == "failed"
    assert failed["source"] == "folder"
    assert failed["version"] == "local"
    assert failed["error"] == "RuntimeError: register_raises cannot reach its database"
    assert failed["traceback"].startswith("Traceback (most recent call last)")
    assert isinstance(failed["load_ms"], float) and failed["load_ms"] > 0
    assert failed["functions"] == []
    good = records["good_plugin"]
    assert (good["status"], good["error"], good["functions"], good["enabled"]) == (
        "loaded", None, ["greet"], True)
    assert records["cli_plugin"]["attribution"].startswith("Greetings data")


def test_a_plugin_that_exits_or_interrupts_while_loading_stops_no_command(
    tmp_path: Path,
) -> None:
    """The review's break 3: sys.exit() at import stopped every command."""
    plugin_folder(tmp_path, "good_plugin.py", "exit_on_import.py", "interrupt_in_register.py")
    path = write_registry(tmp_path, "[plugins]\nentry_points = false\n"
                                    "[users]\nstarting_grant = 10\n")
    records = {r["name"]: r for r in as_json(invoke(["--registry", str(path), "plugins",
                                                       "--json"]))}
    assert records["exit_on_import"]["status"] == "failed"
    assert records["exit_on_import"]["error"].startswith("SystemExit")
    assert records["interrupt_in_register"]["error"].startswith("KeyboardInterrupt")
    assert records["good_plugin"]["status"] == "loaded"
    invoke(["--registry", str(path), "users", "add", "ann"], input=PASSWORD + "\n")
    called = invoke(["--registry", str(path), "call", "greet", "--user", "ann", "--input",
                     '{"name": "Ada"}'])
    assert "Hello, Ada." in called.stdout


def test_plugins_warns_about_unknown_overrides(tmp_path: Path) -> None:
    plugin_folder(tmp_path, "good_plugin.py")
    path = write_registry(tmp_path, "[plugins]\nentry_points = false\n[functions.gret]\ncost=1\n")
    result = invoke(["--registry", str(path), "plugins"])
    assert "warning: registry.toml overrides unknown function 'gret'" in result.stderr
    assert "warning" not in result.stdout


def test_functions_table(tw: Run) -> None:
    header, *rows = tw("functions").stdout.splitlines()
    assert header.split() == ["NAME", "TITLE", "COST", "ENABLED", "PLUGIN", "RETURNS",
                              "CACHE", "EXAMPLE"]
    assert len(rows) == 1
    assert rows[0].split()[:7] == ["greet", "Greet", "2", "yes", "good_plugin",
                                   "markdown,json", "-"]
    assert rows[0].endswith('{"name": "Ada"}')


def test_functions_json(tw: Run) -> None:
    (greet,) = as_json(tw("functions", "--json"))
    assert greet["name"] == "greet"
    assert (greet["cost"], greet["default_cost"], greet["enabled"]) == (2, 2, True)
    assert greet["disabled_because"] is None
    assert (greet["plugin"], greet["plugin_version"]) == ("good_plugin", "local")
    assert greet["returns"] == ["markdown", "json"]
    assert greet["examples"] == [{"name": "Ada"}, {"name": "Grace", "excited": True}]
    assert greet["input_schema"]["required"] == ["name"]
    assert greet["description"].startswith("Greet someone by name.")


# -- users and tokens -----------------------------------------------------------------


def test_users_add_with_password_from_stdin(tw: Run, store_file: Path) -> None:
    result = tw("users", "add", "ann", input=PASSWORD + "\n")
    assert result.stdout == "added user ann with 10 tokens\n"
    assert "password" not in result.output
    store = DuckDBStore(store_file)
    try:
        stored = store.password_hash("ann")
        assert stored is not None and stored.startswith("scrypt$")
        assert verify_password(PASSWORD, stored)
        assert not verify_password("wrong password", stored)
    finally:
        store.close()


def test_users_add_generates_a_password_once(tw: Run, store_file: Path) -> None:
    result = tw("users", "add", "bob", "--admin", input="")
    lines = result.stdout.splitlines()
    assert lines[0] == "added admin bob with 10 tokens"
    assert len(lines) == 2 and lines[1].startswith("password: ")
    generated = lines[1].removeprefix("password: ")
    assert len(generated) >= 12
    assert "shown once" in result.stderr
    store = DuckDBStore(store_file)
    try:
        assert verify_password(generated, store.password_hash("bob") or "")
    finally:
        store.close()
    # Another user gets another password.
    again = tw("users", "add", "cy", input="").stdout.splitlines()[1]
    assert again != lines[1]


def test_users_signout_ends_every_session_and_is_audited(tw: Run, store_file: Path) -> None:
    add_user(tw)
    store = DuckDBStore(store_file)
    try:
        now = utcnow()
        for token_hash in ("h1", "h2"):
            store.create_portal_session(PortalSession(
                token_hash, "ann", now, now, now + timedelta(hours=1), now + timedelta(hours=2)))
    finally:
        store.close()
    result = tw("users", "signout", "ann", "--reason", "laptop lost")
    assert result.stdout == "ended 2 portal sessions of ann\n"
    assert tw("users", "signout", "ann", "--reason", "again").stdout == \
        "ended 0 portal sessions of ann\n"
    store = DuckDBStore(store_file)
    try:
        assert store.live_session_count("ann", utcnow()) == 0
        change = store.state_changes(2)[1]
        assert (change.target, change.field, change.reason) == ("ann", "sessions", "laptop lost")
        assert change.actor.startswith("cli:")
    finally:
        store.close()
    result = tw("users", "signout", "ghost", "--reason", "who", expect=1)
    assert error_line(result) == "Error: no such user: ghost"


def test_users_add_refusals(tw: Run) -> None:
    add_user(tw)
    result = tw("users", "add", "ann", input=PASSWORD, expect=1)
    assert error_line(result) == "Error: user 'ann' exists already"
    result = tw("users", "add", "bad name", input=PASSWORD, expect=1)
    assert error_line(result).startswith("Error: invalid user name 'bad name'")
    result = tw("users", "add", "dee", input="short\n", expect=1)
    assert error_line(result) == "Error: a password needs at least 8 characters"
    names = [u["name"] for u in as_json(tw("users", "list", "--json"))]
    assert names == ["ann"]


def test_users_list_and_role(tw: Run) -> None:
    add_user(tw, "ann")
    add_user(tw, "bob")
    assert tw("users", "role", "bob", "admin", "--reason", "runs the books").stdout == (
        "bob is now admin\n")
    people = as_json(tw("users", "list", "--json"))
    assert [(p["name"], p["role"], p["balance"]) for p in people] == [
        ("ann", "user", 10), ("bob", "admin", 10)]
    table = tw("users", "list").stdout.splitlines()
    assert table[0].split() == ["NAME", "ROLE", "BALANCE", "CREATED"]
    assert tw("users", "role", "bob", "owner", "--reason", "x", expect=2).exit_code == 2
    # The only admin cannot be demoted: nobody could reach the admin portal to undo it.
    result = tw("users", "role", "bob", "user", "--reason", "oops", expect=1)
    assert error_line(result) == "Error: bob is the only admin: make another admin first"
    tw("users", "role", "ann", "admin", "--reason", "second admin")
    assert tw("users", "role", "bob", "user", "--reason", "steps down").exit_code == 0


def test_tokens_grant_take_balance_history(tw: Run) -> None:
    add_user(tw)
    assert tw("tokens", "grant", "ann", "5", "--reason", "welcome").stdout == (
        "granted 5 to ann; balance 15\n")
    assert tw("tokens", "take", "ann", "3", "--reason", "overgrant").stdout == (
        "took 3 from ann; balance 12\n")
    assert tw("tokens", "balance", "ann").stdout == "ann: 12 tokens\n"
    assert as_json(tw("tokens", "balance", "ann", "--json")) == {"user": "ann", "balance": 12}

    history = as_json(tw("tokens", "history", "ann", "--json"))
    assert [(e["kind"], e["amount"], e["balance_after"], e["reason"]) for e in history] == [
        ("adjustment", -3, 12, "overgrant"),
        ("grant", 5, 15, "welcome"),
        ("grant", 10, 10, "starting grant"),
    ]
    assert history[0]["actor"].startswith("cli:")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", history[0]["at"])
    table = tw("tokens", "history", "ann").stdout.splitlines()
    assert table[0].split()[:4] == ["AT", "KIND", "AMOUNT", "BALANCE"]
    assert "-3" in table[1] and "overgrant" in table[1]
    assert len(as_json(tw("tokens", "history", "ann", "--limit", "1", "--json"))) == 1


def test_tokens_refusals(tw: Run) -> None:
    add_user(tw)
    result = tw("tokens", "take", "ann", "11", "--reason", "too much", expect=1)
    assert error_line(result) == ("Error: ann has 10 tokens; this call costs 11. "
                                  "Nothing was charged.")
    assert balance(tw) == 10
    assert "no such user: nobody" in error_line(tw("tokens", "balance", "nobody", expect=1))
    assert "no such user: nobody" in error_line(
        tw("tokens", "grant", "nobody", "1", "--reason", "x", expect=1))
    assert "no such user: nobody" in error_line(tw("tokens", "history", "nobody", expect=1))
    missing_reason = tw("tokens", "grant", "ann", "1", expect=2)
    assert "Missing option '--reason'" in missing_reason.output
    assert tw("tokens", "grant", "ann", "0", "--reason", "x", expect=2).exit_code == 2
    assert "a reason is required" in error_line(
        tw("tokens", "grant", "ann", "1", "--reason", "  ", expect=1))
    assert balance(tw) == 10


# -- calls ----------------------------------------------------------------------------


def test_call_success(tw: Run) -> None:
    add_user(tw)
    result = tw("call", "greet", "--user", "ann", "--input", '{"name": "Ada", "excited": true}')
    assert result.stdout.startswith("Hello, Ada!\n")
    assert '"greeting": "Hello, Ada!"' in result.stdout
    assert re.fullmatch(r"call [0-9a-f]{32}: succeeded, charged 2, balance 8\n", result.stderr)
    assert balance(tw) == 8


def test_call_json(tw: Run) -> None:
    add_user(tw)
    out = as_json(tw("call", "greet", "--user", "ann", "--input", '{"name": "Bo"}', "--json"))
    assert (out["status"], out["charged"], out["balance"], out["replayed"]) == (
        "succeeded", 2, 8, False)
    assert (out["function"], out["user"], out["error"]) == ("greet", "ann", None)
    assert out["blocks"] == [
        {"title": None, "kind": "markdown", "text": "Hello, Bo."},
        {"title": None, "kind": "json", "data": {"greeting": "Hello, Bo.", "length": 2}},
    ]
    calls = as_json(tw("calls", "--json"))
    assert [(c["call_id"], c["status"], c["cost"]) for c in calls] == [
        (out["call_id"], "succeeded", 2)]


# One user and store for all the cases: each case is a separate CLI invocation anyway.
BAD_JSON = [
    ("{name: Ada}", "Error: --input is not valid JSON: Expecting property name"),
    ("", "Error: --input is not valid JSON"),
    ('["Ada"]', "Error: --input must be a JSON object"),
    ('"Ada"', "Error: --input must be a JSON object"),
]
INVALID_FIELDS = [
    ("{}", "name", "Field required"),
    ('{"name": ""}', "name", "at least 1 character"),
    ('{"name": "Ada", "excited": "very"}', "excited", "valid boolean"),
]


def test_call_rejects_bad_json(tw: Run) -> None:
    add_user(tw)
    for payload, message in BAD_JSON:
        result = tw("call", "greet", "--user", "ann", "--input", payload, expect=1)
        assert error_line(result).startswith(message), payload
    assert balance(tw) == 10


def test_call_invalid_field_is_named(tw: Run) -> None:
    add_user(tw)
    for payload, field, problem in INVALID_FIELDS:
        result = tw("call", "greet", "--user", "ann", "--input", payload, expect=1)
        line = error_line(result)
        assert line.startswith(f"Error: invalid input for greet: {field}: "), line
        assert problem in line, line
    assert balance(tw) == 10
    assert as_json(tw("calls", "--json")) == []


def test_call_unknown_function_suggests_close_names(tw: Run) -> None:
    add_user(tw)
    result = tw("call", "gret", "--user", "ann", "--input", '{"name": "A"}', expect=1)
    assert error_line(result) == "Error: no function named 'gret'; did you mean greet?"
    far = tw("call", "zzzz", "--user", "ann", expect=1)
    assert error_line(far) == "Error: no function named 'zzzz'"


def test_call_unknown_user(tw: Run) -> None:
    result = tw("call", "greet", "--user", "nobody", "--input", '{"name": "A"}', expect=1)
    assert error_line(result) == "Error: no such user: nobody"


def test_call_with_too_few_tokens_charges_nothing(tw: Run) -> None:
    add_user(tw)
    tw("tokens", "take", "ann", "9", "--reason", "leave one")
    history_before = as_json(tw("tokens", "history", "ann", "--json"))
    result = tw("call", "greet", "--user", "ann", "--input", '{"name": "A"}', expect=1)
    assert error_line(result) == (
        "Error: ann has 1 tokens; this call costs 2. Nothing was charged.")
    assert balance(tw) == 1
    assert as_json(tw("tokens", "history", "ann", "--json")) == history_before
    assert as_json(tw("calls", "--json")) == []


def test_call_id_replay_is_charged_once(tw: Run) -> None:
    add_user(tw)
    args = ("call", "greet", "--user", "ann", "--input", '{"name": "A"}', "--call-id", "job-7")
    first = tw(*args)
    assert "call job-7: succeeded, charged 2, balance 8" in first.stderr
    second = tw(*args)
    assert second.stdout == first.stdout
    assert "call job-7: succeeded (replayed: charged once), charged 2, balance 8" in (
        second.stderr)
    replay = as_json(tw(*args, "--json"))
    assert (replay["replayed"], replay["charged"], replay["balance"]) == (True, 2, 8)
    assert balance(tw) == 8
    assert [c["call_id"] for c in as_json(tw("calls", "--json"))] == ["job-7"]
    # The same id for a different input is refused, not replayed.
    clash = tw("call", "greet", "--user", "ann", "--input", '{"name": "B"}',
               "--call-id", "job-7", expect=1)
    assert "call id job-7 was already used for a different call" in error_line(clash)
    bad_id = tw("call", "greet", "--user", "ann", "--input", '{"name": "B"}',
                "--call-id", "no spaces", expect=1)
    assert "a call id is 1-128 letters" in error_line(bad_id)
    assert balance(tw) == 8


def test_call_input_from_file_and_stdin(tw: Run, tmp_path: Path) -> None:
    add_user(tw)
    payload = tmp_path / "input.json"
    payload.write_text('{"name": "File"}')
    assert tw("call", "greet", "--user", "ann", "--input", f"@{payload}").stdout.startswith(
        "Hello, File.")
    from_stdin = tw("call", "greet", "--user", "ann", "--input", "-", input='{"name": "Pipe"}')
    assert from_stdin.stdout.startswith("Hello, Pipe.")
    missing = tw("call", "greet", "--user", "ann", "--input", f"@{tmp_path / 'gone.json'}",
                 expect=1)
    assert error_line(missing).startswith(f"Error: cannot read {tmp_path / 'gone.json'}")
    assert balance(tw) == 6


def test_calls_table(tw: Run) -> None:
    add_user(tw)
    add_user(tw, "bob")
    tw("call", "greet", "--user", "ann", "--input", '{"name": "A"}', "--call-id", "c1")
    tw("call", "greet", "--user", "bob", "--input", '{"name": "B"}', "--call-id", "c2")
    header, *rows = tw("calls").stdout.splitlines()
    assert header.split()[:4] == ["CALL", "ID", "USER", "FUNCTION"]
    assert {row.split()[0] for row in rows} == {"c1", "c2"}
    assert [c["call_id"] for c in as_json(tw("calls", "--user", "bob", "--json"))] == ["c2"]


def test_failed_calls_show_admins_why(tmp_path: Path) -> None:
    plugin_folder(tmp_path, "meter_probe.py")
    path = write_registry(tmp_path, "[plugins]\nentry_points = false\n"
                                    "[users]\nstarting_grant = 10\n")
    run = ["--registry", str(path)]
    invoke([*run, "users", "add", "ann"], input=PASSWORD + "\n")
    failed = invoke([*run, "call", "probe_fail", "--user", "ann", "--input", '{"text": "x"}',
                     "--call-id", "c-fail"], expect=1)
    # The caller is told what happened and where to look, not the exception.
    assert "probe_fail failed (reference c-fail)" in failed.output
    assert "RuntimeError" not in failed.output
    invoke([*run, "call", "probe_ok", "--user", "ann", "--input", '{"text": "x"}'])

    [record] = as_json(invoke([*run, "calls", "--failed", "--json"]))
    assert (record["call_id"], record["function"], record["status"]) == (
        "c-fail", "probe_fail", "failed")
    assert record["detail"].startswith("RuntimeError: probe failure for 'x'")
    assert "Traceback (most recent call last)" in record["detail"]
    header, row = invoke([*run, "calls", "--failed"]).stdout.splitlines()
    assert header.split()[:2] == ["CALL", "ID"]
    assert row.split()[:4] == ["c-fail", "ann", "probe_fail", "failed"]
    assert row.endswith("RuntimeError: probe failure for 'x'")
    assert as_json(invoke([*run, "calls", "--failed", "--function", "probe_ok",
                           "--json"])) == []


# -- switches, costs, audit -----------------------------------------------------------


def test_disable_and_enable_a_function(tw: Run) -> None:
    add_user(tw)
    assert tw("disable", "greet", "--reason", "upstream outage").stdout == "greet disabled\n"
    assert tw("disable", "greet", "--reason", "again").stdout == "greet was already disabled\n"
    (greet,) = as_json(tw("functions", "--json"))
    assert (greet["enabled"], greet["disabled_because"]) == (False, "greet is switched off")
    refused = tw("call", "greet", "--user", "ann", "--input", '{"name": "A"}', expect=1)
    assert error_line(refused) == "Error: greet is switched off; nothing was charged"
    assert balance(tw) == 10
    assert tw("enable", "greet", "--reason", "fixed").stdout == "greet enabled\n"
    tw("call", "greet", "--user", "ann", "--input", '{"name": "A"}')
    assert balance(tw) == 8


def test_disable_and_enable_a_plugin(tw: Run) -> None:
    add_user(tw)
    assert tw("disable", "--plugin", "good_plugin", "--reason", "licence review").stdout == (
        "plugin good_plugin disabled\n")
    rows = {row.split()[0]: row.split()[1] for row in tw("plugins").stdout.splitlines()[1:]}
    assert rows["good_plugin"] == "disabled"
    assert rows["register_raises"] == "failed"  # a failed plugin stays "failed"
    records = {r["name"]: r for r in as_json(tw("plugins", "--json"))}
    assert (records["good_plugin"]["status"], records["good_plugin"]["enabled"]) == (
        "loaded", False)
    refused = tw("call", "greet", "--user", "ann", "--input", '{"name": "A"}', expect=1)
    assert error_line(refused) == (
        "Error: plugin 'good_plugin' is switched off; nothing was charged")
    assert balance(tw) == 10
    tw("enable", "--plugin", "good_plugin", "--reason", "review passed")
    tw("call", "greet", "--user", "ann", "--input", '{"name": "A"}')
    assert balance(tw) == 8
    unknown = tw("disable", "--plugin", "nope", "--reason", "x", expect=1)
    assert error_line(unknown) == "Error: no plugin named 'nope'"


def test_switch_usage_errors(tw: Run) -> None:
    for command in ("enable", "disable"):
        no_reason = tw(command, "greet", expect=2)
        assert "Missing option '--reason'" in no_reason.output
        both = tw(command, "greet", "--plugin", "good_plugin", "--reason", "x", expect=2)
        assert "name a FUNCTION or a --plugin (not both)" in both.output
        neither = tw(command, "--reason", "x", expect=2)
        assert "name a FUNCTION or a --plugin (not both)" in neither.output
    unknown = tw("disable", "gret", "--reason", "x", expect=1)
    assert error_line(unknown) == "Error: no function named 'gret'; did you mean greet?"
    assert as_json(tw("functions", "--json"))[0]["enabled"] is True


def test_set_cost(tw: Run) -> None:
    add_user(tw)
    assert tw("set-cost", "greet", "5", "--reason", "popular").stdout == "greet now costs 5\n"
    (greet,) = as_json(tw("functions", "--json"))
    assert (greet["cost"], greet["default_cost"]) == (5, 2)
    out = as_json(tw("call", "greet", "--user", "ann", "--input", '{"name": "A"}', "--json"))
    assert (out["charged"], out["balance"]) == (5, 5)
    assert tw("set-cost", "greet", "-1", "--reason", "x", expect=2).exit_code == 2
    assert "Missing option '--reason'" in tw("set-cost", "greet", "3", expect=2).output
    assert "no function named 'gret'" in error_line(
        tw("set-cost", "gret", "3", "--reason", "x", expect=1))


def test_audit(tw: Run) -> None:
    add_user(tw)
    tw("disable", "greet", "--reason", "outage")
    tw("set-cost", "greet", "4", "--reason", "dearer")
    changes = as_json(tw("audit", "--json"))
    assert [(c["target_kind"], c["target"], c["field"], c["before"], c["after"], c["reason"])
            for c in changes] == [
        ("function", "greet", "cost", "2", "4", "dearer"),
        ("function", "greet", "enabled", "true", "false", "outage"),
        ("user", "ann", "created", None, "user", "new user"),
    ]
    assert all(c["actor"].startswith("cli:") for c in changes)
    header, first, *_ = tw("audit").stdout.splitlines()
    assert header.split() == ["AT", "ACTOR", "TARGET", "FIELD", "BEFORE", "AFTER", "REASON"]
    assert "function:greet" in first and "dearer" in first
    assert len(as_json(tw("audit", "--limit", "1", "--json"))) == 1


# -- the books ------------------------------------------------------------------------


def test_ledger_verify_passes_then_finds_tampering(tw: Run, store_file: Path) -> None:
    add_user(tw)
    tw("call", "greet", "--user", "ann", "--input", '{"name": "A"}')
    good = tw("ledger", "verify")
    assert good.stdout.splitlines() == [
        "1 accounts, 3 ledger entries, 0 holds open for running calls", "the books balance"]
    assert as_json(tw("ledger", "verify", "--json"))["ok"] is True

    # Each CLI invocation closed the store; tamper with it behind the ledger's back.
    connection = duckdb.connect(str(store_file))
    try:
        connection.execute("UPDATE accounts SET balance = balance + 5 WHERE user_name = 'ann'")
    finally:
        connection.close()

    bad = tw("ledger", "verify", expect=1)
    assert "DRIFT: ann: balance 13 but ledger sums to 8" in bad.stdout.splitlines()
    assert "the books balance" not in bad.output
    assert bad.output.strip().splitlines()[-1] == (
        "Error: the books do not balance: 1 problems")
    report = as_json(tw("ledger", "verify", "--json", expect=1))  # the error goes to stderr
    assert report["ok"] is False
    assert report["problems"] == ["ann: balance 13 but ledger sums to 8"]


def test_store_locked_by_another_process(tw: Run, store_file: Path) -> None:
    add_user(tw)  # the store exists and is closed again
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
         "print('ready', flush=True); time.sleep(30)", str(store_file)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        result = tw("tokens", "balance", "ann", expect=1)
        line = error_line(result)
        assert f"is in use by process {holder.pid} (" in line
        assert "PostgreSQL" in line
        assert str(store_file) in line
    finally:
        holder.kill()
        holder.wait(timeout=10)
    # Once the other process is gone the store opens again, unharmed.
    assert balance(tw) == 10


# -- init and plugin commands ---------------------------------------------------------


def test_init_writes_a_registry_that_loads(tmp_path: Path) -> None:
    target = tmp_path / "new-site"
    result = invoke(["init", "--dir", str(target)])
    path = target / "registry.toml"
    assert result.stdout == f"wrote {path}\n"
    assert path.is_file()
    functions = json.loads(invoke(["--registry", str(path), "functions", "--json"]).stdout)
    # Its entry_points = true also loads plugins installed in this venv (examples/).
    assert [f["name"] for f in functions if f["plugin"] not in installed_plugins()] == [
        "word_frequencies"]
    invoke(["--registry", str(path), "users", "add", "ann"], input=PASSWORD)
    assert json.loads(invoke(["--registry", str(path), "tokens", "balance", "ann",
                              "--json"]).stdout)["balance"] == 20
    assert (target / "tokenworks.duckdb").is_file()  # relative to the registry's folder
    again = invoke(["init", "--dir", str(target)], expect=1)
    assert error_line(again) == f"Error: {path} exists already; edit it instead"


def test_plugin_command_runs(tw: Run) -> None:
    assert tw("hello").stdout == "hello from cli_plugin; functions: greet\n"
    assert tw("hello", "--shout").stdout == "HELLO FROM CLI_PLUGIN; FUNCTIONS: GREET\n"
    assert "Say hello and count" in tw("hello", "--help").stdout


def test_plugin_command_is_listed(registry: Path) -> None:
    result = invoke(["--help"], env={"TOKENWORKS_REGISTRY": str(registry)})
    assert re.search(r"^  hello\s+Say hello", result.output, re.MULTILINE)


def test_plugin_command_absent_without_its_plugin(tmp_path: Path) -> None:
    plugin_folder(tmp_path, "good_plugin.py")
    path = write_registry(tmp_path, "[plugins]\nentry_points = false\n")
    result = invoke(["--registry", str(path), "hello"], expect=2)
    assert "No such command 'hello'" in result.output


def test_plugin_command_of_a_blocked_plugin_is_absent(tmp_path: Path) -> None:
    plugin_folder(tmp_path, "cli_plugin.py")
    path = write_registry(tmp_path,
                          '[plugins]\nentry_points = false\nblock = ["cli_plugin"]\n')
    assert "No such command 'hello'" in invoke(["--registry", str(path), "hello"],
                                               expect=2).output
