"""Plugin discovery that survives bad plugins.

pluggy's own entry-point loader stops at the first plugin that fails to import, and one
raising hook implementation aborts the whole hook call. So each plugin is imported,
checked, registered and asked for its functions on its own; whatever goes wrong is kept
as a failed-plugin record (source, version, error, traceback, load time) while every
other plugin keeps working. Strict mode re-raises instead, for development and CI.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import importlib.util
import inspect
import logging
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pluggy
from pydantic import BaseModel, ValidationError

from . import __version__, hookspecs
from .config import RegistryConfig
from .errors import InvalidSpecError, PluginError, describe_validation_error
from .plugin_settings import SECTION, resolve_settings
from .spec import Function, FunctionSpec, infer_input_model

log = logging.getLogger("tokenworks.plugins")

# "module": a plugin object handed to discover() directly (tokenworks.testing, the checker).
Source = Literal["builtin", "entry_point", "folder", "module"]
Status = Literal["loaded", "failed", "blocked"]
ENTRY_POINT_GROUP = "tokenworks"
BUILTIN_PACKAGE = "tokenworks.plugins"
HOOK_NAMES = frozenset(
    name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "tokenworks_spec")
)


@dataclass
class PluginRecord:
    """What the admin portal and `tokenworks plugins` show about one plugin."""

    name: str
    source: Source
    origin: str
    version: str
    status: Status = "loaded"
    error: str | None = None
    traceback: str | None = None
    load_ms: float = 0.0
    functions: list[str] = field(default_factory=list)
    attribution: str | None = None


@dataclass
class Candidate:
    name: str
    source: Source
    origin: str
    version: str
    load: Callable[[], Any]


@dataclass
class Discovery:
    plugins: list[PluginRecord]
    functions: dict[str, Function]
    manager: pluggy.PluginManager
    warnings: list[str] = field(default_factory=list)
    # Each loaded plugin's validated settings (only plugins that declare a model).
    settings: dict[str, BaseModel] = field(default_factory=dict)
    _by_name: dict[str, PluginRecord] = field(default_factory=dict, repr=False)

    def plugin(self, name: str) -> PluginRecord | None:
        return self._by_name.get(name)

    def add(self, record: PluginRecord) -> None:
        self.plugins.append(record)
        self._by_name.setdefault(record.name, record)  # the first one keeps the name


def discover(
    config: RegistryConfig, strict: bool = False, extra: Iterable[Candidate] = ()
) -> Discovery:
    """Load every plugin the config names, then the `extra` candidates (see module_candidate)."""
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    discovery = Discovery(plugins=[], functions={}, manager=manager)
    settings = config.plugins
    for candidate in (*_candidates(config), *extra):
        record = PluginRecord(candidate.name, candidate.source, candidate.origin, candidate.version)
        refusal = _refusal(candidate.name, settings.allow, settings.block)
        taken = discovery.plugin(candidate.name)
        if refusal:
            record.status, record.error = "blocked", refusal
        elif taken:
            _fail(record, PluginError(
                f"plugin name {candidate.name!r} is already used by the {taken.source} plugin "
                f"from {taken.origin}"
            ), strict)
        else:
            _load_one(candidate, record, discovery, strict,
                      config.plugin_settings.get(candidate.name))
        discovery.add(record)
    for name in config.functions:
        if name not in discovery.functions:
            discovery.warnings.append(f"registry.toml overrides unknown function {name!r}")
    for name in config.plugin_settings:
        record = discovery.plugin(name)
        if record is None:
            discovery.warnings.append(f"registry.toml has [{SECTION}.{name}] but no plugin "
                                      f"is named {name!r}")
        elif record.status == "loaded" and name not in discovery.settings:
            discovery.warnings.append(f"registry.toml has [{SECTION}.{name}] but plugin "
                                      f"{name} declares no settings_model()")
    for warning in discovery.warnings:
        log.warning(warning)
    return discovery


def _refusal(name: str, allow: list[str], block: list[str]) -> str | None:
    if name in block:
        return "blocked by registry.toml (plugins.block)"
    if allow and name not in allow:
        return "not in registry.toml's plugins.allow"
    return None


def _load_one(candidate: Candidate, record: PluginRecord, discovery: Discovery, strict: bool,
              settings_section: dict[str, Any] | None = None):
    manager = discovery.manager
    started = time.perf_counter()
    plugin = None
    settings = None
    try:
        plugin = candidate.load()
        if candidate.source == "folder" and isinstance(getattr(plugin, "__version__", None), str):
            candidate.version = record.version = plugin.__version__
        _check_hook_names(plugin)
        manager.register(plugin, name=candidate.name)
        # Settings first: register_functions may build its functions around them.
        model = _call_hook(manager, plugin, "settings_model")
        if model is not None:
            settings = resolve_settings(candidate.name, model, settings_section)
        functions = _collect_functions(manager, plugin, candidate, settings)
        _check_names_free(functions, discovery)
        record.attribution = _call_hook(manager, plugin, "attribution")
    except Exception as error:  # a plugin may fail in any way; that is the point
        if plugin is not None and manager.is_registered(plugin):
            manager.unregister(plugin)
        _fail(record, error, strict)
    else:
        for function in functions:
            discovery.functions[function.spec.name] = function
        if settings is not None:
            discovery.settings[candidate.name] = settings
        record.functions = [f.spec.name for f in functions]
    finally:
        record.load_ms = (time.perf_counter() - started) * 1000


def _fail(record: PluginRecord, error: Exception, strict: bool) -> None:
    record.status = "failed"
    record.error = f"{type(error).__name__}: {error}"
    record.traceback = "".join(traceback.format_exception(error))
    log.error("plugin %s (%s, %s) failed: %s", record.name, record.source, record.origin,
              record.error)
    if strict:
        raise PluginError(f"plugin {record.name} ({record.origin}): {record.error}") from error


def _check_hook_names(plugin: Any) -> None:
    """A misspelled hook would silently never run; make it an error naming the fix."""
    for attribute in dir(plugin):
        value = getattr(plugin, attribute, None)
        options = getattr(value, f"{hookspecs.PROJECT}_impl", None)
        if options is None:
            if attribute in HOOK_NAMES and callable(value):
                raise PluginError(f"{attribute}() is not marked with @hookimpl, so it never runs")
            continue
        hook = options.get("specname") or attribute
        if hook not in HOOK_NAMES:
            close = difflib.get_close_matches(hook, HOOK_NAMES, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            known = ", ".join(sorted(HOOK_NAMES))
            raise PluginError(f"{hook!r} is not a tokenworks hook{hint} (hooks: {known})")


def _hookimpl(manager: pluggy.PluginManager, plugin: Any, hook: str):
    # Newest first: a plugin is asked right after it registers, and pluggy appends
    # plain implementations, so this is usually the first look.
    for impl in reversed(getattr(manager.hook, hook).get_hookimpls()):
        if impl.plugin is plugin:
            return impl
    return None


def _call_hook(manager: pluggy.PluginManager, plugin: Any, hook: str, **kwargs: Any) -> Any:
    """Call one plugin's implementation of a hook, passing only the arguments it asks for."""
    impl = _hookimpl(manager, plugin, hook)
    if impl is None:
        return None
    return impl.function(*(kwargs[name] for name in impl.argnames))


