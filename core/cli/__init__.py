"""The `tokenworks` command line.

Commands open the host (and its store) only when they need it, so `--help` and
`--version` work anywhere. Installed packages add commands through the
``tokenworks.commands`` entry point group (the portals add `serve` so), and plugins through
the `register_commands` hook.
"""

from __future__ import annotations

import getpass
import logging
import traceback
from importlib.metadata import EntryPoint, entry_points

import click

from .. import __version__
from ..config import RegistryConfig, load_registry
from ..errors import PluginError, TokenworksError
from ..host import Discovery, Host, discover_plugins, plugin_commands


class Session:
    """Per-invocation state: the registry, then (only if needed) the host."""

    def __init__(self, registry: str | None, store: str | None) -> None:
        self.registry, self.store = registry, store
        self._config: RegistryConfig | None = None
        self._discovery: Discovery | None = None
        self._host: Host | None = None
        self.actor = f"cli:{getpass.getuser()}"

    def config(self) -> RegistryConfig:
        if self._config is None:
            self._config = load_registry(self.registry, self.store)
        return self._config

    def discovery(self) -> Discovery:
        if self._discovery is None:
            self._discovery = discover_plugins(self.config())
        return self._discovery

    def host(self) -> Host:
        if self._host is None:
            self._host = Host(self.config(), discovery=self.discovery(), sweep=False)
        return self._host

    def close(self) -> None:
        if self._host is not None:
            self._host.close()


def current_session() -> Session:
    """For plugin commands: the session (and through it the host) of this invocation."""
    return click.get_current_context().find_object(Session)


COMMANDS_GROUP = "tokenworks.commands"  # entry points: name = "module:click_command"


def installed_commands() -> dict[str, EntryPoint]:
    """Commands other installed packages declare, by name (loaded only when used)."""
    found: dict[str, EntryPoint] = {}
    for entry in entry_points(group=COMMANDS_GROUP):
        found.setdefault(entry.name, entry)  # the first of two with one name wins
    return found


def load_command(entry: EntryPoint) -> click.Command:
    """The entry point's command; a broken one becomes a command that says why it is
    broken when run, so it cannot take `--help` or the other commands down with it."""
    try:
        command = entry.load()
        problem = None if isinstance(command, click.Command) else "it is not a click command"
    except Exception as error:
        problem = f"{type(error).__name__}: {error}"
    if problem is None:
        return command
    message = f"the command {entry.name!r} ({entry.value}) could not be loaded: {problem}"

    def broken() -> None:
        raise click.ClickException(message)

    return click.Command(entry.name, callback=broken, help=message,
                         context_settings={"ignore_unknown_options": True,
                                           "allow_extra_args": True})


class TokenworksGroup(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except TokenworksError as error:
            if isinstance(error, PluginError) and error.__cause__ is not None:
                # Strict mode (TOKENWORKS_STRICT=1): the author asked for the plugin's
                # traceback, which the one-line message alone would hide.
                click.echo("".join(traceback.format_exception(error.__cause__)).rstrip(),
                           err=True)
            raise click.ClickException(str(error)) from error
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as error:
            # A bug or an environment problem: still one line, the traceback on request.
            logging.getLogger("tokenworks.cli").debug("unexpected error", exc_info=error)
            raise click.ClickException(
                f"unexpected {type(error).__name__}: {error} (run with -vv for the traceback)"
            ) from error

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        if command is None and name in (installed := installed_commands()):
            command = load_command(installed[name])
        return command or self._plugin_commands(ctx).get(name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *installed_commands(),
                       *self._plugin_commands(ctx)})

    def _plugin_commands(self, ctx: click.Context) -> dict[str, click.Command]:
        session = ctx.find_object(Session)
        if session is None:
            # click resolves the command name (and handles --help) before the group's
            # callback creates the session, so start it here from the parsed options;
            # the callback then reuses it.
            session = ctx.obj = Session(ctx.params.get("registry"), ctx.params.get("store"))
        try:
            discovery = session.discovery()
        except TokenworksError:
            return {}  # no registry here: plugin commands are simply not offered
        group = click.Group()
        plugin_commands(discovery, group)
        return dict(group.commands)


@click.group(cls=TokenworksGroup, context_settings={"help_option_names": ["-h", "--help"]})
# Eager, so `--registry X --help` lists the commands of X's plugins too.
@click.option("--registry", envvar="TOKENWORKS_REGISTRY", metavar="PATH", is_eager=True,
              help="registry.toml to use (default: ./registry.toml).")
@click.option("--store", envvar="TOKENWORKS_STORE", metavar="PATH|URL", is_eager=True,
              help="Store file or postgresql:// URL, overriding the one registry.toml names.")
@click.option("-v", "--verbose", count=True, help="Log calls (-v) or everything (-vv).")
@click.version_option(__version__, prog_name="tokenworks")
@click.pass_context
def cli(ctx: click.Context, registry: str | None, store: str | None, verbose: int) -> None:
    """tokenworks: a registry of analytical functions with a meter."""
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    session = ctx.obj if isinstance(ctx.obj, Session) else Session(registry, store)
    ctx.obj = session
    ctx.call_on_close(session.close)


def main() -> None:
    cli(prog_name="tokenworks")


from . import accounts, author, cache, commands, keys, migrate, secret  # noqa: E402,F401  (they attach their commands to cli)
