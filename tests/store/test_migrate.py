"""`tokenworks migrate --to URL`: a small real DuckDB store copied into PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner, Result
from conftest import plugin_folder, write_registry

from tokenworks.cli import cli
from tokenworks.config import load_registry
from tokenworks.host import Host
from tokenworks.passwords import verify_password

pytest.importorskip("psycopg")

from tokenworks.store.postgres_store import PostgresStore


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("TOKENWORKS_REGISTRY", "TOKENWORKS_STORE", "TOKENWORKS_STRICT"):
        monkeypatch.delenv(name, raising=False)
    plugin_folder(tmp_path, "meter_probe.py")
    return write_registry(tmp_path, '[store]\npath = "store.duckdb"\n[plugins]\n'
                          'entry_points = false\n[users]\nstarting_grant = 10\n')


@pytest.fixture
def duckdb_store(registry: Path) -> Path:
    """A store with a bit of everything: users, grants, calls that succeeded and failed,
    switches, a cost, a setting, API keys (one revoked)."""
    with Host(load_registry(registry), sweep=False) as host:
        host.add_user("root", role="admin", password="root-password-1", actor="test")
        host.add_user("ann", password="ann-password-1", actor="test")
        host.add_user("bo", actor="test")
        host.grant("ann", 15, actor="admin:root", reason="bonus")
        host.grant("bo", -4, actor="admin:root", reason="take back")
        for i in range(3):
            host.call("probe_ok", "ann", {"text": f"hi {i}"}, call_id=f"ok-{i}")
        host.call("probe_fail", "ann", {"text": "x"}, call_id="failed-1")
        host.call("probe_ok", "bo", {"text": "bo"})
        host.set_function_enabled("probe_fail", False, actor="admin:root", reason="broken")
        host.set_cost("probe_ok", 4, actor="admin:root", reason="dearer")
        host.set_plugin_enabled("meter_probe", False, actor="admin:root", reason="pause")
        host.set_self_signup(False, actor="admin:root", reason="closed")
        host.create_api_key("ann", "laptop", actor="ann")
        revoked, _ = host.create_api_key("bo", "old", actor="bo")
        host._store.revoke_api_key(revoked.key_id, "admin:root", "lost")
    return registry.parent / "store.duckdb"


def migrate(registry: Path, url: str, expect: int) -> Result:
    result = CliRunner().invoke(cli, ["--registry", str(registry), "migrate", "--to", url])
    assert result.exit_code == expect, result.output
    return result


def snapshot(store) -> dict:
    return {
        "users": store.list_users(),
        "hashes": {u.name: store.password_hash(u.name) for u in store.list_users()},
        "ledger": store.ledger(None, limit=10_000),
        "calls": store.list_calls(None, limit=10_000),
        "changes": store.state_changes(limit=10_000),
        "functions": store.function_overrides(),
        "plugins": store.plugin_overrides(),
        "signup": store.get_setting("users.self_signup"),
        "keys": store.list_api_keys(),
        "version": store.state_version(),
    }


def test_migrate_copies_everything_and_verifies_both_books(registry, duckdb_store, pg_engine):
    with Host(load_registry(registry), sweep=False) as host:
        before = snapshot(host._store)

    result = migrate(registry, pg_engine.location, expect=0)

    assert "copied" in result.output and "3 users" in result.output
    assert "both books balance; balances and ledgers match for 3 users" in result.output
    target = PostgresStore(pg_engine.location, pool_size=2)
    try:
        after = snapshot(target)
        assert after == before
        assert verify_password("ann-password-1", target.password_hash("ann"))
        assert target.verify_books().ok
        # New rows continue after the copied ids.
        newest = max(e.id for e in before["ledger"])
        target.adjust_balance("ann", 1, "grant", "admin", "after the move")
        assert target.ledger("ann", limit=1)[0].id == newest + 1
    finally:
        target.close()

    # A second run finds the target in use and copies nothing.
    again = migrate(registry, pg_engine.location, expect=1)
    assert "is not empty" in again.output and "nothing was copied" in again.output


def test_migrate_fails_when_the_source_books_do_not_balance(registry, duckdb_store, pg_engine):
    conn = duckdb.connect(str(duckdb_store))
    conn.execute("UPDATE accounts SET balance = balance + 5 WHERE user_name = 'bo'")
    conn.close()

    result = migrate(registry, pg_engine.location, expect=1)

    assert "MISMATCH: DuckDB books: bo: balance 8 but ledger sums to 3" in result.output
    assert "the copy does not match" in result.output


def test_migrate_refuses_what_it_cannot_copy(registry, tmp_path):
    assert "--to must be a postgresql:// URL" in migrate(registry, "store2.duckdb", 1).output
    missing = migrate(registry, "postgresql://127.0.0.1:1/x", 1).output
    assert "no DuckDB store at" in missing
