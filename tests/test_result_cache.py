"""The result cache through Host.call, with the real cache_probe plugin and a real store.

A hit is a metered call like any other (hold, capture, a call row marked cached) whose
function does not run; a miss runs it and keeps a success. The fixture's tests run on DuckDB in
DuckDB and on PostgreSQL.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from conftest import busy_writer, plugin_runs
from pgserver import throwaway_database
from pydantic import ValidationError

from tokenworks import FunctionSpec
from tokenworks.errors import FunctionDisabledError, TokenworksError, UnknownFunctionError
from tokenworks.host import Host
from tokenworks.result_cache import cache_key
from tokenworks.store import DuckDBStore, utcnow
from tokenworks.store.base import CachedResult

PROBE = "cache_probe.py"


@pytest.fixture(params=["duckdb", "postgres"])
def host(request, make_host) -> Iterator[Host]:
    """A host on DuckDB, and on PostgreSQL (a throwaway database; skipped
    without $TOKENWORKS_TEST_POSTGRES), where the cache is the replicas' shared one."""
    if request.param == "postgres":
        with throwaway_database() as url:
            yield _host_with_ann(make_host(PROBE, sweep=False, store=url))
    else:
        yield _host_with_ann(make_host(PROBE, sweep=False))


def _host_with_ann(host: Host) -> Host:
    host._store.create_user("ann", "user", "x", 40, actor="test")
    return host


def runs(host: Host) -> Counter[str]:
    return plugin_runs(host, "cache_probe")


def entries(host: Host) -> int:
    return host._store._read("SELECT count(*) FROM result_cache")[0][0]


def kinds(host: Host, call_id: str) -> list[str]:
    return sorted(e.kind for e in host.ledger(limit=10_000) if e.call_id == call_id)


def tamper(host: Host, statement: str) -> None:
    """Change the store behind the host's back, on whichever engine it is."""
    host._store._write(lambda tx: tx.execute(statement))  # after the entries queued before


def assert_books(host: Host) -> None:
    report = host.verify_books()
    assert report.ok, report.problems


# -- hits and misses ---------------------------------------------------------------------


def test_a_hit_is_charged_and_marked_and_the_function_does_not_run(host):
    first = host.call("cache_count", "ann", {"text": "a"}, call_id="c1")
    second = host.call("cache_count", "ann", {"text": "a"}, call_id="c2")

    assert runs(host)["cache_count"] == 1
    assert (first.cached, first.charged) == (False, 2)
    assert (second.status, second.cached, second.charged, second.replayed) == (
        "succeeded", True, 2, False)
    assert [b.text for b in second.blocks] == ["a: run 1"]  # the first run's answer
    assert second.latency_ms is not None
    assert host.balance("ann") == 36
    assert kinds(host, "c2") == kinds(host, "c1") == ["capture", "hold"]
    record = host.call_record("c2")
    assert (record.status, record.cached, record.charged) == ("succeeded", True, 2)
    assert record.result_json == host.call_record("c1").result_json
    assert host.call_record("c1").cached is False
    assert second.to_dict()["cached"] is True
    assert_books(host)


def test_an_entry_keeps_nothing_of_the_caller_and_a_hit_tells_no_time(host):
    # Another user's hit must not learn who asked first, when, or with which call id.
    host._store.create_user("bo", "user", "x", 40, actor="test")
    host.call("cache_count", "ann", {"text": "private"}, call_id="ann-call-7")
    hit = host.call("cache_count", "bo", {"text": "private"})
    assert hit.cached
    (row,) = host._store._read("SELECT * FROM result_cache")
    assert not [v for v in row if isinstance(v, str) and ("ann" in v or "ann-call-7" in v)]
    assert [name for name in CachedResult.__dataclass_fields__] == [
        "key", "function", "plugin_version", "result_json", "created_at", "expires_at"]
    assert not hasattr(hit, "cached_at") and "cached_at" not in hit.to_dict()
    assert hit.started_at == host.call_record(hit.call_id).started_at  # bo's own time


def test_equivalent_inputs_share_an_entry_and_different_ones_do_not(host):
    host.call("cache_count", "ann", {"text": "a"})
    same = host.call("cache_count", "ann", {"fail": False, "text": "a"})  # default spelled out
    other = host.call("cache_count", "ann", {"text": "b"})

    assert same.cached and not other.cached
    assert runs(host)["cache_count"] == 2
    assert entries(host) == 2
    assert_books(host)


