"""Plugin discovery that survives bad plugins.

pluggy's own entry-point loader stops at the first plugin that fails to import, and one
raising hook implementation aborts the whole hook call. So each plugin is imported,
checked, registered and asked for its functions on its own; whatever goes wrong is kept
as a failed-plugin record (source, version, error, traceback, load time) while every
other plugin keeps working. Strict mode re-raises instead, for development and CI.

"Whatever goes wrong" includes SystemExit and KeyboardInterrupt raised by a plugin, and an
import or hook that never returns: each plugin loads on a thread of its own, and one that
has not finished within ``[plugins] import_timeout`` is recorded as failed while the host
goes on without it (a thread cannot be killed; it is left to finish or hang on its own).

Every candidate carries a recipe, a picklable way to load the same plugin again, so that
worker processes (workers/) can discover exactly the plugins the host discovered.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.machinery
import importlib.metadata
import importlib.util
import inspect
import logging
import pickle
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
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
LOCAL_PREFIX = "tokenworks_local_"  # module names of plugins loaded from the local folder
BUILTIN_PACKAGE = "tokenworks.plugins"
# How to load a plugin again in another process: ("import", module name),
# ("entry_point", "module:attr"), ("file", path, is_package) or ("object", pickled bytes).
# None: only this process can load it (an object that cannot be pickled).
Recipe = tuple[Any, ...] | None
HOOK_NAMES = frozenset(
    name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "tokenworks_spec")
)


@dataclass
class DiscoveredPlugin:
    """One plugin as discovery left it: loaded, failed (with why) or blocked."""

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
    recipe: Recipe = field(default=None, repr=False)  # how a worker process loads it again


@dataclass
class Candidate:
    name: str
    source: Source
    origin: str
    version: str
    load: Callable[[], Any]
    recipe: Recipe = None


@dataclass
class Discovery:
    plugins: list[DiscoveredPlugin]
    functions: dict[str, Function]
    manager: pluggy.PluginManager
    warnings: list[str] = field(default_factory=list)
    # Each loaded plugin's validated settings (only plugins that declare a model).
    settings: dict[str, BaseModel] = field(default_factory=dict)
    _by_name: dict[str, DiscoveredPlugin] = field(default_factory=dict, repr=False)

    def plugin(self, name: str) -> DiscoveredPlugin | None:
        return self._by_name.get(name)

    def add(self, record: DiscoveredPlugin) -> None:
        self.plugins.append(record)
        self._by_name.setdefault(record.name, record)  # the first one keeps the name


def discover(
    config: RegistryConfig, strict: bool = False, extra: Iterable[Candidate] = ()
) -> Discovery:
    """Load every plugin the config names, then the `extra` candidates (see module_candidate)."""
    return discover_candidates(config, (*_candidates(config), *extra), strict)


def discover_candidates(
    config: RegistryConfig, candidates: Iterable[Candidate], strict: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Discovery:
    """Load these candidates, in order, under the config's allow/block lists and settings
    (plugin settings from ``environ`` too: by default the process's environment)."""
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    discovery = Discovery(plugins=[], functions={}, manager=manager)
    settings = config.plugins
    for candidate in candidates:
        record = DiscoveredPlugin(candidate.name, candidate.source, candidate.origin,
                              candidate.version, recipe=candidate.recipe)
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
                      config.plugin_settings.get(candidate.name), settings.import_timeout,
                      environ, config.source)
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


def _load_one(candidate: Candidate, record: DiscoveredPlugin, discovery: Discovery,
              strict: bool, settings_section: dict[str, Any] | None = None,
              timeout: float | None = None, environ: Mapping[str, str] | None = None,
              settings_source: str = "registry.toml"):
    """Load one plugin on a thread of its own, waiting at most ``timeout`` seconds for it."""
    loading = _Loading(candidate, discovery.manager, settings_section, environ,
                       settings_source)
    thread = threading.Thread(target=loading.run, name=f"tokenworks-load-{candidate.name}",
                              daemon=True)
    started = time.perf_counter()
    thread.start()
    thread.join(timeout)
    record.load_ms = (time.perf_counter() - started) * 1000
    if not loading.settle():
        _fail(record, PluginError(
            f"loading took longer than {timeout:g} s (import_timeout in registry.toml's "
            "[plugins]); the host started without it"), strict)
        return
    if loading.version is not None:
        record.version = loading.version
    if loading.error is not None:
        _fail(record, loading.error, strict)
        return
    try:
        _check_names_free(loading.functions, discovery)
    except PluginError as error:
        discovery.manager.unregister(loading.plugin)
        _fail(record, error, strict)
        return
    for function in loading.functions:
        discovery.functions[function.spec.name] = function
    if loading.settings is not None:
        discovery.settings[candidate.name] = loading.settings
    record.functions = [f.spec.name for f in loading.functions]
    record.attribution = loading.attribution


