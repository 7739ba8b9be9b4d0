"""Reading the call log: the same SQL on every engine, but for its parameter marker.

A mixin of the stores, which supply ``_read(sql, params)`` (one statement, its rows) and
their driver's parameter marker.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from .base import CallRecord

# CallRecord's fields, in order.
CALL_COLUMNS = (
    "call_id, user_name, function, plugin, plugin_version, cost, status, input_hash, "
    "input_json, result_json, error, started_at, deadline_at, finished_at, latency_ms, cached"
)


class CallLogReads:
    #: The driver's parameter marker: "?" for DuckDB, "%s" for psycopg.
    marker: str

    def _stored_call(
        self, call_id: str,
        read: Callable[[str, list[Any]], list[tuple[Any, ...]]] | None = None,
    ) -> CallRecord | None:
        sql = f"SELECT {CALL_COLUMNS} FROM calls WHERE call_id = {self.marker}"
        rows = (read or self._read)(sql, [call_id])
        return CallRecord(*rows[0]) if rows else None

    def list_calls(self, user: str | None = None, limit: int = 100) -> list[CallRecord]:
        mark = self.marker
        where, params = (f"WHERE user_name = {mark}", [user]) if user else ("", [])
        rows = self._read(
            f"SELECT {CALL_COLUMNS} FROM calls {where} ORDER BY started_at DESC LIMIT {mark}",
            [*params, limit])
        return [CallRecord(*row) for row in rows]

    def calls_since(self, since: datetime, user: str | None = None) -> list[CallRecord]:
        mark = self.marker
        where, params = (f"AND user_name = {mark}", [user]) if user else ("", [])
        rows = self._read(
            f"SELECT {CALL_COLUMNS} FROM calls WHERE started_at >= {mark} {where} "
            "ORDER BY started_at", [since, *params])
        return [CallRecord(*row) for row in rows]
