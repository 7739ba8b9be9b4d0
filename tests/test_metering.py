"""Metered invocation through Host.call with the real meter_probe plugin and a real store.

Every path a call can take ends in one of two ways: refused before anything is written, or
recorded with its hold captured (success) or released (anything else). Every test runs in
DuckDB (holds in memory) and on PostgreSQL (durable holds; skipped without
$TOKENWORKS_TEST_POSTGRES).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from conftest import plugin_runs
from pgserver import throwaway_database

from tokenworks.errors import (
    CallRefused,
    FunctionDisabledError,
    IdempotencyConflictError,
    InsufficientTokensError,
    InvalidInputError,
    UnknownFunctionError,
    UnknownUserError,
)
from tokenworks.host import Host
from tokenworks.store import NewCall, utcnow

PROBE = "meter_probe.py"


@pytest.fixture(params=["duckdb", "postgres"])
def engine(request) -> Iterator[tuple[str, str | None]]:
    """(holds, store): DuckDB (holds in memory), and PostgreSQL (durable holds) on a
    throwaway database (skipped without $TOKENWORKS_TEST_POSTGRES, see tests/pgserver.py)."""
    if request.param == "postgres":
        with throwaway_database() as url:
            yield "durable", url
    else:
        yield "memory", None


@pytest.fixture
def holds(engine) -> str:
    return engine[0]


@pytest.fixture
def host(make_host, engine) -> Host:
    holds, store = engine
    # No background sweep: tests that need one call host.sweep() themselves.
    host = make_host(PROBE, sweep=False, store=store)
    assert host._store.holds == holds
    host._store.create_user("ann", "user", "x", 20, actor="test")
    return host


def held(host: Host, amount: int) -> int:
    """What a running call's hold takes off the stored balance: its cost when the hold is
    durable, nothing when it is in memory (the call is written when it ends)."""
    return amount if host._store.holds == "durable" else 0


def runs(host: Host) -> Counter[str]:
    """How often each probe function started, in any worker process."""
    return plugin_runs(host, "meter_probe")


def ledger(host: Host, user: str = "ann"):
    return host.ledger(user, limit=10_000)


def settled_kinds(host: Host, call_id: str) -> list[str]:
    return sorted(e.kind for e in host.ledger(limit=10_000) if e.call_id == call_id)


def assert_books(host: Host) -> None:
    report = host.verify_books()
    assert report.ok, report.problems
    for user in host.users():
        assert user.balance == sum(e.amount for e in ledger(host, user.name))


def assert_nothing_written(host: Host, ledger_before: int, calls_before: int = 0) -> None:
    assert len(host.ledger(limit=10_000)) == ledger_before
    assert len(host.calls(limit=10_000)) == calls_before


# -- success and the ways a call can go wrong -------------------------------------------


def test_success_charges_exactly_the_cost_by_hold_then_capture(host):
    outcome = host.call("probe_ok", "ann", {"text": "hi"}, call_id="c-ok")

    assert outcome.ok and outcome.status == "succeeded"
    assert outcome.charged == 3 and not outcome.replayed
    assert [b.text for b in outcome.blocks] == ["echo: hi"]
    assert host.balance("ann") == 17
    capture, hold, grant = ledger(host)
    assert (hold.kind, hold.amount, hold.call_id, hold.balance_after) == ("hold", -3, "c-ok", 17)
    assert (capture.kind, capture.amount, capture.call_id) == ("capture", 0, "c-ok")
    assert grant.kind == "grant"
    record = host.call_record("c-ok")
    assert (record.status, record.user, record.function, record.plugin) == (
        "succeeded", "ann", "probe_ok", "meter_probe")
    assert record.latency_ms is not None and record.finished_at is not None
    assert '"echo: hi"' in record.result_json
    assert_books(host)


@pytest.mark.parametrize(
    ("function", "status", "told", "detail_part"),
    [
        ("probe_fail", "failed", "probe_fail failed (reference c-bad)",
         "RuntimeError: probe failure for 'x'"),
        ("probe_bad_result", "invalid_result",
         "returned json blocks, which its spec does not declare", None),
        ("probe_garbage", "invalid_result",
         "returned an invalid result: the result is an object, not a list of blocks", None),
        ("probe_exit", "failed", "probe_exit failed (reference c-bad)",
         "SystemExit: probe_exit asked to exit"),
    ],
)
def test_a_call_that_goes_wrong_is_recorded_and_costs_nothing(host, function, status, told,
                                                              detail_part):
    outcome = host.call(function, "ann", {"text": "x"}, call_id="c-bad")

    assert outcome.status == status and not outcome.ok
    assert outcome.charged == 0 and outcome.blocks == []
    assert told in outcome.error
    assert runs(host)[function] == 1  # it did run: the release is not a refusal
    assert host.balance("ann") == 20
    assert settled_kinds(host, "c-bad") == ["hold", "release"]
    record = host.call_record("c-bad")
    assert (record.status, record.charged, record.result_json) == (status, 0, None)
    assert record.error == outcome.error
    [failed] = host.failed_calls()
    assert (failed.call_id, failed.status, failed.error) == ("c-bad", status, outcome.error)
    assert failed.detail
    if detail_part is not None:
        # The exception is for admins only: the caller is told no more than what happened.
        assert detail_part not in outcome.error
        assert detail_part in failed.detail and "Traceback (most recent call last)" in failed.detail
        assert "meter_probe.py" in failed.detail
    assert_books(host)


def test_system_exit_in_a_plugin_does_not_take_the_host_down(host):
    assert host.call("probe_exit", "ann", {"text": "bye"}).status == "failed"
    # The same host keeps serving calls afterwards.
    assert host.call("probe_ok", "ann", {"text": "still here"}).ok
    assert host.balance("ann") == 17


def test_timeout_releases_the_hold(host):
    started = time.perf_counter()
    outcome = host.call("probe_slow", "ann", {"seconds": 2}, call_id="c-slow")
    elapsed = time.perf_counter() - started

    assert outcome.status == "timeout" and outcome.charged == 0
    assert "timed out after 0.3 s" in outcome.error
    assert elapsed < 1.5  # returned at the timeout, not when the sleep ended
    assert host.balance("ann") == 20
    assert settled_kinds(host, "c-slow") == ["hold", "release"]
    assert host.call_record("c-slow").status == "timeout"
    assert_books(host)


def test_a_slow_call_does_not_block_other_calls(host):
    slow_done = threading.Event()
    slow_outcome = []

    def slow() -> None:
        slow_outcome.append(host.call("probe_maybe", "ann", {"seconds": 1.0}))
        slow_done.set()

    thread = threading.Thread(target=slow)
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while runs(host)["probe_maybe"] == 0 and time.monotonic() < deadline:
            time.sleep(0.005)  # wait until the slow body is really running
        assert runs(host)["probe_maybe"] == 1

        started = time.perf_counter()
        fast = host.call("probe_ok", "ann", {"text": "quick"})
        fast_seconds = time.perf_counter() - started

        assert fast.ok
        assert not slow_done.is_set()  # the slow call was still in flight meanwhile
        assert fast_seconds < 0.5
    finally:
        thread.join(10)
    assert slow_outcome[0].ok
    assert host.balance("ann") == 20 - 2 - 3
    assert_books(host)


def test_cost_zero_functions_run_without_ledger_entries(host):
    before = len(host.ledger(limit=10_000))

    outcome = host.call("probe_free", "ann", {"text": "gratis"}, call_id="c-free")

    assert outcome.ok and outcome.charged == 0
    assert host.call_record("c-free").status == "succeeded"
    assert len(host.ledger(limit=10_000)) == before
    assert host.balance("ann") == 20
    assert_books(host)


def test_a_user_with_no_tokens_can_still_call_a_free_function(host):
    host._store.create_user("zed", "user", "x", 0, actor="test")
    assert host.call("probe_free", "zed", {"text": "gratis"}).ok


# -- refusals: nothing runs, nothing is written -----------------------------------------


def test_unknown_function_is_refused_with_suggestions(host):
    with pytest.raises(UnknownFunctionError, match=r"did you mean .*probe_ok"):
        host.call("probe_okk", "ann", {"text": "hi"})
    assert_nothing_written(host, ledger_before=1)


def test_invalid_input_names_the_field_and_writes_nothing(host):
    with pytest.raises(InvalidInputError) as refused:
        host.call("probe_ok", "ann", {"text": ""}, call_id="c-invalid")

    fields = [field for field, _message in refused.value.problems]
    assert fields == ["text"]
    assert refused.value.function == "probe_ok"
    assert "text" in str(refused.value)

    with pytest.raises(InvalidInputError) as missing:
        host.call("probe_slow", "ann", {}, call_id="c-invalid")
    assert [field for field, _ in missing.value.problems] == ["seconds"]

    assert runs(host)["probe_ok"] == 0
    assert_nothing_written(host, ledger_before=1)


def test_a_disabled_function_is_refused_and_nothing_is_charged(host):
    host.set_function_enabled("probe_ok", False, actor="admin", reason="broken")

    with pytest.raises(FunctionDisabledError, match="nothing was charged"):
        host.call("probe_ok", "ann", {"text": "hi"})

    assert runs(host)["probe_ok"] == 0
    assert_nothing_written(host, ledger_before=1)
    # Switching it back on takes effect for the very next call.
    host.set_function_enabled("probe_ok", True, actor="admin", reason="fixed")
    assert host.call("probe_ok", "ann", {"text": "hi"}).ok


def test_a_disabled_plugin_refuses_its_functions(host):
    host.set_plugin_enabled("meter_probe", False, actor="admin", reason="maintenance")

    with pytest.raises(FunctionDisabledError, match="plugin 'meter_probe' is switched off"):
        host.call("probe_free", "ann", {"text": "hi"})

    assert runs(host)["probe_free"] == 0
    assert_nothing_written(host, ledger_before=1)


def test_too_few_tokens_is_refused_before_the_function_runs(host):
    host._store.create_user("poor", "user", "x", 2, actor="test")

    with pytest.raises(InsufficientTokensError) as refused:
        host.call("probe_ok", "poor", {"text": "hi"}, call_id="c-poor")

    assert (refused.value.needed, refused.value.balance) == (3, 2)
    assert runs(host)["probe_ok"] == 0
    assert host.balance("poor") == 2
    assert host.call_record("c-poor") is None
    assert_nothing_written(host, ledger_before=2)
    # Not a poisoned id: with tokens the same call id goes through.
    host.grant("poor", 1, actor="admin", reason="top up")
    assert host.call("probe_ok", "poor", {"text": "hi"}, call_id="c-poor").ok
    assert host.balance("poor") == 0


def test_an_admin_cost_change_applies_to_the_next_call(host):
    host.set_cost("probe_ok", 7, actor="admin", reason="dearer")
    assert host.call("probe_ok", "ann", {"text": "hi"}).charged == 7
    assert host.balance("ann") == 13
    assert_books(host)


@pytest.mark.parametrize("function", ["probe_ok", "probe_free"])
def test_an_unknown_user_is_refused(host, function):
    with pytest.raises(UnknownUserError):
        host.call(function, "ghost", {"text": "hi"})
    assert runs(host)[function] == 0
    assert_nothing_written(host, ledger_before=1)


def test_a_malformed_call_id_is_refused(host):
    with pytest.raises(CallRefused, match="call id"):
        host.call("probe_ok", "ann", {"text": "hi"}, call_id="no spaces allowed")
    assert_nothing_written(host, ledger_before=1)


# -- idempotency ------------------------------------------------------------------------


def test_the_same_call_id_is_charged_once_and_replays_the_first_outcome(host):
    first = host.call("probe_ok", "ann", {"text": "hi"}, call_id="c-1")
    second = host.call("probe_ok", "ann", {"text": "hi"}, call_id="c-1")

    assert first.ok and not first.replayed
    assert second.replayed and second.status == "succeeded"
    assert second.charged == 3  # what the call cost, reported again, not charged again
    assert second.blocks == first.blocks
    assert runs(host)["probe_ok"] == 1
    assert host.balance("ann") == 17
    assert settled_kinds(host, "c-1") == ["capture", "hold"]
    assert_books(host)


def test_a_failed_first_outcome_is_replayed_not_retried(host):
    first = host.call("probe_maybe", "ann", {"fail": True, "tag": "a"}, call_id="c-f")
    second = host.call("probe_maybe", "ann", {"fail": True, "tag": "a"}, call_id="c-f")

    assert first.status == second.status == "failed"
    assert second.replayed and second.charged == 0
    assert second.error == first.error
    assert runs(host)["probe_maybe"] == 1
    assert host.balance("ann") == 20
    assert settled_kinds(host, "c-f") == ["hold", "release"]


@pytest.mark.parametrize("switch", ["function", "plugin"])
def test_a_retry_after_the_kill_switch_replays_the_first_outcome(host, switch):
    # The switch stops new calls; a retry of a call already charged is not a new call, and
    # refusing it with "nothing was charged" would be false.
    first = host.call("probe_ok", "ann", {"text": "hi"}, call_id="c-k")
    if switch == "function":
        host.set_function_enabled("probe_ok", False, actor="admin", reason="off")
    else:
        host.set_plugin_enabled("meter_probe", False, actor="admin", reason="off")

    again = host.call("probe_ok", "ann", {"text": "hi"}, call_id="c-k")

    assert again.replayed and again.status == "succeeded" and again.blocks == first.blocks
    assert runs(host)["probe_ok"] == 1
    assert host.balance("ann") == 17
    with pytest.raises(FunctionDisabledError):  # a new call id is a new call: refused
        host.call("probe_ok", "ann", {"text": "hi"}, call_id="c-k2")
    with pytest.raises(IdempotencyConflictError):
        host.call("probe_ok", "ann", {"text": "other"}, call_id="c-k")


def test_a_call_id_reused_for_a_different_call_is_refused(host):
    host._store.create_user("bo", "user", "x", 20, actor="test")
    host.call("probe_ok", "ann", {"text": "hi"}, call_id="c-1")

    for function, user, payload in [
        ("probe_ok", "ann", {"text": "other input"}),
        ("probe_fail", "ann", {"text": "hi"}),
        ("probe_ok", "bo", {"text": "hi"}),
    ]:
        with pytest.raises(IdempotencyConflictError, match="c-1"):
            host.call(function, user, payload, call_id="c-1")

    assert runs(host)["probe_ok"] == 1 and runs(host)["probe_fail"] == 0
    assert (host.balance("ann"), host.balance("bo")) == (17, 20)
    assert_books(host)


def test_input_defaults_do_not_change_the_idempotency_key(host):
    # The key hashes the validated input, so spelling out a default is the same call.
    host.call("probe_maybe", "ann", {"tag": "t"}, call_id="c-d")
    again = host.call("probe_maybe", "ann", {"tag": "t", "fail": False, "seconds": 0},
                      call_id="c-d")
    assert again.replayed
    assert host.balance("ann") == 18


def test_a_replay_while_the_first_call_runs_waits_for_its_outcome(host):
    results = []
    first = threading.Thread(target=lambda: results.append(
        host.call("probe_maybe", "ann", {"seconds": 0.3}, call_id="c-r")))
    first.start()
    try:
        deadline = time.monotonic() + 5
        while runs(host)["probe_maybe"] == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        replay = host.call("probe_maybe", "ann", {"seconds": 0.3}, call_id="c-r")
    finally:
        first.join(10)
    assert replay.replayed and replay.status == "succeeded"
    assert runs(host)["probe_maybe"] == 1
    assert host.balance("ann") == 18


# -- crash recovery inside one process --------------------------------------------------


def stale_call(call_id: str, cost: int = 3) -> NewCall:
    return NewCall(
        call_id=call_id, user="ann", function="probe_ok", plugin="meter_probe",
        plugin_version="local", cost=cost, input_hash="h", input_json="{}",
        deadline_at=utcnow() - timedelta(hours=1),
    )


def test_the_sweep_releases_a_hold_past_its_deadline(host):
    host._store.begin_call(stale_call("c-stale"))
    assert host.balance("ann") == 20 - held(host, 3)
    assert host.verify_books().open_holds == 1

    assert host.sweep() == ["c-stale"]

    record = host.call_record("c-stale")
    assert record.status == "abandoned" and record.charged == 0
    assert host.balance("ann") == 20
    assert settled_kinds(host, "c-stale") == ["hold", "release"]
    assert host.sweep() == []
    # The worker finishing late must not settle it a second time.
    assert host._store.finish_call(stale_call("c-stale"), "succeeded", 5.0, "[]") is None
    assert settled_kinds(host, "c-stale") == ["hold", "release"]
    assert host.call_record("c-stale").status == "abandoned"
    assert_books(host)


def test_the_sweep_leaves_calls_within_their_deadline_and_grace(host):
    host._store.begin_call(replace(stale_call("c-young"), deadline_at=utcnow()))
    # hold_grace defaults to 60 s: a deadline just passed is not stale yet.
    assert host.sweep() == []
    assert host.call_record("c-young").status == "running"


def test_a_new_host_releases_every_running_call_at_start(make_host, host, engine):
    if engine[1] is not None:
        pytest.skip("a shared store releases only overdue calls at start (test_postgres.py)")
    host._store.begin_call(stale_call("c-a"))
    host._store.begin_call(replace(stale_call("c-b"), deadline_at=utcnow() + timedelta(hours=1)))
    assert host.balance("ann") == 20 - held(host, 6)
    host.close()

    restarted = make_host(PROBE, sweep=False)

    # The holds were in memory and went with the process: nothing was written. (Calls that
    # durable holds of an earlier version left running: test_crash.py.)
    assert restarted.calls() == []
    assert restarted.balance("ann") == 20
    report = restarted.verify_books()
    assert report.ok and report.open_holds == 0
    assert restarted._store.finish_call(stale_call("c-b"), "succeeded", 1.0, "[]") is None
    assert restarted.verify_books().ok
    assert restarted.balance("ann") == 20


def test_a_call_settled_by_the_sweep_while_running_costs_nothing(host):
    results = []
    worker = threading.Thread(target=lambda: results.append(
        host.call("probe_maybe", "ann", {"seconds": 0.3}, call_id="c-late")))
    worker.start()
    try:
        deadline = time.monotonic() + 5
        while runs(host)["probe_maybe"] == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        # What a sweep does when a call outlives its deadline and grace.
        assert host._store.release_abandoned(None, "swept") == ["c-late"]
    finally:
        worker.join(10)

    [outcome] = results
    assert outcome.status == "abandoned" and outcome.charged == 0
    assert outcome.balance_after == 20  # what the caller shows, without reading again
    assert host.balance("ann") == 20
    assert settled_kinds(host, "c-late") == ["hold", "release"]
    assert_books(host)


# -- logging ----------------------------------------------------------------------------


def test_calls_and_failures_are_logged_with_the_call_id(host, caplog):
    caplog.set_level(logging.INFO, logger="tokenworks.calls")

    host.call("probe_ok", "ann", {"text": "hi"}, call_id="log-ok")
    host.call("probe_fail", "ann", {"text": "hi"}, call_id="log-fail")
    host.call("probe_ok", "ann", {"text": "hi"}, call_id="log-ok")

    records = [r for r in caplog.records if r.name == "tokenworks.calls"]
    by_id = {}
    for record in records:
        for call_id in ("log-ok", "log-fail"):
            if call_id in record.getMessage():
                by_id.setdefault(call_id, []).append(record)
    ok_messages = [r.getMessage() for r in by_id["log-ok"]]
    assert any("succeeded" in m and "charged 3" in m for m in ok_messages)
    assert any("replayed" in m for m in ok_messages)
    [failure] = [r for r in by_id["log-fail"] if r.levelno == logging.WARNING]
    assert "nothing charged" in failure.getMessage()
    assert "RuntimeError" in failure.getMessage()


def test_calls_that_hang_past_their_timeout_do_not_starve_later_calls(make_host):
    host = make_host(PROBE, registry="[workers]\ncount = 2\n", sweep=False)
    host._store.create_user("ann", "user", "x", 20, actor="test")

    for _ in range(2):  # each would sleep 2 s; its worker is killed at 0.3 s
        assert host.call("probe_slow", "ann", {"seconds": 2}).status == "timeout"
    started = time.perf_counter()
    outcome = host.call("probe_ok", "ann", {"text": "still served"})

    assert outcome.ok and time.perf_counter() - started < 1.0
    assert host.balance("ann") == 17
    assert_books(host)


def test_an_input_model_raising_outside_pydantic_is_refused_uncharged(make_host):
    host = make_host("raising_model.py")
    host.add_user("ann", password="ann-password", actor="test")
    host.grant("ann", 5, actor="test", reason="test")
    with pytest.raises(InvalidInputError) as refused:
        host.call("picky", "ann", {"text": "boom"})
    assert refused.value.problems == [("(input)", "cannot compare that")]
    assert host.balance("ann") == 5 and host.calls("ann") == []
    assert host.call("picky", "ann", {"text": "fine"}).ok
