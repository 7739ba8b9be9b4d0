"""The result cache as the meter sees it: keys, look-ups and stores that never fail a call.

A function opts in with ``cache_ttl`` in its spec; an entry's key covers the function, its
plugin's version and the canonical input. Any error reading or writing the cache is logged
and treated as a miss.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from .blocks import Block, blocks_from_json
from .spec import FunctionSpec
from .store import Store, utcnow
from .store.base import CachedResult

log = logging.getLogger("tokenworks.cache")


def cache_key(function: str, plugin_version: str, input_json: str) -> str:
    """The entry's key; ``input_json`` is the canonical input the meter hashes too."""
    return hashlib.sha256(f"{function}\n{plugin_version}\n{input_json}".encode()).hexdigest()


def ttl_text(seconds: float | None) -> str:
    """A time to live for people: "-" (not cached), "90 s", "15 min", "24 h", "2 d"."""
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{seconds:g} s"


@dataclass(frozen=True)
class Hit:
    entry: CachedResult
    blocks: list[Block]


class ResultCache:
    def __init__(self, store: Store, clock: Callable[[], datetime] = utcnow) -> None:
        self._store = store
        self.clock = clock  # naive UTC, like the store's timestamps; tests move it

    def lookup(self, spec: FunctionSpec, input_json: str) -> Hit | None:
        """A live entry for this input, or None (not cacheable, a miss, or any error)."""
        if spec.cache_ttl is None:
            return None
        key = cache_key(spec.name, spec.plugin_version, input_json)
        try:
            entry = self._store.cache_get(key, self.clock())
            if entry is None:
                return None
            return Hit(entry, blocks_from_json(entry.result_json))
        except Exception:  # a store error or an unreadable entry: run the function instead
            log.warning("result cache: look-up for %s failed; running it", spec.name,
                        exc_info=True)
            return None

    def keep(self, spec: FunctionSpec, input_json: str, result_json: str) -> None:
        """Keep a successful result for ``spec.cache_ttl`` seconds (errors are logged)."""
        if spec.cache_ttl is None:
            return
        now = self.clock()
        entry = CachedResult(cache_key(spec.name, spec.plugin_version, input_json), spec.name,
                             spec.plugin_version, result_json, now,
                             now + timedelta(seconds=spec.cache_ttl))
        try:
            self._store.cache_put(entry)
        except Exception:  # the call has succeeded and been settled; only the cache misses it
            log.warning("result cache: could not keep a result of %s", spec.name,
                        exc_info=True)

    def clear(self, function: str | None, actor: str, reason: str) -> int:
        """An admin's clear (all, or one function's entries); logged by the store."""
        return self._store.cache_clear(function, actor, reason)

    def purge(self, versions: dict[str, str]) -> int:
        """Drop expired entries and those of other plugin versions (errors are logged)."""
        try:
            return self._store.cache_purge(versions, self.clock())
        except Exception:  # housekeeping: a failure leaves entries that can never match
            log.warning("result cache: purge failed", exc_info=True)
            return 0
