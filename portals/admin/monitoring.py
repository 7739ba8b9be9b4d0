"""Admin page: calls, latency, errors and tokens over a chosen window, charts with numbers.

Streamlit runs this file as a script (see navigation.py). The figures come from
portals/stats.py; this page only lays them out.
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from tokenworks.portals import stats
from tokenworks.portals.admin import common, failures, storage
from tokenworks.portals.runtime import get_host, require_admin
from tokenworks.store import utcnow

WINDOW_CHOICES = [label for label in common.WINDOWS if common.WINDOWS[label] is not None]
OUTCOME_COLORS = ["#2e7d32", "#c62828", "#ef6c00", "#9e9e9e"]  # in stats.OUTCOMES order


def per_minute_chart(per_minute: pd.DataFrame) -> alt.Chart:
    """Stacked bars per minute, one fixed colour per outcome (green = succeeded)."""
    long = per_minute[list(stats.OUTCOMES)].reset_index().melt(
        "minute", var_name="outcome", value_name="calls")
    # Aware timestamps and a UTC scale: the axis shows UTC whatever the browser's zone.
    long["minute"] = long["minute"].dt.tz_localize("UTC")
    return alt.Chart(long).mark_bar().encode(
        x=alt.X("minute:T", title="minute (UTC)", scale=alt.Scale(type="utc"),
                axis=alt.Axis(format="%H:%M")),
        y=alt.Y("sum(calls):Q", title="calls"),
        color=alt.Color("outcome:N", scale=alt.Scale(domain=list(stats.OUTCOMES),
                                                     range=OUTCOME_COLORS)),
        tooltip=["minute:T", "outcome:N", "calls:Q"],
    )


def chart_and_table(title: str, chart: pd.DataFrame | alt.Chart, table: pd.DataFrame, *,
                    stack: bool | None = None, percent: tuple[str, ...] = ()) -> None:
    st.subheader(title)
    if table.empty:
        st.caption("No calls in this window.")
        return
    left, right = st.columns([3, 2])
    with left:
        if isinstance(chart, alt.Chart):
            st.altair_chart(chart.properties(height=260), width="stretch")
        else:
            st.bar_chart(chart, stack=stack, height=260)
    with right:
        config = {column: st.column_config.NumberColumn(column, format="percent")
                  for column in percent}
        st.dataframe(table, column_config=config, width="stretch", height=260)


def page() -> None:
    require_admin()
    host = get_host()
    common.header("Monitoring", "The workers now, and the calls started in the chosen "
                                "window; times in UTC.")
    storage.show_quarantined_journals(host)
    failures.workers_section(host)

    st.subheader("Calls")
    label = st.selectbox("Window", WINDOW_CHOICES, index=1, key="monitor_window")
    now = utcnow()
    start = common.window_start(label, now)
    calls = host.calls_since(start)
    summary = stats.summary(calls)
    cells = st.columns(5)
    cells[0].metric("Calls", summary.calls)
    cells[1].metric("Running", summary.running)
    cells[2].metric("Error rate", f"{summary.error_rate:.1%}")
    cells[3].metric("Timeout rate", f"{summary.timeout_rate:.1%}")
    cells[4].metric("Tokens spent", summary.tokens)
    st.caption("Rates are shares of the finished calls. Errors: failed, invalid result or "
               "abandoned; tokens spent: what successful calls cost.")

    per_minute = stats.calls_per_minute(calls, start, now)
    busy = per_minute[per_minute["calls"] > 0][["calls", *stats.OUTCOMES]]
    chart_and_table("Calls per minute", per_minute_chart(per_minute), busy)

    latency = stats.latency_by_function(calls)
    chart_and_table("Latency per function (ms)", latency[["p50_ms", "p95_ms"]], latency,
                    stack=False)

    rates = stats.outcome_rates(calls)
    chart_and_table("Error and timeout rates per function",
                    rates[["error_rate", "timeout_rate"]], rates, stack=False,
                    percent=("error_rate", "timeout_rate"))

    for key in ("function", "user"):
        tokens = stats.tokens_by(calls, key)
        chart_and_table(f"Tokens spent by {key}", tokens[["tokens"]], tokens)

    failures.failed_calls_section(host)


page()
