"""The store's schema as numbered migrations, one definition for both engines; a store
applies the ones it has not seen.

The same tables, columns and constraints on DuckDB and PostgreSQL (TEXT and DOUBLE PRECISION
PRECISION are names both know), so `tokenworks migrate` copies rows as they are and a
schema version means the same on both. Where the engines differ, a statement is a pair
``Engines(duckdb, postgres)``; either may be None (PostgreSQL's indexes: DuckDB's make
updates costlier, and its tables are read by key or scanned). Append new migrations at
the end; never edit one that has shipped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from .base import utcnow


class Engines(NamedTuple):
    duckdb: str | None
    postgres: str | None


def postgres_only(statement: str) -> Engines:
    return Engines(None, statement)


MIGRATIONS: list[tuple[int, str, list[str | Engines]]] = [
    (
        1,
        "users, accounts, ledger, calls, plugin and function state, change log, state version",
        [
            """CREATE TABLE users (
                name TEXT PRIMARY KEY,
                role TEXT NOT NULL CHECK (role IN ('user', 'admin')),
                password_hash TEXT NOT NULL,
                created_at TIMESTAMP NOT NULL
            )""",
            # The cached balance: only ever changed together with a ledger row.
            """CREATE TABLE accounts (
                user_name TEXT PRIMARY KEY,
                balance BIGINT NOT NULL CHECK (balance >= 0)
            )""",
            "CREATE SEQUENCE ledger_ids",
            """CREATE TABLE ledger (
                id BIGINT PRIMARY KEY DEFAULT nextval('ledger_ids'),
                occurred_at TIMESTAMP NOT NULL,
                user_name TEXT NOT NULL,
                kind TEXT NOT NULL
                    CHECK (kind IN ('grant', 'hold', 'capture', 'release', 'adjustment')),
                amount BIGINT NOT NULL,
                call_id TEXT,
                actor TEXT NOT NULL,
                reason TEXT NOT NULL,
                balance_after BIGINT NOT NULL
            )""",
            # The statements and verify_books read a user's or a call's ledger rows.
            postgres_only("CREATE INDEX ledger_user ON ledger (user_name, id)"),
            postgres_only("CREATE INDEX ledger_call ON ledger (call_id) "
                          "WHERE call_id IS NOT NULL"),
            """CREATE TABLE calls (
                call_id TEXT PRIMARY KEY,
                user_name TEXT NOT NULL,
                function TEXT NOT NULL,
                plugin TEXT NOT NULL,
                plugin_version TEXT NOT NULL,
                cost BIGINT NOT NULL,
                status TEXT NOT NULL,
                input_hash TEXT NOT NULL,
                input_json TEXT NOT NULL,
                result_json TEXT,
                error TEXT,
                started_at TIMESTAMP NOT NULL,
                deadline_at TIMESTAMP NOT NULL,
                finished_at TIMESTAMP,
                latency_ms DOUBLE PRECISION
            )""",
            postgres_only("CREATE INDEX calls_started ON calls (started_at)"),
            postgres_only("CREATE INDEX calls_user_started ON calls (user_name, started_at)"),
            # The sweep looks for running calls only: keep that index small.
            postgres_only("CREATE INDEX calls_running ON calls (deadline_at) "
                          "WHERE status = 'running'"),
            """CREATE TABLE function_state (
                name TEXT PRIMARY KEY,
                enabled BOOLEAN,
                cost BIGINT CHECK (cost >= 0)
            )""",
            "CREATE TABLE plugin_state (name TEXT PRIMARY KEY, enabled BOOLEAN NOT NULL)",
            "CREATE SEQUENCE change_ids",
            """CREATE TABLE state_changes (
                id BIGINT PRIMARY KEY DEFAULT nextval('change_ids'),
                occurred_at TIMESTAMP NOT NULL,
                actor TEXT NOT NULL,
                target_kind TEXT NOT NULL,
                target TEXT NOT NULL,
                field TEXT NOT NULL,
                before TEXT,
                after TEXT,
                reason TEXT NOT NULL
            )""",
            "CREATE TABLE state_version (id INTEGER PRIMARY KEY, version BIGINT NOT NULL)",
            "INSERT INTO state_version VALUES (1, 0)",
        ],
    ),
    (
        2,
        "settings: host-wide switches and secrets kept with the data (sign-up, session key)",
        [
            """CREATE TABLE settings (
                key TEXT PRIMARY KEY,
                value TEXT NOT NULL
            )""",
        ],
    ),
    (
        3,
        "api_keys: per-user REST API keys, kept as a SHA-256 hash of a random secret",
        [
            """CREATE TABLE api_keys (
                key_id TEXT PRIMARY KEY,
                user_name TEXT NOT NULL,
                name TEXT NOT NULL,
                secret_hash TEXT NOT NULL,
                created_at TIMESTAMP NOT NULL,
                revoked_at TIMESTAMP
            )""",
        ],
    ),
    (
        4,
        "result_cache: cacheable functions' results; calls.cached marks calls answered from it",
        [
            # cache_key: sha256 of function, plugin version and canonical input; function
            # and plugin_version are kept beside it so entries can be cleared and purged.
            """CREATE TABLE result_cache (
                cache_key TEXT PRIMARY KEY,
                function TEXT NOT NULL,
                plugin_version TEXT NOT NULL,
                result_json TEXT NOT NULL,
                created_at TIMESTAMP NOT NULL,
                expires_at TIMESTAMP NOT NULL
            )""",
            # DuckDB cannot add a column with a NOT NULL constraint; the writes always set it.
            Engines("ALTER TABLE calls ADD COLUMN cached BOOLEAN DEFAULT false",
                    "ALTER TABLE calls ADD COLUMN cached BOOLEAN NOT NULL DEFAULT false"),
        ],
    ),
    (
        5,
        "call_failures: why a call failed (exception, traceback, worker's end), for admins",
        [
            """CREATE TABLE call_failures (
                call_id TEXT PRIMARY KEY,
                recorded_at TIMESTAMP NOT NULL,
                detail TEXT NOT NULL
            )""",
        ],
    ),
    (
        6,
        "portal_sessions and sign_in_throttle; the session key leaves the settings table",
        [
            # token_hash: SHA-256 of the cookie's random token, never the token itself.
            """CREATE TABLE portal_sessions (
                token_hash TEXT PRIMARY KEY,
                user_name TEXT NOT NULL,
                created_at TIMESTAMP NOT NULL,
                last_seen_at TIMESTAMP NOT NULL,
                idle_expires_at TIMESTAMP NOT NULL,
                expires_at TIMESTAMP NOT NULL,
                ended_at TIMESTAMP,
                end_reason TEXT
            )""",
            # "Sign out everywhere" and password changes end a user's live sessions.
            postgres_only("CREATE INDEX portal_sessions_user ON portal_sessions (user_name) "
                          "WHERE ended_at IS NULL"),
            """CREATE TABLE sign_in_throttle (
                key TEXT PRIMARY KEY,
                window_ends_at TIMESTAMP NOT NULL,
                attempts INTEGER NOT NULL CHECK (attempts >= 0)
            )""",
            # The key now lives in a file of its own (tokenworks.secret_key): a reader of
            # the database must not find one here.
            "DELETE FROM settings WHERE key = 'portal.session_key'",
        ],
    ),
]

LATEST = MIGRATIONS[-1][0]


def apply_migrations(execute: Callable[[str, list[Any]], Any], engine: str) -> None:
    """Apply, in the caller's transaction, the migrations the database has not seen.
    ``execute(sql, params)`` runs one statement (``?`` markers) and returns its rows."""
    execute("CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, description TEXT, applied_at TIMESTAMP)", [])
    done = {row[0] for row in execute("SELECT version FROM schema_migrations", [])}
    for version, description, statements in MIGRATIONS:
        if version in done:
            continue
        for statement in statements:
            chosen = getattr(statement, engine) if isinstance(statement, Engines) else statement
            if chosen is not None:
                execute(chosen, [])
        execute("INSERT INTO schema_migrations VALUES (?, ?, ?)",
                [version, description, utcnow()])