def test_functions_do_not_share_entries(host):
    host.call("cache_count", "ann", {"text": "a"})
    assert not host.call("cache_other", "ann", {"text": "a"}).cached


def test_an_expired_entry_is_never_served(host):
    host.call("cache_count", "ann", {"text": "a"})
    start = utcnow()
    host._meter.cache.clock = lambda: start + timedelta(seconds=59)
    assert host.call("cache_count", "ann", {"text": "a"}).cached
    host._meter.cache.clock = lambda: start + timedelta(seconds=61)

    late = host.call("cache_count", "ann", {"text": "a"})

    assert not late.cached and [b.text for b in late.blocks] == ["a: run 2"]
    # The run stored a fresh entry, valid from the (moved) clock's now.
    assert host.call("cache_count", "ann", {"text": "a"}).cached
    assert runs(host)["cache_count"] == 2
    assert_books(host)


def test_an_entry_of_another_plugin_version_never_matches(host):
    spec = host.function("cache_count").spec
    input_json = '{"fail":false,"text":"a"}'
    now = utcnow()
    host._store.cache_put(CachedResult(
        cache_key("cache_count", "0.9", input_json), "cache_count", "0.9",
        '[{"kind": "markdown", "text": "stale"}]', now, now + timedelta(hours=1)))
    assert spec.plugin_version == "1.0"

    outcome = host.call("cache_count", "ann", {"text": "a"})

    assert not outcome.cached and runs(host)["cache_count"] == 1


def test_a_failed_run_is_not_cached(host):
    for _ in range(2):
        outcome = host.call("cache_count", "ann", {"text": "a", "fail": True})
        assert (outcome.status, outcome.cached, outcome.charged) == ("failed", False, 0)
    assert runs(host)["cache_count"] == 2
    assert entries(host) == 0
    assert host.balance("ann") == 40
    assert_books(host)


def test_a_disabled_function_is_refused_even_with_a_cached_result(host):
    host.call("cache_count", "ann", {"text": "a"})
    host.set_function_enabled("cache_count", False, actor="test", reason="off")
    with pytest.raises(FunctionDisabledError):
        host.call("cache_count", "ann", {"text": "a"})
    assert host.balance("ann") == 38


# -- idempotency wins over the cache ------------------------------------------------------


def test_repeating_a_call_id_replays_that_calls_first_outcome(host):
    host.call("cache_count", "ann", {"text": "a"}, call_id="run")
    hit = host.call("cache_count", "ann", {"text": "a"}, call_id="hit")

    again_run = host.call("cache_count", "ann", {"text": "a"}, call_id="run")
    again_hit = host.call("cache_count", "ann", {"text": "a"}, call_id="hit")

    assert (again_run.replayed, again_run.cached) == (True, False)
    assert (again_hit.replayed, again_hit.cached) == (True, True)
    assert again_hit.blocks == hit.blocks
    assert host.balance("ann") == 36  # two calls charged, the repeats not again
    assert runs(host)["cache_count"] == 1
    assert_books(host)


def test_a_failed_call_id_is_replayed_as_failed_even_once_a_result_is_cached(host):
    host.call("cache_count", "ann", {"text": "a", "fail": True}, call_id="f")
    host.call("cache_count", "ann", {"text": "a"})
    again = host.call("cache_count", "ann", {"text": "a", "fail": True}, call_id="f")
    assert (again.status, again.replayed, again.cached) == ("failed", True, False)


# -- a broken cache never fails or double-charges a call -----------------------------------


def test_a_store_error_on_look_up_runs_the_function(host, monkeypatch, caplog):
    host.call("cache_count", "ann", {"text": "a"})

    def broken(key, now):
        raise duckdb.IOException("disk gone")

    monkeypatch.setattr(host._store, "cache_get", broken)
    with caplog.at_level(logging.WARNING, "tokenworks.cache"):
        outcome = host.call("cache_count", "ann", {"text": "a"})

    assert (outcome.status, outcome.cached, outcome.charged) == ("succeeded", False, 2)
    assert runs(host)["cache_count"] == 2
    assert host.balance("ann") == 36
    assert "look-up for cache_count failed" in caplog.text
    assert_books(host)


