"""Monitoring figures computed from call records: pure functions, no Streamlit.
Rates are shares of the finished calls; running calls count as calls but have no latency,
outcome or charge yet.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from tokenworks.store import CallRecord

ERROR_STATUSES = frozenset({"failed", "invalid_result", "abandoned"})
TIMEOUT_STATUS = "timeout"
OUTCOMES = ("succeeded", "errors", "timeouts", "running")
COLUMNS = ["function", "user", "status", "cost", "charged", "latency_ms", "started_at"]


def outcome(status: str) -> str:
    """The monitoring outcome of a call status (one of OUTCOMES)."""
    if status == "succeeded":
        return "succeeded"
    if status == TIMEOUT_STATUS:
        return "timeouts"
    if status == "running":
        return "running"
    return "errors"


def frame(calls: Iterable[CallRecord]) -> pd.DataFrame:
    """One row per call, with the columns the figures need plus its outcome."""
    rows = [(c.function, c.user, c.status, c.cost, c.charged, c.latency_ms, c.started_at)
            for c in calls]
    data = pd.DataFrame(rows, columns=COLUMNS)
    data["latency_ms"] = data["latency_ms"].astype("float64")
    data["started_at"] = pd.to_datetime(data["started_at"])
    data["outcome"] = data["status"].map(outcome).astype("object")
    return data


@dataclass(frozen=True)
class Summary:
    calls: int
    finished: int
    running: int
    errors: int
    timeouts: int
    tokens: int

    @property
    def error_rate(self) -> float:
        return self.errors / self.finished if self.finished else 0.0

    @property
    def timeout_rate(self) -> float:
        return self.timeouts / self.finished if self.finished else 0.0


def summary(calls: Iterable[CallRecord]) -> Summary:
    data = frame(calls)
    counts = data["outcome"].value_counts()
    running = int(counts.get("running", 0))
    return Summary(calls=len(data), finished=len(data) - running, running=running,
                   errors=int(counts.get("errors", 0)), timeouts=int(counts.get("timeouts", 0)),
                   tokens=int(data["charged"].sum()))


def calls_per_minute(
    calls: Iterable[CallRecord], start: datetime | None = None, end: datetime | None = None,
) -> pd.DataFrame:
    """Calls started in each minute, by outcome, plus a ``calls`` total.

    Indexed by the minute (naive UTC, like the store); every minute from ``start`` (or the
    first call) to ``end`` (or the last call) is present, minutes without calls as zeros.
    """
    data = frame(calls)
    minutes = data["started_at"].dt.floor("min")
    counts = pd.crosstab(minutes, data["outcome"]) if len(data) else pd.DataFrame()
    counts = counts.reindex(columns=list(OUTCOMES), fill_value=0)
    first = pd.Timestamp(start).floor("min") if start is not None else (
        minutes.min() if len(data) else None)
    last = pd.Timestamp(end).floor("min") if end is not None else (
        minutes.max() if len(data) else None)
    if first is not None and last is not None and first <= last:
        counts = counts.reindex(pd.date_range(first, last, freq="min"), fill_value=0)
    counts = counts.astype("int64")
    counts["calls"] = counts[list(OUTCOMES)].sum(axis=1)
    counts.index.name = "minute"
    counts.columns.name = None
    return counts


def latency_by_function(calls: Iterable[CallRecord]) -> pd.DataFrame:
    """p50 and p95 latency (ms) per function over its finished calls, slowest p95 first."""
    data = frame(calls)
    timed = data[(data["outcome"] != "running") & data["latency_ms"].notna()]
    grouped = timed.groupby("function")["latency_ms"]
    table = pd.DataFrame({
        "calls": grouped.size(),
        "p50_ms": grouped.quantile(0.50),
        "p95_ms": grouped.quantile(0.95),
    })
    table = table.reindex(columns=["calls", "p50_ms", "p95_ms"])
    return table.sort_values(["p95_ms", "p50_ms"], ascending=False)


def outcome_rates(calls: Iterable[CallRecord]) -> pd.DataFrame:
    """Per function: finished calls, errors, timeouts and their rates, worst first."""
    data = frame(calls)
    finished = data[data["outcome"] != "running"]
    counts = pd.crosstab(finished["function"], finished["outcome"]) if len(finished) else (
        pd.DataFrame())
    counts = counts.reindex(columns=["succeeded", "errors", "timeouts"], fill_value=0)
    counts = counts.astype("int64")
    counts.insert(0, "finished", counts.sum(axis=1))
    counts["error_rate"] = counts["errors"] / counts["finished"]
    counts["timeout_rate"] = counts["timeouts"] / counts["finished"]
    counts.index.name = "function"
    counts.columns.name = None
    return counts.sort_values(["error_rate", "timeout_rate"], ascending=False)


def tokens_by(calls: Iterable[CallRecord], key: str) -> pd.DataFrame:
    """Tokens spent and calls made per ``key`` ("function" or "user"), most tokens first."""
    if key not in ("function", "user"):
        raise ValueError(f"tokens are totalled by function or user, not {key!r}")
    data = frame(calls)
    grouped = data.groupby(key)
    table = pd.DataFrame({"tokens": grouped["charged"].sum(), "calls": grouped.size()})
    table = table.reindex(columns=["tokens", "calls"]).fillna(0).astype("int64")
    return table.sort_values(["tokens", "calls"], ascending=False)
