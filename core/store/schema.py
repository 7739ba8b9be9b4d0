"""The store's schema as numbered migrations; a store applies the ones it has not seen.

Append new migrations at the end; never edit one that has shipped.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (
        1,
        "users, accounts, ledger, calls, plugin and function state, change log, state version",
        [
            """CREATE TABLE users (
                name VARCHAR PRIMARY KEY,
                role VARCHAR NOT NULL CHECK (role IN ('user', 'admin')),
                password_hash VARCHAR NOT NULL,
                created_at TIMESTAMP NOT NULL
            )""",
            # The cached balance: only ever changed together with a ledger row.
            """CREATE TABLE accounts (
                user_name VARCHAR PRIMARY KEY,
                balance BIGINT NOT NULL CHECK (balance >= 0)
            )""",
            "CREATE SEQUENCE ledger_ids",
            """CREATE TABLE ledger (
                id BIGINT PRIMARY KEY DEFAULT nextval('ledger_ids'),
                occurred_at TIMESTAMP NOT NULL,
                user_name VARCHAR NOT NULL,
                kind VARCHAR NOT NULL
                    CHECK (kind IN ('grant', 'hold', 'capture', 'release', 'adjustment')),
                amount BIGINT NOT NULL,
                call_id VARCHAR,
                actor VARCHAR NOT NULL,
                reason VARCHAR NOT NULL,
                balance_after BIGINT NOT NULL
            )""",
            """CREATE TABLE calls (
                call_id VARCHAR PRIMARY KEY,
                user_name VARCHAR NOT NULL,
                function VARCHAR NOT NULL,
                plugin VARCHAR NOT NULL,
                plugin_version VARCHAR NOT NULL,
                cost BIGINT NOT NULL,
                status VARCHAR NOT NULL,
                input_hash VARCHAR NOT NULL,
                input_json VARCHAR NOT NULL,
                result_json VARCHAR,
                error VARCHAR,
                started_at TIMESTAMP NOT NULL,
                deadline_at TIMESTAMP NOT NULL,
                finished_at TIMESTAMP,
                latency_ms DOUBLE
            )""",
            """CREATE TABLE function_state (
                name VARCHAR PRIMARY KEY,
                enabled BOOLEAN,
                cost BIGINT CHECK (cost >= 0)
            )""",
            "CREATE TABLE plugin_state (name VARCHAR PRIMARY KEY, enabled BOOLEAN NOT NULL)",
            "CREATE SEQUENCE change_ids",
            """CREATE TABLE state_changes (
                id BIGINT PRIMARY KEY DEFAULT nextval('change_ids'),
                occurred_at TIMESTAMP NOT NULL,
                actor VARCHAR NOT NULL,
                target_kind VARCHAR NOT NULL,
                target VARCHAR NOT NULL,
                field VARCHAR NOT NULL,
                before VARCHAR,
                after VARCHAR,
                reason VARCHAR NOT NULL
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
                key VARCHAR PRIMARY KEY,
                value VARCHAR NOT NULL
            )""",
        ],
    ),
    (
        3,
        "api_keys: per-user REST API keys, kept as a SHA-256 hash of a random secret",
        [
            """CREATE TABLE api_keys (
                key_id VARCHAR PRIMARY KEY,
                user_name VARCHAR NOT NULL,
                name VARCHAR NOT NULL,
                secret_hash VARCHAR NOT NULL,
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
                cache_key VARCHAR PRIMARY KEY,
                function VARCHAR NOT NULL,
                plugin_version VARCHAR NOT NULL,
                result_json VARCHAR NOT NULL,
                created_at TIMESTAMP NOT NULL,
                expires_at TIMESTAMP NOT NULL
            )""",
            # DuckDB cannot add a column with a NOT NULL constraint; the writes always set it.
            "ALTER TABLE calls ADD COLUMN cached BOOLEAN DEFAULT false",
        ],
    ),
    (
        5,
        "call_failures: why a call failed (exception, traceback, worker's end), for admins",
        [
            """CREATE TABLE call_failures (
                call_id VARCHAR PRIMARY KEY,
                recorded_at TIMESTAMP NOT NULL,
                detail VARCHAR NOT NULL
            )""",
        ],
    ),
    (
        6,
        "portal_sessions and sign_in_throttle; the session key leaves the settings table",
        [
            # token_hash: SHA-256 of the cookie's random token, never the token itself. No
            # index on user_name: DuckDB's indexes make updates costlier, and the table is
            # read by its key; "sign out everywhere" may scan it.
            """CREATE TABLE portal_sessions (
                token_hash VARCHAR PRIMARY KEY,
                user_name VARCHAR NOT NULL,
                created_at TIMESTAMP NOT NULL,
                last_seen_at TIMESTAMP NOT NULL,
                idle_expires_at TIMESTAMP NOT NULL,
                expires_at TIMESTAMP NOT NULL,
                ended_at TIMESTAMP,
                end_reason VARCHAR
            )""",
            """CREATE TABLE sign_in_throttle (
                key VARCHAR PRIMARY KEY,
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
