"""PostgreSQL's side of the result cache (base.ResultCacheStore): the result_cache table.

A mixin of PostgresStore, as duckdb_cache.py is for DuckDB. The table lives in the shared
database, so every replica answers from the same cache and a clear on one replica drops the
entries for all of them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .base import CachedResult, ResultCacheStore

CACHE_COLUMNS = "cache_key, function, plugin_version, result_json, created_at, expires_at"


class PostgresResultCache(ResultCacheStore):
    def cache_get(self, key: str, now: datetime) -> CachedResult | None:
        rows = self._read(f"SELECT {CACHE_COLUMNS} FROM result_cache "
                          "WHERE cache_key = %s AND expires_at > %s", (key, now))
        return CachedResult(*rows[0]) if rows else None

    def cache_put(self, entry: CachedResult) -> None:
        with self._transaction() as conn:
            conn.execute(
                f"INSERT INTO result_cache ({CACHE_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (cache_key) DO UPDATE SET result_json = excluded.result_json, "
                "created_at = excluded.created_at, expires_at = excluded.expires_at",
                (entry.key, entry.function, entry.plugin_version, entry.result_json,
                 entry.created_at, entry.expires_at))

    def cache_clear(self, function: str | None, actor: str, reason: str) -> int:
        with self._transaction() as conn:
            if function is None:
                dropped = conn.execute("DELETE FROM result_cache").rowcount
            else:
                dropped = conn.execute("DELETE FROM result_cache WHERE function = %s",
                                       (function,)).rowcount
            self._log_change(conn, actor, "cache", function or "*", "cleared",
                             f"{dropped} entries", "0 entries", reason)
            version = self._bump_version(conn)
        self._saw_version(version)
        return int(dropped)

    def cache_purge(self, versions: dict[str, str], now: datetime) -> int:
        # Replicas running other plugin versions (a rolling upgrade) purge each other's
        # entries; that costs cache misses, never a wrong answer.
        current = sorted(versions.items())
        params: tuple[Any, ...] = (now, [function for function, _ in current],
                                   [version for _, version in current])
        with self._transaction() as conn:
            return int(conn.execute(
                "DELETE FROM result_cache WHERE expires_at <= %s OR NOT EXISTS ("
                "SELECT 1 FROM unnest(%s::text[], %s::text[]) AS v(function, version) "
                "WHERE v.function = result_cache.function "
                "AND v.version = result_cache.plugin_version)", params).rowcount)