def test_a_store_error_on_keep_still_answers_the_call(host, monkeypatch):
    def broken(entry):
        raise duckdb.TransactionException("Conflict on update!")

    monkeypatch.setattr(host._store, "cache_put", broken)
    outcome = host.call("cache_count", "ann", {"text": "a"})

    assert (outcome.status, outcome.charged) == ("succeeded", 2)
    assert host.balance("ann") == 38
    assert_books(host)


def test_an_unreadable_entry_is_a_miss(host):
    host.call("cache_count", "ann", {"text": "a"})
    tamper(host, "UPDATE result_cache SET result_json = '[{\"kind\": \"nonsense\"}]'")
    outcome = host.call("cache_count", "ann", {"text": "a"})
    assert not outcome.cached and outcome.ok and runs(host)["cache_count"] == 2


# -- clearing ------------------------------------------------------------------------------


def test_an_admin_clears_one_function_or_all_and_each_clear_is_audited(host):
    host.call("cache_count", "ann", {"text": "a"})
    host.call("cache_count", "ann", {"text": "b"})
    host.call("cache_other", "ann", {"text": "a"})
    version = host.state_version()

    assert host.clear_cache("cache_count", actor="admin:root", reason="bad data") == 2
    assert entries(host) == 1
    assert host.state_version() > version
    change = host.audit(1)[0]
    assert (change.actor, change.target_kind, change.target, change.field, change.before,
            change.after, change.reason) == (
        "admin:root", "cache", "cache_count", "cleared", "2 entries", "0 entries", "bad data")

    assert host.clear_cache(None, actor="admin:root", reason="all of it") == 1
    assert host.audit(1)[0].target == "*"
    assert entries(host) == 0
    assert not host.call("cache_count", "ann", {"text": "a"}).cached
    assert_books(host)


def test_a_clear_needs_a_reason_and_a_known_function(host):
    with pytest.raises(TokenworksError, match="reason"):
        host.clear_cache(None, actor="x", reason=" ")
    with pytest.raises(UnknownFunctionError):
        host.clear_cache("cache_cout", actor="x", reason="typo")


# -- a new plugin version drops the old one's entries --------------------------------------


def test_a_new_plugin_version_purges_old_entries_at_start(make_host, tmp_path: Path):
    host = make_host(PROBE, sweep=False)
    host._store.create_user("ann", "user", "x", 40, actor="test")
    host.call("cache_count", "ann", {"text": "a"})
    host.close()
    plugin = tmp_path / "local_plugins" / PROBE
    plugin.write_text(plugin.read_text().replace('__version__ = "1.0"',
                                                 '__version__ = "2.0"'))

    upgraded = make_host(sweep=False)  # the same folder and store

    assert upgraded.function("cache_count").spec.plugin_version == "2.0"
    assert entries(upgraded) == 0
    assert not upgraded.call("cache_count", "ann", {"text": "a"}).cached
    assert_books(upgraded)


def test_purge_keeps_current_live_entries(host):
    host.call("cache_count", "ann", {"text": "a"})
    now = utcnow()
    host._store.cache_put(CachedResult("old", "cache_count", "0.9", "[]", now,
                                      now + timedelta(hours=1)))
    host._store.cache_put(CachedResult("gone", "retired_function", "1.0", "[]", now,
                                      now + timedelta(hours=1)))
    host._store.cache_put(CachedResult("expired", "cache_other", "1.0", "[]", now,
                                      now - timedelta(seconds=1)))

    dropped = host._meter.cache.purge({"cache_count": "1.0", "cache_other": "1.0"})

    assert dropped == 3
    assert host.call("cache_count", "ann", {"text": "a"}).cached


# -- the spec field ------------------------------------------------------------------------


def _spec(**changes) -> FunctionSpec:
    from pydantic import BaseModel

    class In(BaseModel):
        text: str

    fields = dict(name="f_x", title="F", cost=1, input_model=In, returns=("markdown",),
                  examples=({"text": "a"},), plugin="p", plugin_version="1")
    return FunctionSpec(**(fields | changes))