class _Loading:
    """One plugin's import and hooks, run on a loader thread; the results wait here until
    the discovering thread takes them (``settle``), or are undone if it gave up waiting."""

    def __init__(self, candidate: Candidate, manager: pluggy.PluginManager,
                 settings_section: dict[str, Any] | None,
                 environ: Mapping[str, str] | None, settings_source: str) -> None:
        self.candidate, self.manager, self.section = candidate, manager, settings_section
        self.environ, self.settings_source = environ, settings_source
        self.plugin: Any = None
        self.version: str | None = None
        self.functions: list[Function] = []
        self.settings: BaseModel | None = None
        self.attribution: str | None = None
        self.error: BaseException | None = None
        self._lock = threading.Lock()
        self._done = False
        self._abandoned = False

    def run(self) -> None:
        try:
            self._load()
        except BaseException as error:  # SystemExit, KeyboardInterrupt: still one plugin's
            self.error = error
            self._unregister()
        with self._lock:
            self._done = True
            if self._abandoned:  # finished after the host gave up on it: leave no trace
                self._unregister()

    def settle(self) -> bool:
        """True if loading finished; otherwise mark it abandoned (the thread cleans up)."""
        with self._lock:
            if not self._done:
                self._abandoned = True
            return self._done

    def _load(self) -> None:
        candidate, manager = self.candidate, self.manager
        plugin = candidate.load()
        version = getattr(plugin, "__version__", None)
        if candidate.source == "folder" and isinstance(version, str):
            self.version = candidate.version = version  # the functions' specs carry it
        _check_hook_names(plugin)
        with self._lock:
            if self._abandoned:
                return
            manager.register(plugin, name=candidate.name)
            self.plugin = plugin
        # Settings first: register_functions may build its functions around them.
        model = _call_hook(manager, plugin, "settings_model")
        if model is not None:
            self.settings = resolve_settings(candidate.name, model, self.section,
                                             self.environ, self.settings_source)
        self.functions = _collect_functions(manager, plugin, candidate, self.settings)
        self.attribution = _call_hook(manager, plugin, "attribution")

    def _unregister(self) -> None:
        if self.plugin is not None and self.manager.is_registered(self.plugin):
            self.manager.unregister(self.plugin)


def _fail(record: DiscoveredPlugin, error: BaseException, strict: bool) -> None:
    record.status = "failed"
    record.error = f"{type(error).__name__}: {error}"
    record.traceback = "".join(traceback.format_exception(error))
    log.error("plugin %s (%s, %s) failed: %s", record.name, record.source, record.origin,
              record.error)
    if strict:
        raise PluginError(f"plugin {record.name} ({record.origin}): {record.error}") from error


def _check_hook_names(plugin: Any) -> None:
    """A misspelled hook would silently never run, and a second implementation of one hook
    would silently be ignored (the host asks each plugin's newest); make both errors."""
    implementers: dict[str, list[str]] = {}
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
        implementers.setdefault(hook, []).append(attribute)
    for hook, attributes in implementers.items():
        if len(attributes) > 1:
            names = " and ".join(f"{name}()" for name in attributes)
            raise PluginError(f"{names} both implement the hook {hook!r}; only one would "
                              "run, so keep one (or merge them)")


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
        except (SystemExit, KeyboardInterrupt) as error:
            # A plugin's exit request is its own failure, never the process's.
            log.error("plugin %s raised %s in hook %s", record.name, type(error).__name__,
                      hook)


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