def call_each(
    discovery: Discovery, hook: str, only: str | None = None, **kwargs: Any
) -> Iterator[tuple[str, Any]]:
    """Call a hook plugin by plugin (or in plugin ``only``), logging, not raising, a
    failing implementation (which then yields nothing)."""
    for record in discovery.plugins:
        if only is not None and record.name != only:
            continue
        plugin = discovery.manager.get_plugin(record.name) if record.status == "loaded" else None
        if plugin is None:
            continue
        try:
            yield record.name, _call_hook(discovery.manager, plugin, hook, **kwargs)
        except Exception:
            log.exception("plugin %s failed in hook %s", record.name, hook)


def _collect_functions(
    manager: pluggy.PluginManager, plugin: Any, candidate: Candidate,
    settings: BaseModel | None = None,
) -> list[Function]:
    functions: list[Function] = []

    def register(func: Callable[..., Any], /, **fields: Any) -> None:
        functions.append(_build_function(func, fields, candidate))

    _call_hook(manager, plugin, "register_functions", register=register, settings=settings)
    return functions


def _build_function(func: Callable[..., Any], fields: dict[str, Any], candidate: Candidate):
    label = fields.get("name") or getattr(func, "__name__", repr(func))
    if not callable(func):
        raise InvalidSpecError(f"function {label!r}: register() needs a callable, got {func!r}")
    for host_field in ("plugin", "plugin_version"):
        if host_field in fields:
            raise InvalidSpecError(f"function {label!r}: {host_field} is filled in by the host")
    fields.setdefault("name", getattr(func, "__name__", None))
    fields.setdefault("description", inspect.getdoc(func) or "")
    if fields.get("input_model") is None:
        fields["input_model"] = infer_input_model(func)
    if fields["input_model"] is None:
        raise InvalidSpecError(
            f"function {label!r}: no input_model given and its first parameter is not "
            "annotated with a pydantic model"
        )
    try:
        spec = FunctionSpec(**fields, plugin=candidate.name, plugin_version=candidate.version)
    except ValidationError as error:
        detail = "; ".join(f"{f}: {m}" for f, m in describe_validation_error(error))
        raise InvalidSpecError(f"function {label!r}: invalid spec: {detail}") from None
    return Function(spec=spec, run=func)


