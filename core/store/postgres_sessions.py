"""PostgreSQL's side of portal sessions and sign-in throttling (base.SessionStore).

A mixin of PostgresStore, as duckdb_sessions.py is for DuckDB. Both tables live in the
shared database, so a session made on one replica works on every other, an ended one ends
on all of them, and replicas count sign-in attempts together. A throttle's counters are
locked (SELECT ... FOR UPDATE, keys in sorted order so two attempts cannot deadlock) for
the check and the count, so concurrent attempts on any replicas never pass a limit.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from .base import PortalSession, SessionStore, ThrottleRule

if TYPE_CHECKING:
    import psycopg

SESSION_COLUMNS = ("token_hash, user_name, created_at, last_seen_at, idle_expires_at, "
                   "expires_at, ended_at, end_reason")


class _Refused(Exception):
    """Rolls back a throttle transaction that counted nothing."""

    def __init__(self, wait: float) -> None:
        self.wait = wait


class PostgresSessionStore(SessionStore):
    def create_portal_session(self, session: PortalSession) -> None:
        with self._transaction() as conn:
            conn.execute(f"INSERT INTO portal_sessions ({SESSION_COLUMNS}) VALUES "
                         "(%s, %s, %s, %s, %s, %s, %s, %s)",
                         (session.token_hash, session.user, session.created_at,
                          session.last_seen_at, session.idle_expires_at, session.expires_at,
                          session.ended_at, session.end_reason))

    def get_portal_session(self, token_hash: str) -> PortalSession | None:
        rows = self._read(
            f"SELECT {SESSION_COLUMNS} FROM portal_sessions WHERE token_hash = %s",
            (token_hash,))
        return PortalSession(*rows[0]) if rows else None

    def touch_portal_session(self, token_hash: str, seen_at: datetime,
                             idle_expires_at: datetime) -> None:
        with self._connection() as conn:
            conn.execute("UPDATE portal_sessions SET last_seen_at = %s, idle_expires_at = %s "
                         "WHERE token_hash = %s AND ended_at IS NULL",
                         (seen_at, idle_expires_at, token_hash))

    def end_portal_session(self, token_hash: str, reason: str, at: datetime) -> bool:
        with self._connection() as conn:
            return conn.execute(
                "UPDATE portal_sessions SET ended_at = %s, end_reason = %s "
                "WHERE token_hash = %s AND ended_at IS NULL RETURNING token_hash",
                (at, reason, token_hash)).fetchone() is not None

    def end_user_sessions(self, user: str, reason: str, at: datetime,
                          actor: str | None = None) -> int:
        with self._transaction() as conn:
            ended = self._end_user_sessions(conn, user, reason, at)
            if actor is not None:
                self._log_change(conn, actor, "user", user, "sessions", f"{ended} live",
                                 "ended", reason)
        return ended

    def _end_user_sessions(self, conn: psycopg.Connection, user: str, reason: str,
                           at: datetime) -> int:
        return len(conn.execute(
            "UPDATE portal_sessions SET ended_at = %s, end_reason = %s "
            "WHERE user_name = %s AND ended_at IS NULL RETURNING token_hash",
            (at, reason, user)).fetchall())

    def live_session_count(self, user: str, now: datetime) -> int:
        return self._read(
            "SELECT count(*) FROM portal_sessions WHERE user_name = %s AND ended_at IS NULL "
            "AND idle_expires_at > %s AND expires_at > %s", (user, now, now))[0][0]

    def throttle_take(self, rules: list[ThrottleRule], now: datetime) -> float:
        ordered = sorted(rules, key=lambda rule: rule.key)
        try:
            with self._transaction() as conn:
                found = {}
                for rule in ordered:
                    # Make the row exist, so there is a row to lock even for a first attempt.
                    conn.execute("INSERT INTO sign_in_throttle VALUES (%s, %s, 0) "
                                 "ON CONFLICT (key) DO NOTHING", (rule.key, now))
                    found[rule.key] = conn.execute(
                        "SELECT window_ends_at, attempts FROM sign_in_throttle WHERE key = %s "
                        "FOR UPDATE", (rule.key,)).fetchone()
                for rule in ordered:
                    ends, attempts = found[rule.key]
                    if ends > now and attempts >= rule.limit:
                        raise _Refused(max((ends - now).total_seconds(), 0.001))
                for rule in ordered:
                    ends, attempts = found[rule.key]
                    if ends <= now:  # a new window starts with this attempt
                        ends, attempts = now + timedelta(seconds=rule.window_seconds), 0
                    conn.execute("UPDATE sign_in_throttle SET window_ends_at = %s, "
                                 "attempts = %s WHERE key = %s", (ends, attempts + 1, rule.key))
        except _Refused as refused:
            return refused.wait
        return 0.0

    def throttle_refund(self, key: str) -> None:
        with self._connection() as conn:
            conn.execute("UPDATE sign_in_throttle SET attempts = attempts - 1 "
                         "WHERE key = %s AND attempts > 0", (key,))

    def purge_sign_in_state(self, now: datetime, keep_ended: float = 86400.0) -> int:
        ended_before = now - timedelta(seconds=keep_ended)
        with self._transaction() as conn:
            sessions = conn.execute(
                "DELETE FROM portal_sessions WHERE expires_at <= %s OR idle_expires_at <= %s "
                "OR ended_at <= %s", (ended_before, ended_before, ended_before)).rowcount
            windows = conn.execute("DELETE FROM sign_in_throttle WHERE window_ends_at <= %s",
                                   (now,)).rowcount
        return sessions + windows
