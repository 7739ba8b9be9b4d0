"""PostgreSQL's side of the REST API's store needs (base.ApiStore): API keys and call metrics.

A mixin of PostgresStore, apart from the ledger code as duckdb_api.py is for DuckDB.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import ApiKey, ApiStore, CallMetrics, utcnow

if TYPE_CHECKING:
    import psycopg

KEY_COLUMNS = "key_id, user_name, name, secret_hash, created_at, revoked_at"


class PostgresApiStore(ApiStore):
    def create_api_key(self, key: ApiKey, actor: str) -> None:
        with self._transaction() as conn:
            conn.execute(
                f"INSERT INTO api_keys ({KEY_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s)",
                (key.key_id, key.user, key.name, key.secret_hash, key.created_at,
                 key.revoked_at))
            self._log_change(conn, actor, "api_key", key.key_id, "created", None,
                             f"{key.user}: {key.name}", "new API key")

    def get_api_key(self, key_id: str) -> ApiKey | None:
        rows = self._read(f"SELECT {KEY_COLUMNS} FROM api_keys WHERE key_id = %s", (key_id,))
        return ApiKey(*rows[0]) if rows else None

    def list_api_keys(self, user: str | None = None) -> list[ApiKey]:
        where, params = ("WHERE user_name = %s", (user,)) if user else ("", ())
        rows = self._read(
            f"SELECT {KEY_COLUMNS} FROM api_keys {where} ORDER BY created_at DESC, key_id",
            params)
        return [ApiKey(*row) for row in rows]

    def revoke_api_key(self, key_id: str, actor: str, reason: str) -> bool:
        conn: psycopg.Connection
        with self._transaction() as conn:
            # Conditional, so two replicas revoking the same key log it once.
            row = conn.execute(
                "UPDATE api_keys SET revoked_at = %s WHERE key_id = %s AND revoked_at IS NULL "
                "RETURNING key_id", (utcnow(), key_id)).fetchone()
            if row is None:
                return False
            self._log_change(conn, actor, "api_key", key_id, "revoked", "active", "revoked",
                             reason)
            version = self._bump_version(conn)  # the API caches keys per state version
        self._saw_version(version)
        return True

    def call_metrics(self, buckets_ms: tuple[float, ...]) -> list[CallMetrics]:
        # One aggregate query: never reads the stored results (images can be large).
        counts = "".join(f", count(*) FILTER (WHERE latency_ms <= {float(bound)!r})"
                         for bound in buckets_ms)
        rows = self._read(
            "SELECT function, status, count(*), "
            "coalesce(sum(CASE WHEN status = 'succeeded' THEN cost ELSE 0 END), 0)::bigint, "
            f"coalesce(sum(latency_ms), 0), count(latency_ms){counts} "
            "FROM calls GROUP BY function, status ORDER BY function, status")
        return [CallMetrics(function, status, int(calls), int(tokens), float(total),
                            int(measured), tuple(int(n) for n in rest))
                for function, status, calls, tokens, total, measured, *rest in rows]
