"""Commands installed packages add to the CLI through the `tokenworks.commands` group."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest
from click.testing import CliRunner

import tokenworks.cli as cli_module
from tokenworks.cli import COMMANDS_GROUP, cli, installed_commands


def test_serve_comes_from_the_portals_through_the_entry_point() -> None:
    # Read from the installed metadata: `make install` must have put it there.
    assert installed_commands()["serve"].value == "tokenworks.portals.serve:serve"
    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0, result.output
    assert "--port" in result.output and "Run the user and admin portals" in result.output
    assert "serve" in CliRunner().invoke(cli, ["--help"]).output


def test_a_broken_entry_point_says_so_and_leaves_the_rest_working(
        monkeypatch: pytest.MonkeyPatch) -> None:
    broken = EntryPoint("haunted", "no_such_module_here:command", COMMANDS_GROUP)
    not_a_command = EntryPoint("plain", "json:dumps", COMMANDS_GROUP)
    real = installed_commands()
    monkeypatch.setattr(cli_module, "entry_points",
                        lambda group: [*real.values(), broken, not_a_command])
    listing = CliRunner().invoke(cli, ["--help"])
    assert listing.exit_code == 0, listing.output
    assert "haunted" in listing.output and "serve" in listing.output
    result = CliRunner().invoke(cli, ["haunted", "--anything"])
    assert result.exit_code == 1
    assert ("the command 'haunted' (no_such_module_here:command) could not be loaded: "
            "ModuleNotFoundError") in result.output
    result = CliRunner().invoke(cli, ["plain"])
    assert result.exit_code == 1 and "it is not a click command" in result.output
    assert CliRunner().invoke(cli, ["serve", "--help"]).exit_code == 0
