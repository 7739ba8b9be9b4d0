"""CLI plugin: implements attribution() and register_commands(), adding ``tokenworks hello``.

The command reaches the host of the running CLI through ``current_session()``, as a real
plugin command would.
"""

from __future__ import annotations

import click

from tokenworks import hookimpl

ATTRIBUTION = "Greetings data © *The Example Society*, [CC BY 4.0](https://example.org/cc-by)."


@hookimpl
def attribution():
    return ATTRIBUTION


@hookimpl
def register_commands(cli):
    @cli.command("hello")
    @click.option("--shout", is_flag=True, help="Upper-case the greeting.")
    def hello(shout: bool) -> None:
        """Say hello and count the registry's functions."""
        from tokenworks.cli import current_session

        names = sorted(view.spec.name for view in current_session().host().functions())
        text = f"hello from cli_plugin; functions: {', '.join(names) or 'none'}"
        click.echo(text.upper() if shout else text)
