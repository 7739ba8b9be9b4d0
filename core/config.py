"""registry.toml: the registry's settings, read once and checked strictly.

Unknown keys and wrong types are errors naming the key, so the host never starts
half-configured on a typo.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
)

from .errors import ConfigError

REGISTRY_ENV = "TOKENWORKS_REGISTRY"
STORE_ENV = "TOKENWORKS_STORE"
REGISTRY_FILE = "registry.toml"
MEMORY = ":memory:"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(location: str) -> bool:
    """A store location naming a PostgreSQL database (a libpq URL) rather than a DuckDB file."""
    return location.lower().startswith(POSTGRES_SCHEMES)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class StoreSettings(_Section):
    path: str = Field(default="tokenworks.duckdb", min_length=1,
                      description="DuckDB file, or a postgresql:// URL")
    # Once chose where running calls' holds live; each engine now keeps them where it must
    # (DuckDB in memory, PostgreSQL in the database). Read only to warn (store/open.py).
    holds: Literal["memory", "durable"] | None = Field(
        default=None, description="no longer used: each engine keeps its holds")


class PluginSettings(_Section):
    builtin: list[str] = Field(
        default_factory=list,
        description="plugins shipped in plugins/ (short names) or importable module paths",
    )
    folder: str | None = Field(default="local_plugins", description="local plugins folder")
    entry_points: StrictBool = Field(default=True, description="load installed plugins")
    allow: list[str] = Field(default_factory=list, description="if set, load only these")
    block: list[str] = Field(default_factory=list, description="never load these")
    import_timeout: float = Field(
        default=30.0, gt=0, le=3600,
        description="seconds a plugin may take to import and register before it is "
                    "recorded as failed and the host starts without it")


class UserSettings(_Section):
    starting_grant: StrictInt = Field(default=0, ge=0)
    self_signup: StrictBool = Field(
        default=True, description="people may create their own user account in the portal")
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30,
                                 description="how long a portal sign-in lasts at most")
    session_idle_minutes: float = Field(
        default=120.0, gt=0, le=24 * 60 * 30,
        description="a portal session unused this long ends (page reruns count as use)")
    signups_per_hour: StrictInt = Field(
        default=5, ge=1, le=10_000,
        description="sign-up attempts one client address may make per hour")


class PortalSettings(_Section):
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="addresses or networks (CIDR) of reverse proxies whose "
                    "X-Forwarded-For names the client; none by default")
    secret_key_file: str | None = Field(
        default=None, min_length=1,
        description="the session signing key's file (default: beside a DuckDB store, "
                    "or tokenworks.session-key beside registry.toml for PostgreSQL)")

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise ValueError(f"{value!r} is not an IP address or network") from None
        return values


class InvocationSettings(_Section):
    # Before worker processes this sized a thread pool; it is read only to warn (host.py).
    workers: StrictInt | None = Field(default=None, ge=1, le=256,
                                      description="no longer used: see [workers] count")
    sweep_interval: float = Field(default=30.0, gt=0, description="seconds between sweeps")
    hold_grace: float = Field(default=60.0, ge=0, description="seconds past a call's timeout")


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


class WorkerSettings(_Section):
    """The worker processes every function call runs in (workers/)."""

    count: StrictInt = Field(default_factory=_cores, ge=1, le=256,
                             description="worker processes kept running (default: one per core)")
    spare: StrictInt | None = Field(
        default=None, ge=0, le=256,
        description="extra workers started while every worker is busy and stopped when idle "
                    "(default: as many as count)")
    per_function: StrictInt | None = Field(
        default=None, ge=1, le=256,
        description="calls of one function that may run at once, unless its spec or "
                    "[functions.NAME] says otherwise (default: half of count, at least 1)")
    queue: StrictInt = Field(default=64, ge=0, le=10_000,
                             description="calls of one function that may wait for a worker")
    queue_wait: float = Field(default=5.0, gt=0, le=600,
                              description="seconds a call may wait for a worker before it is "
                                          "refused as busy")
    memory_mb: StrictInt = Field(default=2048, ge=0,
                                 description="memory a worker may allocate beyond what it "
                                             "inherits, in MiB (0: no limit)")
    max_result_mb: float = Field(default=16.0, gt=0, le=1024,
                                 description="largest result a call may return, in MiB")
    start_timeout: float = Field(default=120.0, gt=0, le=3600,
                                 description="seconds the workers may take to load and warm "
                                             "the plugins before health reports it")

    def spare_count(self) -> int:
        return self.count if self.spare is None else self.spare

    def default_concurrency(self) -> int:
        return self.per_function or max(1, self.count // 2)


class FunctionOverride(_Section):
    cost: StrictInt | None = Field(default=None, ge=0)
    enabled: StrictBool | None = None
    concurrency: StrictInt | None = Field(default=None, ge=1, le=256,
                                          description="calls that may run at once")


class RegistryConfig(_Section):
    store: StoreSettings = Field(default_factory=StoreSettings)
    plugins: PluginSettings = Field(default_factory=PluginSettings)
    users: UserSettings = Field(default_factory=UserSettings)
    portal: PortalSettings = Field(default_factory=PortalSettings)
    invocation: InvocationSettings = Field(default_factory=InvocationSettings)
    workers: WorkerSettings = Field(default_factory=WorkerSettings)
    functions: dict[str, FunctionOverride] = Field(default_factory=dict)
    # [plugin_settings.NAME]: kept raw here because only the plugin knows its model; the
    # loader validates each section against the plugin's settings_model() at start.
    plugin_settings: dict[str, dict[str, Any]] = Field(default_factory=dict)

    # Where the file was read from: relative paths in it are relative to its folder.
    base_dir: Path = Field(default_factory=Path.cwd, exclude=True)
    # What it was read from (its path), so errors about its sections can name it.
    source: str = Field(default=REGISTRY_FILE, exclude=True)

    def store_path(self) -> str:
        """The DuckDB file, ":memory:" for a throwaway store, or a PostgreSQL URL as given."""
        if self.store.path == MEMORY or is_postgres_url(self.store.path):
            return self.store.path
        return str(_resolve(self.base_dir, self.store.path))

    def secret_key_path(self) -> Path | None:
        """Where the session signing key is kept when $TOKENWORKS_SECRET_KEY is not set:
        registry.toml's [portal] secret_key_file, else beside the DuckDB store file, else
        (PostgreSQL) beside registry.toml. None for a throwaway :memory: store."""
        if self.portal.secret_key_file:
            return _resolve(self.base_dir, self.portal.secret_key_file)
        location = self.store_path()
        if location == MEMORY:
            return None
        if is_postgres_url(location):
            return self.base_dir / "tokenworks.session-key"
        return Path(f"{location}.session-key")

    def plugins_folder(self) -> Path | None:
        folder = self.plugins.folder
        return _resolve(self.base_dir, folder) if folder else None


def _resolve(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def find_registry(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The registry file: the one named, else $TOKENWORKS_REGISTRY, else ./registry.toml."""
    named = explicit or os.environ.get(REGISTRY_ENV)
    path = Path(named) if named else Path.cwd() / REGISTRY_FILE
    if not path.is_file():
        how = "named" if named else "found in the current folder"
        raise ConfigError(
            f"no registry file {how}: {path}. Run `tokenworks init` to write one, "
            f"or pass --registry PATH (or set {REGISTRY_ENV})."
        )
    return path