def warm(discovery: Discovery, timeout: float | None = None) -> list[str]:
    """Call every loaded plugin's ``warm`` hook, each on a thread of its own given at most
    ``timeout`` seconds; returns the plugins whose warm-up raised or overran (they load on
    first use instead)."""
    failed = []
    for record in discovery.plugins:
        if record.status != "loaded":
            continue
        outcome: list[bool] = []

        def run(name: str = record.name, outcome: list[bool] = outcome) -> None:
            outcome.append(any(True for _ in call_each(discovery, "warm", only=name)))

        started = time.perf_counter()
        thread = threading.Thread(target=run, name=f"tokenworks-warm-{record.name}",
                                  daemon=True)
        thread.start()
        thread.join(timeout)
        if thread.is_alive():
            log.error("plugin %s: warm-up took longer than %g s; going on without it",
                      record.name, timeout)
        if outcome != [True]:
            failed.append(record.name)
        log.info("warmed %s in %.0f ms", record.name, (time.perf_counter() - started) * 1e3)
    return failed


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
            recipe=("import", module),
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
            recipe=("entry_point", entry_point.value),
        )


def module_candidate(plugin: Any, name: str | None = None) -> Candidate:
    """A candidate for a plugin object already in hand (a module, usually): for tests and
    the contract checker, which load one plugin without installing it anywhere."""
    module_name = getattr(plugin, "__name__", None) or type(plugin).__name__
    name = name or module_name.rsplit(".", 1)[-1]
    version = getattr(plugin, "__version__", None)
    return Candidate(name=name, source="module", origin=module_name,
                     version=version if isinstance(version, str) else "local",
                     load=lambda: plugin, recipe=_recipe_of(plugin))


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
        module_name = f"{LOCAL_PREFIX}{name}"
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

    return Candidate(name=name, source="folder", origin=str(file), version="local", load=load,
                     recipe=("file", str(file), package_path is not None))


def _recipe_of(plugin: Any) -> Recipe:
    """How another process loads this plugin object: by module name if a fresh process can
    import it as such, else by its file (a module loaded from a path), else pickled."""
    name = getattr(plugin, "__name__", None)
    spec = getattr(plugin, "__spec__", None)
    if isinstance(spec, importlib.machinery.ModuleSpec) and isinstance(name, str):
        if _importable_as(name, spec.origin):
            return ("import", name)
        if spec.origin and Path(spec.origin).is_file():
            return ("file", spec.origin, bool(spec.submodule_search_locations))
    try:
        return ("object", pickle.dumps(plugin))
    except Exception:  # a plugin made in place (a lambda, a local class): this process only
        return None


def _importable_as(name: str, origin: str | None) -> bool:
    """Whether importing ``name`` afresh would find this same file (asking the import
    system's finders, not sys.modules, where a module loaded from a path may sit under any
    name)."""
    if name.startswith(LOCAL_PREFIX) or origin is None:
        return False
    package, _, _ = name.rpartition(".")
    path = getattr(sys.modules.get(package), "__path__", None) if package else None
    for finder in sys.meta_path:
        find = getattr(finder, "find_spec", None)
        if find is None:
            continue
        try:
            found = find(name, path)
        except Exception:  # a third-party finder's trouble is not this plugin's answer
            continue
        if found is not None:
            return found.origin == origin
    return False


def candidate_from_recipe(name: str, source: Source, origin: str, version: str,
                          recipe: Recipe) -> Candidate:
    """The candidate a recipe describes (in a worker process, from the host's plan)."""
    if recipe is None:
        def refuse() -> Any:
            raise PluginError(f"plugin {name} was handed to the host as an object that "
                              "cannot be loaded in another process; pass a module or a file")
        return Candidate(name, source, origin, version, refuse)
    kind = recipe[0]
    if kind == "file":
        path = Path(recipe[1])
        folder = [str(path.parent)] if recipe[2] else None
        loaded = _folder_candidate(name, path, folder)
        return Candidate(name, source, origin, version, loaded.load, recipe)
    if kind == "import":
        return Candidate(name, source, origin, version,
                         lambda: importlib.import_module(recipe[1]), recipe)
    if kind == "entry_point":
        entry_point = importlib.metadata.EntryPoint(name, recipe[1], ENTRY_POINT_GROUP)
        return Candidate(name, source, origin, version, entry_point.load, recipe)
    if kind == "object":
        return Candidate(name, source, origin, version, lambda: pickle.loads(recipe[1]), recipe)
    raise ValueError(f"unknown plugin recipe {kind!r}")
