"""The store contract, run against every engine (tests/store/conftest.py): DuckDB (holds
in memory) and PostgreSQL (durable holds). Users, the ledger, the audit
log, the state version, calls at the store level, and verify_books noticing drift.

Engine-specific tests stay apart: DuckDB's file lock and lost-update regression in
tests/test_store.py and tests/test_concurrency.py, PostgreSQL's replicas in test_postgres.py.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from conftest import run_threads

from tokenworks.errors import InsufficientTokensError, TokenworksError, UnknownUserError
from tokenworks.passwords import hash_password, verify_password
from tokenworks.store import NewCall, Store, schema, utcnow
from tokenworks.store.base import PortalSession, ThrottleRule


def held(store: Store, amount: int) -> int:
    """What a running call's hold has taken off the stored balance: its cost if the hold
    is durable; nothing if it is in memory (the call is written when it ends)."""
    return amount if store.holds == "durable" else 0


def new_call(call_id: str, user: str = "ann", cost: int = 3, deadline_in: float = 30.0,
             function: str = "probe_ok") -> NewCall:
    return NewCall(
        call_id=call_id, user=user, function=function, plugin="meter_probe",
        plugin_version="local", cost=cost, input_hash=f"hash-{call_id}", input_json="{}",
        deadline_at=utcnow() + timedelta(seconds=deadline_in),
    )


def ledger_rows(store: Store, user: str | None = None):
    return store.ledger(user, limit=10_000)


# -- users ------------------------------------------------------------------------------


def test_create_user_writes_the_starting_grant_as_a_ledger_entry(store):
    user = store.create_user("ann", "user", "x", 20, actor="admin:root")

    assert (user.name, user.role, user.balance) == ("ann", "user", 20)
    assert store.balance("ann") == 20
    [entry] = ledger_rows(store, "ann")
    assert (entry.kind, entry.amount, entry.balance_after) == ("grant", 20, 20)
    assert entry.actor == "admin:root"
    assert entry.reason == "starting grant"
    assert entry.call_id is None
    assert store.get_user("ann").balance == 20
    assert [u.name for u in store.list_users()] == ["ann"]


def test_a_user_without_starting_grant_has_no_ledger_entry(store):
    store.create_user("ann", "user", "x", 0, actor="t")
    assert store.balance("ann") == 0
    assert ledger_rows(store) == []
    assert store.verify_books().ok


def test_duplicate_user_is_refused_and_nothing_is_written(store):
    store.create_user("ann", "user", "x", 20, actor="t")
    version = store.state_version()

    with pytest.raises(TokenworksError, match="exists already"):
        store.create_user("ann", "admin", "y", 50, actor="t")

    assert store.balance("ann") == 20
    assert len(ledger_rows(store)) == 1
    assert store.get_user("ann").role == "user"
    assert store.password_hash("ann") == "x"
    assert store.state_version() == version
    assert len(store.state_changes()) == 1


def test_password_hash_is_scrypt_and_verifies(store):
    stored = hash_password("correct horse")
    store.create_user("ann", "user", stored, 0, actor="t")

    kept = store.password_hash("ann")
    assert kept == stored
    assert kept.startswith("scrypt$")
    assert "correct horse" not in kept
    assert verify_password("correct horse", kept)
    assert not verify_password("wrong horse", kept)
    assert store.password_hash("nobody") is None


# -- tokens -----------------------------------------------------------------------------


def test_grant_and_adjustment_are_ledger_entries_with_actor_and_reason(store):
    store.create_user("ann", "user", "x", 10, actor="t")

    assert store.adjust_balance("ann", 15, "grant", "admin:bo", "bonus") == 25
    assert store.adjust_balance("ann", -7, "adjustment", "admin:cy", "refund clawback") == 18

    assert store.balance("ann") == 18
    newest, middle, oldest = ledger_rows(store, "ann")
    assert (newest.kind, newest.amount, newest.balance_after) == ("adjustment", -7, 18)
    assert (newest.actor, newest.reason) == ("admin:cy", "refund clawback")
    assert (middle.kind, middle.amount, middle.balance_after) == ("grant", 15, 25)
    assert (middle.actor, middle.reason) == ("admin:bo", "bonus")
    assert oldest.reason == "starting grant"
    assert store.verify_books().ok


def test_take_back_below_zero_is_refused_and_nothing_is_written(store):
    store.create_user("ann", "user", "x", 10, actor="t")
    version = store.state_version()

    with pytest.raises(InsufficientTokensError) as refused:
        store.adjust_balance("ann", -11, "adjustment", "admin", "too much")

    assert (refused.value.user, refused.value.needed, refused.value.balance) == ("ann", 11, 10)
    assert store.balance("ann") == 10
    assert len(ledger_rows(store)) == 1
    assert store.state_version() == version
    # Taking back exactly everything is allowed: zero is not negative.
    assert store.adjust_balance("ann", -10, "adjustment", "admin", "all of it") == 0
    assert store.verify_books().ok


def test_adjusting_an_unknown_user_is_refused(store):
    with pytest.raises(UnknownUserError):
        store.adjust_balance("ghost", 5, "grant", "admin", "hello")
    with pytest.raises(UnknownUserError):
        store.balance("ghost")
    assert ledger_rows(store) == []


def test_ledger_is_newest_first_and_filters_by_user(store):
    store.create_user("ann", "user", "x", 1, actor="t")
    store.create_user("bo", "user", "x", 2, actor="t")
    for amount in (3, 4, 5):
        store.adjust_balance("ann", amount, "grant", f"admin{amount}", f"reason {amount}")

    everyone = ledger_rows(store)
    assert [e.amount for e in everyone] == [5, 4, 3, 2, 1]
    assert [e.id for e in everyone] == sorted((e.id for e in everyone), reverse=True)
    assert [e.amount for e in ledger_rows(store, "ann")] == [5, 4, 3, 1]
    assert [e.amount for e in store.ledger("ann", limit=2)] == [5, 4]
    assert [(e.actor, e.reason) for e in store.ledger("ann", limit=1)] == [("admin5", "reason 5")]


def test_the_check_constraint_forbids_a_negative_balance(store, engine):
    store.create_user("ann", "user", "x", 5, actor="t")
    # Even a write that skips the store's own check cannot make a balance negative.
    with pytest.raises(Exception, match=r"(?i)check"):
        engine.raw(store, "UPDATE accounts SET balance = -1 WHERE user_name = 'ann'")
    assert engine.raw(store, "SELECT balance FROM accounts") == [(5,)]


# -- schema and migrations --------------------------------------------------------------


def test_schema_is_latest_and_migrations_are_idempotent_on_reopen(store, engine):
    assert store.schema_version() == schema.LATEST
    store.create_user("ann", "user", "x", 20, actor="t")
    store.close()

    for _ in range(2):
        again = engine.open()  # would fail on "table exists" if re-applied
        try:
            assert again.schema_version() == schema.LATEST
            assert again.balance("ann") == 20
            applied = again._read("SELECT version FROM schema_migrations ORDER BY version")
            assert [row[0] for row in applied] == [m[0] for m in schema.MIGRATIONS]
            assert again.verify_books().ok
        finally:
            again.close()


# -- admin state, version and audit log -------------------------------------------------


def test_state_version_rises_on_every_kind_of_admin_change(store):
    seen = [store.state_version()]

    def changed() -> None:
        now = store.state_version()
        assert now > seen[-1]
        seen.append(now)

    store.create_user("ann", "user", "x", 5, actor="t")
    changed()
    store.set_function_override("probe_ok", "enabled", False, True, "admin", "off")
    changed()
    store.set_function_override("probe_ok", "cost", 9, 3, "admin", "dearer")
    changed()
    store.set_plugin_enabled("meter_probe", False, True, "admin", "off")
    changed()
    store.adjust_balance("ann", 5, "grant", "admin", "gift")
    changed()
    store.adjust_balance("ann", -2, "adjustment", "admin", "take back")
    changed()
    store.set_role("ann", "admin", "admin", "promoted")
    changed()


def test_reads_and_calls_do_not_move_the_state_version(store):
    store.create_user("ann", "user", "x", 5, actor="t")
    version = store.state_version()
    call = new_call("c1")
    store.begin_call(call)
    store.finish_call(call, "succeeded", 1.0, "[]")
    store.verify_books()
    store.list_calls()
    # Catalog views are rebuilt when the version moves; calls must not force that.
    assert store.state_version() == version


def test_overrides_are_stored_and_audited_with_actor_before_after_and_reason(store):
    store.set_function_override("probe_ok", "enabled", False, True, "admin:bo", "broken")
    store.set_function_override("probe_ok", "cost", 9, 3, "admin:cy", "dearer")
    store.set_plugin_enabled("meter_probe", False, True, "admin:di", "maintenance")
    store.create_user("ann", "user", "x", 0, actor="admin:ed")
    store.set_role("ann", "admin", "admin:fa", "on call")

    overrides = store.function_overrides()["probe_ok"]
    assert (overrides.enabled, overrides.cost) == (False, 9)
    assert store.plugin_overrides() == {"meter_probe": False}
    assert store.get_user("ann").role == "admin"

    changes = store.state_changes()
    assert [c.id for c in changes] == sorted((c.id for c in changes), reverse=True)
    described = [(c.actor, c.target_kind, c.target, c.field, c.before, c.after, c.reason)
                 for c in changes]
    assert described == [
        ("admin:fa", "user", "ann", "role", "user", "admin", "on call"),
        ("admin:ed", "user", "ann", "created", None, "user", "new user"),
        ("admin:di", "plugin", "meter_probe", "enabled", "true", "false", "maintenance"),
        ("admin:cy", "function", "probe_ok", "cost", "3", "9", "dearer"),
        ("admin:bo", "function", "probe_ok", "enabled", "true", "false", "broken"),
    ]
    assert all(c.at is not None for c in changes)
    assert len(store.state_changes(limit=2)) == 2


def test_set_role_of_unknown_user_is_refused(store):
    version = store.state_version()
    with pytest.raises(UnknownUserError):
        store.set_role("ghost", "admin", "admin", "why")
    assert store.state_version() == version
    assert store.state_changes() == []


# -- calls at the store level -----------------------------------------------------------


def test_begin_call_holds_and_finish_call_captures_once(store):
    store.create_user("ann", "user", "x", 10, actor="t")

    call = new_call("c1", cost=3)
    assert store.begin_call(call) is None
    assert store.balance("ann") == 10 - held(store, 3)
    report = store.verify_books()
    assert report.ok and report.open_holds == 1

    settled = store.finish_call(call, "succeeded", 12.5, '[{"kind":"markdown","text":"hi"}]')
    assert settled is not None and settled.balance in (None, 7)  # None: not known unread
    assert store.finish_call(call, "failed", 1.0, error="late") is None  # already settled

    assert store.balance("ann") == 7
    kinds = [(e.kind, e.amount, e.balance_after) for e in ledger_rows(store, "ann")]
    assert kinds == [("capture", 0, 7), ("hold", -3, 7), ("grant", 10, 10)]
    record = store.get_call("c1")
    assert (record.status, record.charged, record.latency_ms) == ("succeeded", 3, 12.5)
    assert record.started_at == call.started_at  # the meter reports it without a read
    assert record.finished_at >= record.started_at
    report = store.verify_books()
    assert report.ok and report.open_holds == 0


def test_a_released_call_is_hold_then_release(store):
    store.create_user("ann", "user", "x", 10, actor="t")
    call = new_call("c1", cost=3)
    store.begin_call(call)

    settled = store.finish_call(call, "failed", 2.0, error="boom")
    assert settled is not None and settled.balance in (None, 10)

    assert store.balance("ann") == 10
    kinds = [(e.kind, e.amount, e.balance_after, e.actor) for e in ledger_rows(store, "ann")]
    assert kinds == [("release", 3, 10, "host"), ("hold", -3, 7, "ann"), ("grant", 10, 10, "t")]
    record = store.get_call("c1")
    assert (record.status, record.charged, record.error) == ("failed", 0, "boom")
    assert store.verify_books().ok


def test_begin_call_with_a_known_id_writes_nothing_and_returns_the_record(store):
    store.create_user("ann", "user", "x", 10, actor="t")
    store.begin_call(new_call("c1", cost=3))

    existing = store.begin_call(new_call("c1", cost=3))

    assert existing is not None and existing.call_id == "c1" and existing.status == "running"
    assert store.balance("ann") == 10 - held(store, 3)
    assert len(ledger_rows(store)) == (2 if store.holds == "durable" else 1)
    assert store.verify_books().open_holds == 1  # the second begin held nothing


def test_begin_call_refusals_write_nothing(store):
    store.create_user("ann", "user", "x", 2, actor="t")

    with pytest.raises(InsufficientTokensError):
        store.begin_call(new_call("c1", cost=3))
    with pytest.raises(UnknownUserError):
        store.begin_call(new_call("c2", user="ghost", cost=3))
    with pytest.raises(UnknownUserError):
        store.begin_call(new_call("c3", user="ghost", cost=0))

    assert store.list_calls() == []
    assert store.get_call("c1") is None
    assert len(ledger_rows(store)) == 1
    assert store.balance("ann") == 2
    assert store.verify_books().open_holds == 0


def test_release_abandoned_releases_only_calls_past_the_deadline(store):
    store.create_user("ann", "user", "x", 10, actor="t")
    store.begin_call(new_call("stale", cost=3, deadline_in=-60))
    store.begin_call(new_call("fresh", cost=3, deadline_in=60))

    assert store.release_abandoned(utcnow(), "swept") == ["stale"]
    assert store.get_call("stale").status == "abandoned"
    assert store.get_call("fresh").status == "running"
    assert store.balance("ann") == 10 - held(store, 3)

    assert store.release_abandoned(None, "restart") == ["fresh"]
    assert store.balance("ann") == 10
    release = ledger_rows(store)[0]
    assert (release.kind, release.amount, release.actor) == ("release", 3, "sweep")
    assert store.get_call("fresh").error == "restart"
    assert store.release_abandoned(None, "again") == []
    report = store.verify_books()
    assert report.ok and report.open_holds == 0


# -- verify_books notices drift ---------------------------------------------------------


def test_verify_books_detects_a_balance_changed_without_a_ledger_row(store, engine):
    store.create_user("ann", "user", "x", 10, actor="t")
    assert store.verify_books().ok

    store = engine.tamper(store,
                          "UPDATE accounts SET balance = balance + 5 WHERE user_name = 'ann'")
    try:
        report = store.verify_books()
        assert not report.ok
        assert any("ann: balance 15 but ledger sums to 10" in p for p in report.problems)
    finally:
        store.close()


def test_verify_books_detects_a_hold_both_captured_and_released(store, engine):
    store.create_user("ann", "user", "x", 10, actor="t")
    call = new_call("c1", cost=3)
    store.begin_call(call)
    store.finish_call(call, "succeeded", 1.0, "[]")

    # A release row that also restores the balance: the sums still agree, so only the
    # hold check can catch the double settlement.
    store = engine.tamper(
        store,
        "UPDATE accounts SET balance = balance + 3 WHERE user_name = 'ann'",
        "INSERT INTO ledger (occurred_at, user_name, kind, amount, call_id, actor, reason, "
        "balance_after) VALUES (now(), 'ann', 'release', 3, 'c1', 'bug', 'double', 10)",
    )
    try:
        problems = store.verify_books().problems
        assert not any("ledger sums" in p for p in problems)
        assert "call c1: hold both captured and released" in problems
        assert "call c1: hold settled 2 times" in problems
    finally:
        store.close()


def test_verify_books_detects_a_wrong_balance_after(store, engine):
    store.create_user("ann", "user", "x", 10, actor="t")
    store.adjust_balance("ann", 5, "grant", "admin", "gift")
    assert store.verify_books().ok

    store = engine.tamper(store, "UPDATE ledger SET balance_after = 14 WHERE amount = 5")
    try:
        problems = store.verify_books().problems
        assert any("ann: ledger entry" in p and "says 14" in p and "running total is 15" in p
                   for p in problems), problems
        assert not any("ledger sums" in p for p in problems)
    finally:
        store.close()


def test_verify_books_detects_a_failed_call_whose_hold_was_kept(store, engine):
    store.create_user("ann", "user", "x", 10, actor="t")
    call = new_call("c1", cost=3)
    store.begin_call(call)
    store.finish_call(call, "succeeded", 1.0, "[]")  # its hold kept: captured

    store = engine.tamper(store, "UPDATE calls SET status = 'failed' WHERE call_id = 'c1'")
    try:
        assert "call c1: failed but its hold was not released" in store.verify_books().problems
    finally:
        store.close()


def test_verify_books_detects_a_charged_call_without_a_hold(store, engine):
    store.create_user("ann", "user", "x", 10, actor="t")
    store = engine.tamper(
        store,
        "INSERT INTO calls (call_id, user_name, function, plugin, plugin_version, cost, status, "
        "input_hash, input_json, started_at, deadline_at) VALUES ('c9', 'ann', 'probe_ok', "
        "'meter_probe', 'local', 3, 'succeeded', 'h', '{}', now(), now())",
    )
    try:
        problems = store.verify_books().problems
        assert "call c9: charged call with no hold in the ledger" in problems
    finally:
        store.close()


def test_verify_books_detects_a_call_with_a_negative_cost(store, engine):
    # A negative price holds nothing, so no ledger row would show it: the call log must.
    store.create_user("ann", "user", "x", 10, actor="t")
    store = engine.tamper(
        store,
        "INSERT INTO calls (call_id, user_name, function, plugin, plugin_version, cost, status, "
        "input_hash, input_json, started_at, deadline_at) VALUES ('c9', 'ann', 'probe_ok', "
        "'meter_probe', 'local', -1000, 'succeeded', 'h', '{}', now(), now())",
    )
    try:
        assert "call c9: negative cost -1000" in store.verify_books().problems
    finally:
        store.close()


def test_ledger_of_kinds_filters_kind_time_and_limit(store):
    query = store.ledger_of_kinds
    store.create_user("ann", "user", "x", 10, actor="t")  # a starting grant
    store.adjust_balance("ann", 5, "grant", "admin", "bonus")
    middle = utcnow()
    store.adjust_balance("ann", -3, "adjustment", "admin", "too much")
    store.adjust_balance("ann", 2, "grant", "admin", "again")

    grants = query(("grant",))
    assert [e.amount for e in grants] == [2, 5, 10]
    both = query(("grant", "adjustment"))
    assert [e.amount for e in both] == [2, -3, 5, 10]
    assert [e.amount for e in query(("grant", "adjustment"), since=middle)] == [2, -3]
    assert [e.amount for e in query(("grant", "adjustment"), limit=1)] == [2]
    assert query(("hold",)) == []


# -- concurrency: the invariants every engine keeps under threads -------------------------


def test_racing_begins_of_one_call_id_hold_once(store):
    store.create_user("ann", "user", "x", 10, actor="t")
    results: list[object] = []

    def begin(_: int) -> None:
        results.append(store.begin_call(new_call("same", cost=3)))

    run_threads(8, begin)

    assert sum(result is None for result in results) == 1  # one caller runs the function
    assert all(r is None or r.call_id == "same" for r in results)
    assert store.finish_call(new_call("same", cost=3), "succeeded", 1.0, "[]")
    assert store.balance("ann") == 7
    assert [e.kind for e in ledger_rows(store, "ann")] == ["capture", "hold", "grant"]
    assert store.verify_books().ok


def test_racing_calls_grants_and_take_backs_never_overdraw(store):
    store.create_user("ann", "user", "x", 40, actor="t")
    done = {"charged": 0, "granted": 0, "taken": 0}
    lock = threading.Lock()

    def work(thread: int) -> None:
        for i in range(25):
            kind = (thread + i) % 4
            try:
                if kind == 0:
                    store.adjust_balance("ann", -2, "adjustment", "admin", "take back")
                    with lock:
                        done["taken"] += 2
                elif kind == 1:
                    store.adjust_balance("ann", 1, "grant", "admin", "gift")
                    with lock:
                        done["granted"] += 1
                else:
                    call = new_call(f"t{thread}-{i}", cost=3)
                    if store.begin_call(call, fresh=True) is not None:
                        raise AssertionError("a fresh call id was replayed")
                    ok = kind == 2
                    assert store.finish_call(call, "succeeded" if ok else "failed", 1.0,
                                             "[]" if ok else None, None if ok else "no")
                    if ok:
                        with lock:
                            done["charged"] += 3
            except InsufficientTokensError:
                pass  # refused, nothing written: the balance would have gone negative

    run_threads(8, work)

    balance = store.balance("ann")
    assert balance >= 0
    assert balance == 40 + done["granted"] - done["taken"] - done["charged"]
    assert balance == sum(e.amount for e in ledger_rows(store, "ann"))
    report = store.verify_books()
    assert report.ok, report.problems[:5]
    assert report.open_holds == 0


# -- the REST API's needs (ApiStore) ----------------------------------------------------


def test_api_keys_are_stored_listed_revoked_once_and_audited(store):
    from tokenworks.store.base import ApiKey

    store.create_user("ann", "user", "x", 0, actor="t")
    first = ApiKey("k1", "ann", "laptop", "hash-1", utcnow() - timedelta(seconds=5), None)
    second = ApiKey("k2", "ann", "ci", "hash-2", utcnow(), None)
    store.create_api_key(first, actor="ann")
    store.create_api_key(second, actor="admin:root")

    assert store.get_api_key("k1") == first and store.get_api_key("nope") is None
    assert [k.key_id for k in store.list_api_keys("ann")] == ["k2", "k1"]  # newest first
    assert store.list_api_keys("bo") == []
    before = store.state_version()
    assert store.revoke_api_key("k1", "admin:root", "lost it")
    assert store.state_version() > before  # the API's key cache is emptied by it
    after = store.state_version()
    assert not store.revoke_api_key("k1", "admin:root", "again")  # once only
    assert store.state_version() == after
    assert not store.revoke_api_key("nope", "admin:root", "?")
    revoked = store.get_api_key("k1")
    assert not revoked.active and revoked.revoked_at is not None
    logged = [(c.target_kind, c.target, c.field, c.after) for c in store.state_changes()[:3]]
    assert logged == [("api_key", "k1", "revoked", "revoked"),
                      ("api_key", "k2", "created", "ann: ci"),
                      ("api_key", "k1", "created", "ann: laptop")]
    assert all("hash-" not in (c.after or "") for c in store.state_changes())


def test_call_metrics_total_calls_tokens_and_latency_buckets(store):
    store.create_user("ann", "user", "x", 20, actor="t")
    start = utcnow()
    for call_id, status, latency in (("a", "succeeded", 5.0), ("b", "succeeded", 50.0),
                                     ("c", "failed", 500.0)):
        call = new_call(call_id, cost=3)
        store.begin_call(call)
        store.finish_call(call, status, latency, "[]" if status == "succeeded" else None)
    # A running call has no latency yet (and with holds in memory, no row either).
    store.begin_call(new_call("d", cost=3))

    rows = {(m.function, m.status): m for m in store.call_metrics((10.0, 100.0))}
    ok, failed = rows[("probe_ok", "succeeded")], rows[("probe_ok", "failed")]
    assert (ok.calls, ok.tokens, ok.latency_sum_ms, ok.latency_count) == (2, 6, 55.0, 2)
    assert ok.buckets == (1, 2)
    assert (failed.calls, failed.tokens, failed.buckets) == (1, 0, (0, 0))
    assert [c.call_id for c in store.calls_since(start)][:3] == ["a", "b", "c"]
    assert [c.call_id for c in store.list_calls("ann", limit=4) if c.call_id != "d"] == [
        "c", "b", "a"]


def test_known_state_version_is_none_or_the_state_version(store):
    # The REST API trusts it to check cached keys without I/O: never a stale answer.
    store.create_user("ann", "user", "x", 10, actor="t")
    version = store.state_version()
    assert store.known_state_version() in (None, version)
    store.adjust_balance("ann", 5, "grant", "admin", "gift")
    assert store.known_state_version() in (None, store.state_version())
    assert store.state_version() > version


# -- portal sessions and sign-in throttling (migration 6) --------------------------------


def portal_session(token_hash: str, user: str = "ann", minutes: float = 60.0,
                   now=None) -> PortalSession:
    now = now or utcnow()
    return PortalSession(token_hash, user, now, now, now + timedelta(minutes=minutes),
                         now + timedelta(hours=12))


def test_portal_sessions_are_created_read_touched_and_ended(store):
    store.create_user("ann", "user", "x", 0, actor="t")
    now = utcnow()
    store.create_portal_session(portal_session("h1", now=now))
    found = store.get_portal_session("h1")
    assert (found.user, found.live(now), found.ended_at) == ("ann", True, None)
    assert store.get_portal_session("h2") is None

    later = now + timedelta(minutes=5)
    store.touch_portal_session("h1", later, later + timedelta(minutes=60))
    touched = store.get_portal_session("h1")
    assert (touched.last_seen_at, touched.idle_expires_at) == (later, later + timedelta(hours=1))
    assert touched.live(now + timedelta(minutes=61)) is True  # past the first idle expiry
    assert touched.live(later + timedelta(minutes=60)) is False  # idle
    assert touched.live(now + timedelta(hours=12)) is False  # absolute

    assert store.end_portal_session("h1", "signed out", later) is True
    assert store.end_portal_session("h1", "again", later) is False
    ended = store.get_portal_session("h1")
    assert (ended.ended_at, ended.end_reason, ended.live(later)) == (later, "signed out", False)
    store.touch_portal_session("h1", later, later + timedelta(hours=1))  # stays ended
    assert store.get_portal_session("h1").ended_at == later
    assert store.state_changes()[0].field == "created"  # a sign-out is not an admin change


def test_ending_a_users_sessions_is_audited_and_spares_other_users(store):
    for name in ("ann", "bob"):
        store.create_user(name, "user", "x", 0, actor="t")
    now = utcnow()
    for token_hash, user in (("a1", "ann"), ("a2", "ann"), ("b1", "bob")):
        store.create_portal_session(portal_session(token_hash, user, now=now))
    version = store.state_version()
    assert store.live_session_count("ann", now) == 2
    assert store.end_user_sessions("ann", "lost laptop", now, actor="portal:root") == 2
    assert store.live_session_count("ann", now) == 0
    assert store.get_portal_session("b1").live(now)
    change = store.state_changes(1)[0]
    assert (change.actor, change.target, change.field, change.before, change.after,
            change.reason) == ("portal:root", "ann", "sessions", "2 live", "ended",
                               "lost laptop")
    assert store.state_version() == version  # nothing for the open pages to redraw
    assert store.end_user_sessions("ann", "again", now) == 0


def test_a_password_change_ends_the_users_sessions_in_its_transaction(store):
    store.create_user("ann", "user", "x", 0, actor="t")
    store.create_user("bob", "user", "x", 0, actor="t")
    now = utcnow()
    store.create_portal_session(portal_session("a1", "ann", now=now))
    store.create_portal_session(portal_session("b1", "bob", now=now))
    store.set_password_hash("ann", "y", "cli:root", "password changed")
    assert store.get_portal_session("a1").end_reason == "password changed"
    assert store.get_portal_session("b1").live(now)
    with pytest.raises(UnknownUserError):
        store.set_password_hash("ghost", "y", "cli:root", "no one")


def test_throttle_counts_all_or_nothing_and_refunds_only_its_own(store):
    now = utcnow()
    account, address = ThrottleRule("user:ann", 2, 60), ThrottleRule("ip:192.0.2.1", 3, 60)
    assert store.throttle_take([account, address], now) == 0
    assert store.throttle_take([account, address], now) == 0
    # The account refuses: the address must not count this attempt.
    assert store.throttle_take([account, address], now) > 0
    other = ThrottleRule("user:bob", 5, 60)
    assert store.throttle_take([other, address], now) == 0  # the address's third
    assert store.throttle_take([other, address], now) > 0
    store.throttle_refund("user:bob")  # bob's success gives back bob's attempt only
    assert store.throttle_take([other, address], now) > 0
    store.throttle_refund("ip:192.0.2.1")
    assert store.throttle_take([other, address], now) == 0
    for _ in range(5):
        store.throttle_refund("user:nobody")  # a key never counted: nothing happens
    assert store.throttle_take([ThrottleRule("user:nobody", 1, 60)], now) == 0


def test_concurrent_attempts_never_pass_the_limit(store):
    now = utcnow()
    rule = ThrottleRule("user:ann", 10, 900)
    allowed = []

    def attempt(index: int) -> None:
        if store.throttle_take([rule, ThrottleRule(f"ip:192.0.2.{index}", 30, 900)], now) == 0:
            allowed.append(index)

    run_threads(30, attempt)
    assert len(allowed) == 10


def test_old_sessions_and_finished_windows_are_purged(store):
    store.create_user("ann", "user", "x", 0, actor="t")
    now = utcnow()
    store.create_portal_session(portal_session("live", now=now))
    store.create_portal_session(portal_session("ended", now=now - timedelta(days=2)))
    store.end_portal_session("ended", "signed out", now - timedelta(days=2))
    store.create_portal_session(portal_session("idle", minutes=1, now=now - timedelta(days=3)))
    store.throttle_take([ThrottleRule("user:old", 1, 60)], now - timedelta(hours=1))
    store.throttle_take([ThrottleRule("user:new", 1, 60)], now)
    assert store.purge_sign_in_state(now) == 3
    assert store.get_portal_session("live") is not None
    assert store.get_portal_session("ended") is None and store.get_portal_session("idle") is None
    assert store.throttle_take([ThrottleRule("user:new", 1, 60)], now) > 0


def test_migration_6_takes_the_session_key_out_of_the_settings(engine, monkeypatch):
    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:4])
    old = engine.open()
    old.set_setting("portal.session_key", "the-old-key-in-the-database", "host", "first start",
                    secret=True)
    old.set_setting("users.self_signup", "false", "root", "kept")
    old.close()
    monkeypatch.undo()

    store = engine.open()
    try:
        assert store.schema_version() == schema.LATEST
        assert store.get_setting("portal.session_key") is None
        assert store.get_setting("users.self_signup") == "false"
    finally:
        store.close()
