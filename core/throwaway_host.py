"""A throwaway host: given plugins, a store in a temporary folder, gone on exit. Shared by
tokenworks.testing and the contract checker, so both run a plugin as the product does.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from .config import parse_registry
from .host import Host
from .loader import Candidate, discover, file_candidate, module_candidate

CALLER = "tester"
# Never a valid scrypt hash, so the test caller cannot sign in; and it skips hashing,
# which costs a quarter of a second per user.
NO_PASSWORD = "!"

PluginLike = ModuleType | str | Path | object


def candidate_for(plugin: PluginLike, name: str | None = None) -> Candidate:
    """A loader candidate for a module, an importable module name, or a file/folder path."""
    if isinstance(plugin, Path) or (isinstance(plugin, str) and _looks_like_path(plugin)):
        candidate = file_candidate(Path(plugin))
        if name:
            candidate.name = name
        return candidate
    if isinstance(plugin, str):
        module = importlib.import_module(plugin)
        return module_candidate(module, name or entry_point_name(plugin))
    return module_candidate(plugin, name)


def _looks_like_path(text: str) -> bool:
    return text.endswith(".py") or "/" in text or Path(text).is_dir()


def entry_point_name(module: str) -> str | None:
    """The name a module is installed under in the `tokenworks` entry-point group, if any:
    the plugin's name once installed, so settings sections and errors match."""
    for entry_point in importlib.metadata.entry_points(group="tokenworks"):
        if entry_point.value == module:
            return entry_point.name
    return None


@contextmanager
def throwaway_host(
    candidates: Iterable[Candidate] = (), *, builtin: Iterable[str] = (),
    settings: Mapping[str, Mapping[str, Any]] | None = None, registry: str = "",
    strict: bool = True, source: str = "test registry",
) -> Iterator[Host]:
    """A Host over exactly these plugins (no folder, no entry points) and a fresh store;
    `source` is what errors call the registry (and so the plugins' settings)."""
    with tempfile.TemporaryDirectory(prefix="tokenworks-") as folder:
        listed = ", ".join(f'"{entry}"' for entry in builtin)
        text = (f'[store]\npath = "store.duckdb"\n[plugins]\nbuiltin = [{listed}]\n'
                f'folder = ""\nentry_points = false\n{registry}')
        config = parse_registry(text, base_dir=Path(folder), source=source)
        if settings:
            merged = {**config.plugin_settings, **{k: dict(v) for k, v in settings.items()}}
            config = config.model_copy(update={"plugin_settings": merged})
        host = Host(config, discovery=discover(config, strict, candidates), sweep=False)
        try:
            yield host
        finally:
            host.close()


def fund_caller(host: Host, user: str, tokens: int) -> None:
    """Make sure `user` exists and holds at least `tokens`, so a call is never refused
    for want of tokens (that is the meter's business, tested elsewhere)."""
    if host.user(user) is None:
        # Straight to the store: Host.add_user would hash a password nobody may use.
        host._store.create_user(user, "user", NO_PASSWORD, 0, "tokenworks.testing")
    short = tokens - host.balance(user)
    if short > 0:
        host.grant(user, short, actor="tokenworks.testing", reason="tokens for a test call")
