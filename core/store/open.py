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
    location = config.store_path()
    if is_postgres_url(location):
        # A connection for each call that may be settling at once, plus the portals' and
        # routes' reads.
        workers = config.workers
        return open_postgres(location, pool_size=workers.count + workers.spare_count() + 4,
                             holds=config.store.holds)
    from .duckdb_store import DuckDBStore

    return DuckDBStore(location, config.store.holds)


def open_postgres(url: str, pool_size: int = 10, holds: str = "durable") -> Store:
    """The PostgreSQL store. Its holds are always durable: holds in memory are sound only
    for a database one process owns (reservations.py), and replicas share PostgreSQL, so a
    hold kept in one replica's memory would let another spend the same tokens. A registry
    saying holds = "memory" (the DuckDB default `tokenworks init` writes) is overridden
    rather than refused, so `--store postgresql://...` works with any registry."""
    try:
        from .postgres_store import PostgresStore
    except ImportError:
        raise ConfigError(
            "the store is a PostgreSQL URL but psycopg is not installed: "
            "pip install 'tokenworks[postgres]'") from None
    if holds != "durable":
        log.info("PostgreSQL keeps holds durable (replicas share it); "
                 "ignoring [store] holds = %r", holds)
    return PostgresStore(url, pool_size=pool_size)