def parse_registry(text: str, base_dir: Path, source: str = REGISTRY_FILE) -> RegistryConfig:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{source}: not valid TOML: {error}") from None
    for reserved in ("base_dir", "source"):  # set by the reader, never by the file
        if reserved in raw:
            raise ConfigError(f"{source}: unknown key {reserved!r}")
    try:
        config = RegistryConfig.model_validate(raw)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        key = ".".join(str(part) for part in first["loc"])
        message = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
        more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
        raise ConfigError(f"{source}: {key}: {message}{more}") from None
    return config.model_copy(update={"base_dir": base_dir, "source": source})


def load_registry(
    explicit: str | os.PathLike[str] | None = None, store_override: str | None = None
) -> RegistryConfig:
    """Read registry.toml; the store location may be overridden (--store or $TOKENWORKS_STORE)."""
    path = find_registry(explicit)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError as error:  # TOML is UTF-8; say so instead of a traceback
        raise ConfigError(f"{path}: not UTF-8 text (byte {error.start}: {error.reason})") from None
    config = parse_registry(text, base_dir=path.resolve().parent, source=str(path))
    override = store_override or os.environ.get(STORE_ENV)
    if override:
        path = (override if override == MEMORY or is_postgres_url(override)
                else str(Path(override).expanduser().resolve()))
        store = config.store.model_copy(update={"path": path})
        config = config.model_copy(update={"store": store})
    return config
