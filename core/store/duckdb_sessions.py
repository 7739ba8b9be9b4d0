"""DuckDB's side of portal sessions and sign-in throttling (base.SessionStore).

A mixin of DuckDBStore, kept apart like duckdb_api.py. Writes go through the store's one
writer, one transaction at a time, which is what makes a throttle's count-then-check
atomic; reads use the committed tables directly (``_peek``): nothing about sessions waits
in the write-behind queue, so there is nothing to wait for.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from .base import PortalSession, SessionStore, ThrottleRule

if TYPE_CHECKING:
    import duckdb

SESSION_COLUMNS = ("token_hash, user_name, created_at, last_seen_at, idle_expires_at, "
                   "expires_at, ended_at, end_reason")


class DuckDBSessionStore(SessionStore):
    def create_portal_session(self, session: PortalSession) -> None:
        def work(cursor: duckdb.DuckDBPyConnection) -> None:
            cursor.execute(f"INSERT INTO portal_sessions ({SESSION_COLUMNS}) VALUES "
                           "(?, ?, ?, ?, ?, ?, ?, ?)",
                           [session.token_hash, session.user, session.created_at,
                            session.last_seen_at, session.idle_expires_at, session.expires_at,
                            session.ended_at, session.end_reason])

        self._write(work)

    def get_portal_session(self, token_hash: str) -> PortalSession | None:
        rows = self._peek(f"SELECT {SESSION_COLUMNS} FROM portal_sessions WHERE token_hash = ?",
                          [token_hash])
        return PortalSession(*rows[0]) if rows else None

    def touch_portal_session(self, token_hash: str, seen_at: datetime,
                             idle_expires_at: datetime) -> None:
        self._write(lambda cursor: cursor.execute(
            "UPDATE portal_sessions SET last_seen_at = ?, idle_expires_at = ? "
            "WHERE token_hash = ? AND ended_at IS NULL", [seen_at, idle_expires_at, token_hash]))

    def end_portal_session(self, token_hash: str, reason: str, at: datetime) -> bool:
        def work(cursor: duckdb.DuckDBPyConnection) -> bool:
            return bool(cursor.execute(
                "UPDATE portal_sessions SET ended_at = ?, end_reason = ? "
                "WHERE token_hash = ? AND ended_at IS NULL RETURNING token_hash",
                [at, reason, token_hash]).fetchall())

        return self._write(work)

    def end_user_sessions(self, user: str, reason: str, at: datetime,
                          actor: str | None = None) -> int:
        def work(cursor: duckdb.DuckDBPyConnection) -> int:
            ended = self._end_user_sessions(cursor, user, reason, at)
            if actor is not None:
                self._log_change(cursor, actor, "user", user, "sessions", f"{ended} live",
                                 "ended", reason)
            return ended

        return self._write(work)

    def _end_user_sessions(self, cursor: duckdb.DuckDBPyConnection, user: str, reason: str,
                           at: datetime) -> int:
        return len(cursor.execute(
            "UPDATE portal_sessions SET ended_at = ?, end_reason = ? "
            "WHERE user_name = ? AND ended_at IS NULL RETURNING token_hash",
            [at, reason, user]).fetchall())

    def live_session_count(self, user: str, now: datetime) -> int:
        return self._peek(
            "SELECT count(*) FROM portal_sessions WHERE user_name = ? AND ended_at IS NULL "
            "AND idle_expires_at > ? AND expires_at > ?", [user, now, now])[0][0]

    def throttle_take(self, rules: list[ThrottleRule], now: datetime) -> float:
        def work(cursor: duckdb.DuckDBPyConnection) -> float:
            found = {}
            for rule in rules:
                row = cursor.execute(
                    "SELECT window_ends_at, attempts FROM sign_in_throttle WHERE key = ?",
                    [rule.key]).fetchone()
                found[rule.key] = row
                if row is not None and row[0] > now and row[1] >= rule.limit:
                    return max((row[0] - now).total_seconds(), 0.001)
            for rule in rules:
                row = found[rule.key]
                if row is None or row[0] <= now:  # a new window starts with this attempt
                    ends, attempts = now + timedelta(seconds=rule.window_seconds), 1
                else:
                    ends, attempts = row[0], row[1] + 1
                cursor.execute(
                    "INSERT INTO sign_in_throttle VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE "
                    "SET window_ends_at = excluded.window_ends_at, attempts = excluded.attempts",
                    [rule.key, ends, attempts])
            return 0.0

        return self._write(work)

    def throttle_refund(self, key: str) -> None:
        self._write(lambda cursor: cursor.execute(
            "UPDATE sign_in_throttle SET attempts = attempts - 1 WHERE key = ? AND attempts > 0",
            [key]))

    def purge_sign_in_state(self, now: datetime, keep_ended: float = 86400.0) -> int:
        ended_before = now - timedelta(seconds=keep_ended)

        def work(cursor: duckdb.DuckDBPyConnection) -> int:
            sessions = cursor.execute(
                "DELETE FROM portal_sessions WHERE expires_at <= ? OR idle_expires_at <= ? "
                "OR ended_at <= ? RETURNING token_hash", [ended_before, ended_before,
                                                         ended_before]).fetchall()
            windows = cursor.execute(
                "DELETE FROM sign_in_throttle WHERE window_ends_at <= ? RETURNING key",
                [now]).fetchall()
            return len(sessions) + len(windows)

        return self._write(work)
