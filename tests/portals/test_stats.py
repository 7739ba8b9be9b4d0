"""The monitoring figures, from hand-made call records (no Streamlit, no store)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tokenworks.portals import stats
from tokenworks.store import CallRecord

T0 = datetime(2025, 3, 1, 12, 0, 0)


def call(function: str, user: str, status: str, cost: int, latency: float | None,
         second: float) -> CallRecord:
    started = T0 + timedelta(seconds=second)
    return CallRecord(
        call_id=f"{function}-{second}", user=user, function=function, plugin="p",
        plugin_version="1", cost=cost, status=status, input_hash="h", input_json="{}",
        result_json=None, error=None, started_at=started, deadline_at=started,
        finished_at=None if status == "running" else started, latency_ms=latency)


# alpha: five successes (10..50 ms) and one failure (100 ms); beta: one timeout, one
# invalid result, one success, one still running. Minutes 12:00, 12:01 and 12:03.
CALLS = [
    call("alpha", "ann", "succeeded", 2, 10, 0),
    call("alpha", "ann", "succeeded", 2, 20, 10),
    call("alpha", "bo", "succeeded", 2, 30, 20),
    call("alpha", "bo", "succeeded", 2, 40, 61),
    call("alpha", "bo", "succeeded", 2, 50, 62),
    call("alpha", "ann", "failed", 2, 100, 63),
    call("beta", "ann", "timeout", 5, 300, 64),
    call("beta", "bo", "invalid_result", 5, 7, 185),
    call("beta", "bo", "succeeded", 5, 9, 186),
    call("beta", "cy", "running", 5, None, 187),
]


def test_outcome_classifies_every_status() -> None:
    assert [stats.outcome(s) for s in
            ("succeeded", "failed", "timeout", "invalid_result", "abandoned", "running")] == [
        "succeeded", "errors", "timeouts", "errors", "errors", "running"]


def test_summary() -> None:
    summary = stats.summary(CALLS)
    assert (summary.calls, summary.finished, summary.running) == (10, 9, 1)
    assert (summary.errors, summary.timeouts) == (2, 1)
    assert summary.error_rate == pytest.approx(2 / 9)
    assert summary.timeout_rate == pytest.approx(1 / 9)
    assert summary.tokens == 5 * 2 + 5  # only successes are charged


def test_calls_per_minute_fills_empty_minutes() -> None:
    table = stats.calls_per_minute(CALLS)
    assert [str(minute.time()) for minute in table.index] == [
        "12:00:00", "12:01:00", "12:02:00", "12:03:00"]
    assert table["calls"].tolist() == [3, 4, 0, 3]
    assert table["succeeded"].tolist() == [3, 2, 0, 1]
    assert table["errors"].tolist() == [0, 1, 0, 1]
    assert table["timeouts"].tolist() == [0, 1, 0, 0]
    assert table["running"].tolist() == [0, 0, 0, 1]


def test_calls_per_minute_over_a_window() -> None:
    table = stats.calls_per_minute(CALLS, start=T0 - timedelta(minutes=2),
                                   end=T0 + timedelta(minutes=5, seconds=30))
    assert len(table) == 8  # 11:58 .. 12:05
    assert table["calls"].sum() == 10
    assert table["calls"].iloc[:2].tolist() == [0, 0]
    empty = stats.calls_per_minute([], start=T0, end=T0 + timedelta(minutes=2))
    assert empty["calls"].tolist() == [0, 0, 0]
    assert stats.calls_per_minute([]).empty


def test_latency_percentiles_per_function() -> None:
    table = stats.latency_by_function(CALLS)
    assert table.index.tolist() == ["beta", "alpha"]  # slowest p95 first
    alpha = table.loc["alpha"]
    assert alpha["calls"] == 6
    assert alpha["p50_ms"] == pytest.approx(35.0)  # between 30 and 40
    assert alpha["p95_ms"] == pytest.approx(87.5)  # 50 + 0.75 * (100 - 50)
    beta = table.loc["beta"]
    assert beta["calls"] == 3  # the running call has no latency yet
    assert beta["p50_ms"] == pytest.approx(9.0)
    assert beta["p95_ms"] == pytest.approx(9 + 0.9 * (300 - 9))


def test_error_and_timeout_rates_per_function() -> None:
    table = stats.outcome_rates(CALLS)
    assert table.index.tolist() == ["beta", "alpha"]  # worst error rate first
    assert table.loc["alpha", ["finished", "succeeded", "errors", "timeouts"]].tolist() == [
        6, 5, 1, 0]
    assert table.loc["alpha", "error_rate"] == pytest.approx(1 / 6)
    assert table.loc["beta", ["finished", "succeeded", "errors", "timeouts"]].tolist() == [
        3, 1, 1, 1]
    assert table.loc["beta", "timeout_rate"] == pytest.approx(1 / 3)
    assert stats.outcome_rates([]).empty


def test_tokens_by_function_and_user() -> None:
    by_function = stats.tokens_by(CALLS, "function")
    assert by_function.to_dict("index") == {
        "alpha": {"tokens": 10, "calls": 6}, "beta": {"tokens": 5, "calls": 4}}
    by_user = stats.tokens_by(CALLS, "user")
    assert by_user.index.tolist() == ["bo", "ann", "cy"]
    assert by_user["tokens"].tolist() == [2 + 2 + 2 + 5, 2 + 2, 0]
    assert by_user["calls"].tolist() == [5, 4, 1]
    with pytest.raises(ValueError):
        stats.tokens_by(CALLS, "plugin")


def test_empty_input_gives_empty_tables() -> None:
    assert stats.latency_by_function([]).empty
    assert stats.tokens_by([], "user").empty
    assert stats.summary([]).error_rate == 0.0
