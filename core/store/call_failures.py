"""Why calls failed, for admins: an exception's text and traceback, or how a worker ended.

Kept beside the call log, not in it, so the ledger's write path stays as it is: a failure's
detail is diagnostics written once the call is settled (a crash in between loses the
detail, never a token). The user who made the call sees only the short message in the call
row, which names the call id for an admin to look up here.

A mixin of the stores: the same SQL on every engine but for the parameter marker; each
store supplies ``_read`` and ``_write_statement``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .base import utcnow

FAILED_STATUSES = ("failed", "timeout", "invalid_result", "abandoned")


@dataclass(frozen=True)
class FailureDetail:
    """Why one call failed, on its way to the table (DuckDB writes it behind the caller)."""

    call_id: str
    detail: str


@dataclass(frozen=True)
class FailedCall:
    call_id: str
    started_at: datetime
    function: str
    user: str
    status: str
    error: str | None  # what the user was told
    detail: str | None  # what an admin needs: the exception, its traceback, the worker's end


class CallFailureLog:
    marker: str

    def _read(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _write_statement(self, sql: str, params: list[Any]) -> None:
        raise NotImplementedError

    def record_failure(self, call_id: str, detail: str) -> None:
        """Keep a failed call's detail (once; a replay of the call keeps the first)."""
        self._write_statement(self._insert_failure_sql(), [call_id, utcnow(), detail])

    def _insert_failure_sql(self) -> str:
        mark = self.marker
        return (f"INSERT INTO call_failures VALUES ({mark}, {mark}, {mark}) "
                "ON CONFLICT (call_id) DO NOTHING")

    def failed_calls(self, limit: int = 100, function: str | None = None,
                     user: str | None = None) -> list[FailedCall]:
        """The latest calls that did not succeed, newest first, with their detail."""
        mark = self.marker
        statuses = ", ".join(f"'{status}'" for status in FAILED_STATUSES)
        where, params = "", []
        for column, value in (("function", function), ("user_name", user)):
            if value is not None:
                where += f" AND c.{column} = {mark}"
                params.append(value)
        rows = self._read(
            "SELECT c.call_id, c.started_at, c.function, c.user_name, c.status, c.error, "
            "f.detail FROM calls c LEFT JOIN call_failures f ON f.call_id = c.call_id "
            f"WHERE c.status IN ({statuses}){where} "
            f"ORDER BY c.started_at DESC LIMIT {mark}", [*params, limit])
        return [FailedCall(*row) for row in rows]
