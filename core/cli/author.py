"""Commands for plugin authors: `new-plugin` writes a package, `check` runs the contract
checker. Neither needs a registry or a store, so they work in an empty folder."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import TokenworksError
from . import cli

# The one install command the next steps, the package's README and the docs all give:
# into the tokenworks venv, with its setuptools (works offline).
INSTALL_COMMAND = "pip install --no-build-isolation -e ."


@cli.command("new-plugin")
@click.argument("name")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
              help="Folder to create the package in (default: ./tokenworks-NAME).")
def new_plugin(name: str, directory: Path | None) -> None:
    """Write an installable plugin package NAME with one working example function."""
    from ..scaffold import create_plugin, plugin_names

    target, written = create_plugin(name, directory)
    names = plugin_names(name)
    click.echo(f"wrote plugin {names.name} in {target}:")
    for path in written:
        click.echo(f"  {path.relative_to(target)}")
    click.echo(f"\nnext:\n  cd {target}\n  pytest\n  tokenworks check .\n"
               f"  {INSTALL_COMMAND}\n  tokenworks functions   # lists {names.name}")


@cli.command()
@click.argument("target", metavar="MODULE_OR_PATH")
@click.option("--name", help="Plugin name (default: its entry-point name, else module or "
                             "file name).")
@click.option("--settings", "settings_json", metavar="JSON",
              help="The plugin's settings as a JSON object (its [plugin_settings.NAME]).")
@click.option("--no-run", is_flag=True, help="Do not run the examples.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def check(target: str, name: str | None, settings_json: str | None, no_run: bool,
          as_json: bool) -> None:
    """Check a plugin against the contract: spec, input form, examples, blocks, no Streamlit.

    MODULE_OR_PATH is an importable module (tokenworks_shout), a plugin file or package
    folder, or a project folder whose pyproject.toml declares a `tokenworks` entry point.
    Exits non-zero when any check fails; warnings alone pass.
    """
    from ..checker import check_plugin

    settings = None
    if settings_json is not None:
        try:
            settings = json.loads(settings_json)
        except json.JSONDecodeError as error:
            raise TokenworksError(f"--settings is not valid JSON: {error}") from None
        if not isinstance(settings, dict):
            raise TokenworksError("--settings must be a JSON object")
    report = check_plugin(target, name=name, settings=settings, run_examples=not no_run)
    click.echo(json.dumps(report.to_dict(), indent=2) if as_json else report.format())
    if not report.ok:
        raise click.exceptions.Exit(1)
