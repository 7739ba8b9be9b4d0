"""Open the store a registry names: a DuckDB file, or a PostgreSQL database by its URL.

The one place that picks the engine, so every entry point (CLI, portals, REST API, the
migrate command) opens the same kind of store for the same setting.
"""

from __future__ import annotations

import logging

from ..config import RegistryConfig, is_postgres_url
from ..errors import ConfigError
from .base import Store

log = logging.getLogger("tokenworks.store")


def open_store(config: RegistryConfig) -> Store:
    if config.store.holds is not None:
        # Each engine keeps holds where it must (docs/architecture.md); the key stays accepted
        # so that registries written before it went on loading.
        log.warning("registry.toml: [store] holds is no longer used and is ignored; DuckDB "
                    "keeps running calls' holds in memory, PostgreSQL in the database")
    location = config.store_path()
    if is_postgres_url(location):
        # A connection for each call that may be settling at once, plus the portals' and
        # routes' reads.
        workers = config.workers
        return open_postgres(location, pool_size=workers.count + workers.spare_count() + 4)
    from .duckdb_store import DuckDBStore

    return DuckDBStore(location)


def open_postgres(url: str, pool_size: int = 10) -> Store:
    """The PostgreSQL store (psycopg is an optional dependency)."""
    try:
        from .postgres_store import PostgresStore
    except ImportError:
        raise ConfigError(
            "the store is a PostgreSQL URL but psycopg is not installed: "
            "pip install 'tokenworks[postgres]'") from None
    return PostgresStore(url, pool_size=pool_size)
