"""PostgreSQL-only behaviour: several store instances on one database (what replicas are),
state changes reaching the other replicas, the sweep and start-up on a shared store,
selecting the engine by URL, and an unreachable server in one line."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import plugin_folder, run_threads, write_registry

from tokenworks.config import load_registry
from tokenworks.errors import StorageUnavailableError, StoreUnavailableError
from tokenworks.host import Host
from tokenworks.store import NewCall, utcnow

pytest.importorskip("psycopg")

from tokenworks.store.open import open_store
from tokenworks.store.postgres_store import PostgresStore


def new_call(call_id: str, cost: int = 3, deadline_in: float = 30.0) -> NewCall:
    return NewCall(call_id, "ann", "probe_ok", "meter_probe", "local", cost, f"h-{call_id}",
                   "{}", utcnow() + timedelta(seconds=deadline_in))


@pytest.fixture
def replicas(pg_engine):
    """Two stores on one database, each with its own pool: two replicas' view of it."""
    first, second = pg_engine.open(), pg_engine.open()
    yield first, second
    first.close()
    second.close()


def test_two_replicas_racing_on_the_same_call_ids_hold_and_settle_each_once(replicas):
    a, b = replicas
    a.create_user("ann", "user", "x", 1_000, actor="t")
    calls = [new_call(f"c{i}") for i in range(40)]

    def work(thread: int) -> None:
        store = (a, b)[thread % 2]
        for call in calls:
            store.begin_call(call)
        for call in calls:  # both replicas try to settle every call: one wins each
            if thread % 2:
                store.finish_call(call, "succeeded", 1.0, "[]")
            else:
                store.release_abandoned(call.deadline_at + timedelta(seconds=1), "swept")

    run_threads(4, work)

    report = b.verify_books()
    assert report.ok, report.problems[:5]
    assert report.open_holds == 0
    settled = [e for e in a.ledger("ann", limit=10_000) if e.kind in ("capture", "release")]
    assert len(settled) == len(calls)
    captured = sum(e.kind == "capture" for e in settled)
    assert a.balance("ann") == b.balance("ann") == 1_000 - 3 * captured


def test_a_change_on_one_replica_reaches_the_other_within_its_version_ttl(replicas):
    a, b = replicas
    before = b.state_version()
    a.set_function_override("probe_ok", "enabled", False, True, "admin", "off")
    assert a.state_version() > before  # the replica that changed it sees it at once

    started = time.monotonic()
    while b.state_version() == before:
        assert time.monotonic() - started < 2.0, "the change did not reach the other replica"
        time.sleep(0.02)
    assert b.function_overrides()["probe_ok"].enabled is False


def test_the_state_version_is_read_at_most_once_per_ttl(pg_engine):
    store = PostgresStore(pg_engine.location, pool_size=2, version_ttl=60.0)
    try:
        other = pg_engine.open()
        other.set_plugin_enabled("meter_probe", False, True, "admin", "off")
        other.close()
        # Cached: a call's catalog check costs no query until the ttl runs out.
        assert store.state_version() == 0
    finally:
        store.close()


def registry_on(tmp_path: Path, url: str, holds: str = "memory") -> Path:
    return write_registry(tmp_path, f'[store]\npath = "{url}"\nholds = "{holds}"\n'
                                    '[plugins]\nbuiltin = []\nfolder = ""\n'
                                    'entry_points = false\n')


def test_a_postgres_url_opens_postgres_with_durable_holds_whatever_the_registry_says(
        pg_engine, tmp_path):
    config = load_registry(registry_on(tmp_path, pg_engine.location, holds="memory"))
    assert config.store_path() == pg_engine.location
    store = open_store(config)
    try:
        assert isinstance(store, PostgresStore)
        assert (store.holds, store.shared) == ("durable", True)
    finally:
        store.close()


def test_the_store_override_keeps_a_url_as_it_is(tmp_path, monkeypatch):
    registry = write_registry(tmp_path)
    url = "postgres://tw:pw@127.0.0.1:5999/tokens"
    assert load_registry(registry, url).store_path() == url
    monkeypatch.setenv("TOKENWORKS_STORE", url)
    assert load_registry(registry).store_path() == url


