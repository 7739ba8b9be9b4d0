"""The plugins as the host's callers see them: each with its switch (PluginView), and
discovered before any host exists, so the CLI can offer plugin commands without a store."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..config import RegistryConfig
from ..loader import DiscoveredPlugin, Discovery, call_each, discover

if TYPE_CHECKING:
    import click

STRICT_ENV = "TOKENWORKS_STRICT"


def strict_from_env() -> bool:
    return os.environ.get(STRICT_ENV, "").lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class PluginView:
    """A plugin as discovery left it (loaded, failed or blocked) and its switch now."""

    plugin: DiscoveredPlugin
    enabled: bool

    @property
    def name(self) -> str:
        return self.plugin.name

    @property
    def loaded(self) -> bool:
        return self.plugin.status == "loaded"

    @property
    def status(self) -> str:
        """"disabled" for a loaded plugin an admin switched off, else discovery's status."""
        return "disabled" if self.loaded and not self.enabled else self.plugin.status


def discover_plugins(config: RegistryConfig, strict: bool | None = None) -> Discovery:
    """The plugins the config names; strict (re-raise a plugin's failure) as
    $TOKENWORKS_STRICT says unless given. Hand the result to Host(discovery=...)."""
    return discover(config, strict_from_env() if strict is None else strict)


def plugin_commands(discovery: Discovery, group: click.Group) -> None:
    """Let every loaded plugin add its commands to ``group`` (the register_commands hook);
    a plugin whose hook fails is skipped, as the loader skips any failing hook."""
    for _plugin, _result in call_each(discovery, "register_commands", cli=group):
        pass