@pytest.mark.parametrize("ttl", [0, -1, True, "soon", 31 * 24 * 3600])
def test_cache_ttl_must_be_a_positive_number_of_seconds(ttl):
    with pytest.raises(ValidationError) as caught:
        _spec(cache_ttl=ttl)
    assert {error["loc"][0] for error in caught.value.errors()} == {"cache_ttl"}


def test_cache_ttl_defaults_to_not_cached_and_is_in_the_public_spec():
    assert _spec().cache_ttl is None
    assert _spec(cache_ttl=0.5).public_dict()["cache_ttl"] == 0.5


# -- concurrency ---------------------------------------------------------------------------


def test_concurrent_calls_of_one_input_keep_the_books_and_one_entry(host):
    from conftest import run_threads

    host.grant("ann", 200, actor="test", reason="many calls")
    outcomes = []

    def work(index: int) -> None:
        for _ in range(5):
            outcomes.append(host.call("cache_count", "ann", {"text": f"t{index % 2}"}))

    run_threads(8, work)

    assert all(o.ok and o.charged == 2 for o in outcomes) and len(outcomes) == 40
    # Racing misses may all run before the first keeps its result; later calls hit.
    assert runs(host)["cache_count"] + sum(o.cached for o in outcomes) == 40
    assert sum(o.cached for o in outcomes) > 0
    assert entries(host) == 2
    assert host.balance("ann") == 240 - 80
    assert_books(host)


# -- migration 4 on a store that has calls already ----------------------------------------


def test_migration_4_marks_earlier_calls_not_cached(tmp_path: Path, monkeypatch) -> None:
    from tokenworks.store import DuckDBStore, schema

    path = tmp_path / "old.duckdb"
    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:3])
    old = DuckDBStore(path)
    old.create_user("ann", "user", "x", 10, actor="test")
    now = utcnow()  # a free call, as the version-3 code wrote it (no cached column yet)
    old._write(lambda tx: tx.execute(
        "INSERT INTO calls VALUES ('old', 'ann', 'f', 'p', '1', 0, 'succeeded', 'h', '{}', "
        "'[]', NULL, ?, ?, ?, 1.0)", [now, now, now]))
    old.close()
    monkeypatch.undo()

    store = DuckDBStore(path)
    try:
        assert store.schema_version() == schema.LATEST  # every later migration applied too
        assert store.get_call("old").cached is False
        assert store.verify_books().ok
    finally:
        store.close()


def test_an_entry_kept_behind_its_call_is_served_before_the_table_has_it(tmp_path):
    store = DuckDBStore(tmp_path / "store.duckdb")
    now = utcnow()
    entry = CachedResult("k1", "cache_count", "1.0", "[]", now, now + timedelta(hours=1))
    with busy_writer(store):
        store.cache_put(entry)  # returns at once: the writer is busy
        assert store.cache_get("k1", now) == entry
        assert store.cache_get("k1", now + timedelta(hours=2)) is None  # expiry still holds
        assert store._read("SELECT count(*) FROM result_cache", wait=False) == [(0,)]
    assert store._read("SELECT count(*) FROM result_cache") == [(1,)]
    assert store._unwritten_cache == {}
    assert store.cache_get("k1", now) == entry
    store.close()


def test_a_duckdb_miss_needs_no_query_and_known_keys_survive_a_restart(tmp_path, monkeypatch):
    path = tmp_path / "store.duckdb"
    now = utcnow()
    entry = CachedResult("k1", "cache_count", "1.0", "[]", now, now + timedelta(hours=1))
    store = DuckDBStore(path)
    store.cache_put(entry)
    store.close()

    store = DuckDBStore(path)  # the key set is read from the table at open
    try:
        assert store.cache_get("k1", now) == entry

        def no_query(*args, **kwargs):
            raise AssertionError("a miss of a key never written must not query the table")

        with monkeypatch.context() as patch:
            patch.setattr(store, "_read", no_query)
            assert store.cache_get("never-written", now) is None
        store.cache_clear(None, actor="test", reason="test")
        assert store.cache_get("k1", now) is None
        store.cache_put(entry)
        store._writer.wait()
        assert store.cache_get("k1", now) == entry  # kept again after the clear
    finally:
        store.close()