def test_host_start_up_on_a_shared_store_releases_only_overdue_calls(pg_engine, tmp_path):
    other = pg_engine.open()  # another replica, with a call in flight and a stale one
    other.create_user("ann", "user", "x", 10, actor="t")
    other.begin_call(new_call("live", deadline_in=60))
    other.begin_call(new_call("stale", deadline_in=-600))

    host = Host(load_registry(registry_on(tmp_path, pg_engine.location)), sweep=False)
    try:
        assert other.get_call("live").status == "running"  # another replica's live call
        assert other.get_call("stale").status == "abandoned"
        assert host.balance("ann") == 7
    finally:
        host.close()
        other.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_server_is_one_line_without_the_password(tmp_path):
    url = f"postgresql://tw:secret-pw@127.0.0.1:{free_port()}/tokens"
    with pytest.raises(StoreUnavailableError) as failed:
        PostgresStore(url)
    message = str(failed.value)
    assert message.startswith("cannot reach the PostgreSQL store at 127.0.0.1:")
    assert "/tokens" in message and "secret-pw" not in message and "\n" not in message

    registry = write_registry(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "tokenworks.cli", "--registry", str(registry), "--store", url,
         "users", "list"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith("Error: cannot reach the PostgreSQL store at 127.0.0.1:")
    assert "Traceback" not in result.stderr and "secret-pw" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1

    served = subprocess.run(
        [sys.executable, "-m", "tokenworks.cli", "--registry", str(registry), "--store", url,
         "serve", "--port", str(free_port())], capture_output=True, text=True, timeout=60)
    assert served.returncode == 1  # said at once, not by a server that cannot start
    assert served.stderr.startswith("Error: cannot reach the PostgreSQL store at 127.0.0.1:")
    assert len(served.stderr.strip().splitlines()) == 1


def test_two_hosts_metering_one_account_with_retries_across_them_charge_once(
        pg_engine, tmp_path):
    """Two replicas' hosts in one process: 8 threads call through both, every 10th call id
    is shared by all threads (retries racing each other across replicas), ~20% fail."""
    plugin_folder(tmp_path, "meter_probe.py")
    registry = write_registry(tmp_path, f'[store]\npath = "{pg_engine.location}"\n'
                              '[plugins]\nentry_points = false\n')
    hosts = [Host(load_registry(registry), sweep=False) for _ in range(2)]
    try:
        hosts[0]._store.create_user("ann", "user", "x", 10_000, actor="t")
        outcomes = []

        def work(thread: int) -> None:
            for i in range(40):
                if i % 10 == 0:
                    k = (i // 10 + thread) % 6
                    call_id, fail, tag = f"shared-{k}", k % 5 == 0, f"s{k}"
                else:
                    call_id, fail, tag = f"t{thread}-{i}", i % 10 in (3, 7), f"{thread}-{i}"
                host = hosts[(thread + i) % 2]
                outcomes.append(host.call("probe_maybe", "ann", {"fail": fail, "tag": tag},
                                          call_id=call_id))

        run_threads(8, work)

        by_id: dict[str, set[str]] = {}
        for outcome in outcomes:
            by_id.setdefault(outcome.call_id, set()).add(outcome.status)
        assert all(len(seen) == 1 for seen in by_id.values())  # one outcome per call id
        assert sum(o.replayed for o in outcomes) == len(outcomes) - len(by_id)
        succeeded = {o.call_id for o in outcomes if o.status == "succeeded"}
        assert hosts[1].balance("ann") == 10_000 - 2 * len(succeeded)  # probe_maybe: 2
        report = hosts[1].verify_books()
        assert report.ok and report.open_holds == 0, report.problems[:5]
        assert len(hosts[0].calls("ann", limit=10_000)) == len(by_id)
    finally:
        for host in hosts:
            host.close()


def test_connections_the_server_dropped_are_replaced(pg_engine):
    store = PostgresStore(pg_engine.location, pool_size=4, version_ttl=0.0)
    try:
        store.create_user("ann", "user", "x", 10, actor="t")
        run_threads(4, lambda _: store.balance("ann"))  # several pooled connections
        # What a server restart or a failover does to every open connection:
        pg_engine.raw(store, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        assert store.balance("ann") == 10  # a read retries once on a fresh connection
        assert store.state_version() >= 1
        assert store.begin_call(new_call("after")) is None  # writes find a good pool
        assert store.finish_call(new_call("after"), "succeeded", 1.0, "[]")
        assert store.verify_books().ok
    finally:
        store.close()


def test_a_connection_lost_mid_call_is_storage_unavailable_and_charges_nothing(pg_engine):
    store = PostgresStore(pg_engine.location, pool_size=2, version_ttl=0.0)
    try:
        store.create_user("ann", "user", "x", 10, actor="t")
        # A server restart or failover as the call begins: its connection is gone.
        pg_engine.raw(store, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        with pytest.raises(StorageUnavailableError) as lost:
            store.begin_call(new_call("lost"))
        assert "connection to the PostgreSQL store" in str(lost.value)
        assert store.get_call("lost") is None and store.balance("ann") == 10
        assert store.begin_call(new_call("after")) is None  # the pool was mended
        assert store.finish_call(new_call("after"), "succeeded", 1.0, "[]")
        assert store.balance("ann") == 7
        assert store.verify_books().ok
    finally:
        store.close()