def _check_names_free(functions: list[Function], discovery: Discovery) -> None:
    seen: set[str] = set()
    for function in functions:
        name = function.spec.name
        if name in seen:
            raise InvalidSpecError(f"function {name!r} is registered twice by this plugin")
        seen.add(name)
        holder = discovery.functions.get(name)
        if holder:
            raise PluginError(
                f"function name {name!r} is already taken by plugin {holder.spec.plugin!r}; "
                f"plugin {function.spec.plugin!r} cannot register it too"
            )


# -- sources --------------------------------------------------------------------------


def _candidates(config: RegistryConfig) -> Iterator[Candidate]:
    yield from _builtin_candidates(config.plugins.builtin)
    if config.plugins.entry_points:
        yield from _entry_point_candidates()
    folder = config.plugins_folder()
    if folder and folder.is_dir():
        yield from _folder_candidates(folder)


def _builtin_candidates(names: list[str]) -> Iterator[Candidate]:
    for entry in names:
        module = entry if "." in entry else f"{BUILTIN_PACKAGE}.{entry}"
        yield Candidate(
            name=module.rsplit(".", 1)[-1],
            source="builtin",
            origin=module,
            version=__version__,
            load=lambda module=module: importlib.import_module(module),
        )


def _entry_point_candidates() -> Iterator[Candidate]:
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = entry_point.dist
        yield Candidate(
            name=entry_point.name,
            source="entry_point",
            origin=f"{entry_point.value} ({dist.name if dist else 'unknown package'})",
            version=dist.version if dist else "unknown",
            load=entry_point.load,
        )


def module_candidate(plugin: Any, name: str | None = None) -> Candidate:
    """A candidate for a plugin object already in hand (a module, usually): for tests and
    the contract checker, which load one plugin without installing it anywhere."""
    module_name = getattr(plugin, "__name__", None) or type(plugin).__name__
    name = name or module_name.rsplit(".", 1)[-1]
    version = getattr(plugin, "__version__", None)
    return Candidate(name=name, source="module", origin=module_name,
                     version=version if isinstance(version, str) else "local",
                     load=lambda: plugin)


def file_candidate(path: Path) -> Candidate:
    """A candidate for a plugin file or package folder, loaded as the local folder does."""
    path = Path(path)
    if path.is_dir():
        return _folder_candidate(path.name, path / "__init__.py", [str(path)])
    return _folder_candidate(path.stem, path, None)


def _folder_candidates(folder: Path) -> Iterator[Candidate]:
    for path in sorted(folder.iterdir()):
        if path.name.startswith(("_", ".")):
            continue
        if path.suffix == ".py" and path.is_file():
            yield _folder_candidate(path.stem, path, None)
        elif path.is_dir() and (path / "__init__.py").is_file():
            yield _folder_candidate(path.name, path / "__init__.py", [str(path)])


def _folder_candidate(name: str, file: Path, package_path: list[str] | None) -> Candidate:
    def load() -> Any:
        # Executed afresh on every discovery so an author's edit shows on the next start.
        module_name = f"tokenworks_local_{name}"
        spec = importlib.util.spec_from_file_location(
            module_name, file, submodule_search_locations=package_path
        )
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(module_name, None)
            raise
        return module

    return Candidate(name=name, source="folder", origin=str(file), version="local", load=load)
