"""The functions as callers see them: each spec with its effective cost and switch
(the plugin's spec, then registry.toml's [functions.NAME], then an admin's changes).
"""

from __future__ import annotations

import difflib
import threading
from dataclasses import dataclass

from .config import FunctionOverride, RegistryConfig
from .errors import UnknownFunctionError
from .loader import Discovery
from .spec import Function, FunctionSpec
from .store import Store


@dataclass(frozen=True)
class FunctionView:
    function: Function
    cost: int
    function_enabled: bool
    plugin_enabled: bool
    concurrency: int = 1  # calls of it that may run at once in the worker processes

    @property
    def spec(self) -> FunctionSpec:
        return self.function.spec

    @property
    def enabled(self) -> bool:
        return self.function_enabled and self.plugin_enabled

    def why_disabled(self) -> str | None:
        if not self.plugin_enabled:
            return f"plugin {self.spec.plugin!r} is switched off"
        if not self.function_enabled:
            return f"{self.spec.name} is switched off"
        return None


class Catalog:
    def __init__(self, discovery: Discovery, config: RegistryConfig, store: Store) -> None:
        self._discovery = discovery
        self._config = config
        self._store = store
        self._lock = threading.Lock()
        self._version = -1
        self._views: dict[str, FunctionView] = {}

    def views(self) -> list[FunctionView]:
        self._refresh()
        return list(self._views.values())

    def view(self, name: str) -> FunctionView:
        self._refresh()
        try:
            return self._views[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._views, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise UnknownFunctionError(f"no function named {name!r}{hint}") from None

    def _concurrency(self, function: Function, configured: FunctionOverride | None) -> int:
        """registry.toml's word, else the spec's, else the host's default; capped at the
        worker count, so a plugin cannot claim more than the machine has."""
        workers = self._config.workers
        asked = (configured.concurrency if configured and configured.concurrency else
                 function.spec.concurrency or workers.default_concurrency())
        return min(asked, workers.count)

    def plugin_enabled(self, plugin: str) -> bool:
        return self._store.plugin_overrides().get(plugin, True)

    def _refresh(self) -> None:
        version = self._store.state_version()
        if version == self._version:
            return
        with self._lock:
            if version == self._version:
                return
            functions = self._store.function_overrides()
            plugins = self._store.plugin_overrides()
            views = {}
            for name, function in self._discovery.functions.items():
                configured = self._config.functions.get(name)
                stored = functions.get(name)
                cost = function.spec.cost
                enabled = True
                for layer in (configured, stored):
                    if layer and layer.cost is not None:
                        cost = layer.cost
                    if layer and layer.enabled is not None:
                        enabled = layer.enabled
                views[name] = FunctionView(
                    function, cost, enabled, plugins.get(function.spec.plugin, True),
                    self._concurrency(function, configured),
                )
            self._views, self._version = views, version
