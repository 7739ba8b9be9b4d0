"""DuckDB's side of the result cache (base.ResultCacheStore): the result_cache table.

A mixin of DuckDBStore, kept apart like duckdb_api.py. Every write goes through the
store's one writer; a clear is an admin change, so it is logged and raises the state version.
With holds in memory a new entry is written behind the call that made it, like the call
itself (write_behind.py): the caller does not wait for a transaction that only saves later
calls work. Until the table has it, the entry is served from memory. It is not journaled:
an entry lost to a crash is a cache miss, nothing more.

One process owns a DuckDB file, so the store also keeps the set of keys the table may hold
(`_cache_keys`, a superset): a miss, the common case, is answered without a query, which
cost 1-2 ms of a call's time.
"""

from __future__ import annotations

from datetime import datetime

import duckdb

from .base import CachedResult, ResultCacheStore

CACHE_COLUMNS = "cache_key, function, plugin_version, result_json, created_at, expires_at"


class DuckDBResultCache(ResultCacheStore):
    _unwritten_cache: dict[str, CachedResult]  # kept, not yet in the table (DuckDBStore sets)
    _cache_keys: set[str]  # every key the table may hold, and perhaps a few it no longer does

    def _load_cache_keys(self, cursor: duckdb.DuckDBPyConnection) -> None:
        try:
            rows = cursor.execute("SELECT cache_key FROM result_cache").fetchall()
        except duckdb.CatalogException:  # a store migrated only up to before the cache
            rows = []
        table = {key for (key,) in rows}
        # An entry is in the table or, until its write commits, in _unwritten_cache. A put
        # racing this assignment can lose its key here: its entry then reads as a miss
        # once written, never as a wrong answer, until the next reload.
        self._cache_keys = table | set(self._unwritten_cache)

    def cache_get(self, key: str, now: datetime) -> CachedResult | None:
        entry = self._unwritten_cache.get(key)
        if entry is not None:
            return entry if entry.expires_at > now else None
        if key not in self._cache_keys:
            return None
        # No wait for the calls pending: they cannot change this read.
        rows = self._peek(f"SELECT {CACHE_COLUMNS} FROM result_cache "
                          "WHERE cache_key = ? AND expires_at > ?", [key, now])
        return CachedResult(*rows[0]) if rows else None

    def cache_put(self, entry: CachedResult) -> None:
        self._cache_keys.add(entry.key)  # before the write: the set stays a superset
        if self._behind is None:
            self._write_cache_entries([entry])
            return
        self._unwritten_cache[entry.key] = entry
        self._behind.submit(entry)

    def _write_cache_entries(self, entries: list[CachedResult]) -> None:
        def work(cursor: duckdb.DuckDBPyConnection) -> None:
            for entry in entries:
                cursor.execute(
                    f"INSERT INTO result_cache ({CACHE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (cache_key) DO UPDATE SET result_json = excluded.result_json, "
                    "created_at = excluded.created_at, expires_at = excluded.expires_at",
                    [entry.key, entry.function, entry.plugin_version, entry.result_json,
                     entry.created_at, entry.expires_at])

        try:
            self._write(work)
        finally:
            for entry in entries:
                # Unless a newer entry replaced it meanwhile (then that one's write drops it;
                # at worst a race here makes it a miss until then, never a wrong answer).
                if self._unwritten_cache.get(entry.key) is entry:
                    self._unwritten_cache.pop(entry.key, None)

    def cache_clear(self, function: str | None, actor: str, reason: str) -> int:
        self._await_pending()  # entries on their way to the table are cleared too

        def work(cursor: duckdb.DuckDBPyConnection) -> int:
            if function is None:
                [dropped] = cursor.execute("DELETE FROM result_cache").fetchone()
            else:
                [dropped] = cursor.execute("DELETE FROM result_cache WHERE function = ?",
                                           [function]).fetchone()
            self._log_change(cursor, actor, "cache", function or "*", "cleared",
                             f"{dropped} entries", "0 entries", reason)
            self._load_cache_keys(cursor)
            self._bump_version(cursor)
            return int(dropped)

        return self._write(work)

    def cache_purge(self, versions: dict[str, str], now: datetime) -> int:
        params: list[object] = [now]
        if versions:
            pairs = ", ".join(["(?, ?)"] * len(versions))
            current = (f" OR NOT EXISTS (SELECT 1 FROM (VALUES {pairs}) v(function, version) "
                       "WHERE v.function = result_cache.function "
                       "AND v.version = result_cache.plugin_version)")
            params += [value for item in sorted(versions.items()) for value in item]
        else:
            current = " OR true"  # no functions loaded: nothing in the cache can match

        self._await_pending()

        def work(cursor: duckdb.DuckDBPyConnection) -> int:
            [dropped] = cursor.execute(
                f"DELETE FROM result_cache WHERE expires_at <= ?{current}", params).fetchone()
            self._load_cache_keys(cursor)
            return int(dropped)

        return self._write(work)
