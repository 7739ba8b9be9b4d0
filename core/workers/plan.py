"""What a worker process needs to load the very plugins the host loaded.

The host discovers plugins itself (it needs their specs and input models) but never runs
their functions; a worker re-does the same discovery from this plan: the registry, and for
each plugin the host loaded, a recipe that loads it again (loader.Candidate.recipe). The
plan is pickled from the host to its workers, never the other way.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import RegistryConfig
from ..loader import Discovery, Recipe, Source, candidate_from_recipe, discover_candidates


@dataclass(frozen=True)
class PluginEntry:
    name: str
    source: Source
    origin: str
    version: str
    recipe: Recipe
    # Its settings as the host resolved them (registry.toml and the host's environment):
    # a worker takes them as they are, whatever its own environment says.
    settings: dict[str, Any] | None = None


@dataclass(frozen=True)
class WorkerPlan:
    config: RegistryConfig
    plugins: tuple[PluginEntry, ...]  # the plugins the host loaded, in its order
    warm: bool  # run each plugin's warm hook before the first call (servers do)
    # The host's import path: the fork server of Python 3.11 starts with its own.
    sys_path: tuple[str, ...] = ()

    @classmethod
    def of(cls, config: RegistryConfig, discovery: Discovery, warm: bool) -> WorkerPlan:
        entries = []
        for record in discovery.plugins:
            if record.status != "loaded":
                continue
            settings = discovery.settings.get(record.name)
            entries.append(PluginEntry(
                record.name, record.source, record.origin, record.version, record.recipe,
                None if settings is None else settings.model_dump(mode="python")))
        return cls(config, tuple(entries), warm, tuple(sys.path))

    def fingerprint(self) -> str:
        """Equal for plans that load the same plugins the same way."""
        return hashlib.sha256(pickle.dumps((self.config.model_dump_json(),
                                            str(self.config.base_dir), self.plugins,
                                            self.warm))).hexdigest()

    def discover(self) -> Discovery:
        """Load the plan's plugins here (in a worker or the fork server)."""
        candidates = [candidate_from_recipe(p.name, p.source, p.origin, p.version, p.recipe)
                      for p in self.plugins]
        resolved = {p.name: p.settings for p in self.plugins if p.settings is not None}
        config = self.config.model_copy(
            update={"plugin_settings": {**self.config.plugin_settings, **resolved}})
        return discover_candidates(config, candidates, strict=False, environ={})

    def write(self) -> Path:
        """The plan in a file only this user can read (the fork server reads it at start)."""
        folder = Path(tempfile.mkdtemp(prefix="tokenworks-plan-"))  # created 0700
        path = folder / "plan.pickle"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            pickle.dump(self, file)
        return path


def read_plan(path: str | os.PathLike[str]) -> WorkerPlan:
    with open(path, "rb") as file:
        plan = pickle.load(file)
    if not isinstance(plan, WorkerPlan):
        raise TypeError(f"{path} holds no worker plan")
    return plan


def remove_plan(path: Path) -> None:
    path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        path.parent.rmdir()
