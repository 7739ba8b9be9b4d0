"""Monitoring's sections on what went wrong: the workers' state and the failed calls, each
with why (the exception and its traceback, or how a worker ended) for the admin to act on.

Not a page: monitoring.py draws these sections. Users never see this detail; their message
names the call id, which the filter here finds.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from tokenworks.host import Host

SHOWN = 50  # failed calls listed; the CLI's `tokenworks calls --failed` goes further


def workers_section(host: Host) -> None:
    st.subheader("Workers")
    stats = host.worker_stats()
    cells = st.columns(4)
    cells[0].metric("Worker processes", stats["workers"])
    cells[1].metric("Idle", stats["idle"])
    cells[2].metric("Calls running", stats["running"])
    cells[3].metric("Calls waiting", stats["waiting"])
    reasons = host.health()
    if reasons:
        st.warning("Degraded: " + "; ".join(reasons))
    failed = [view for view in host.plugins() if view.status == "failed"]
    if failed:
        st.caption("Plugins that failed to load (details on Plugins and functions): "
                   + ", ".join(view.name for view in failed))


def failed_calls_section(host: Host) -> None:
    st.subheader("Failed calls")
    names = ["all functions", *sorted(view.spec.name for view in host.functions())]
    left, right = st.columns([2, 3])
    chosen = left.selectbox("Function", names, key="failed_function")
    reference = right.text_input("Call id (from a user's message)", key="failed_call_id",
                                 placeholder="e.g. 3f2a9c1b…").strip()
    function = None if chosen == names[0] else chosen
    failures = host.failed_calls(SHOWN, function=function)
    if reference:
        failures = [f for f in failures if f.call_id.startswith(reference)] or [
            f for f in host.failed_calls(10 * SHOWN, function=function)
            if f.call_id.startswith(reference)]
    if not failures:
        st.caption("No failed calls." if not reference else "No failed call with that id.")
        return
    table = pd.DataFrame([{
        "started (UTC)": f.started_at, "function": f.function, "user": f.user,
        "status": f.status, "why": _first_line(f.detail or f.error),
        "call id": f.call_id} for f in failures])
    st.dataframe(table, hide_index=True, width="stretch")
    for failure in failures[:10]:
        with st.expander(f"{failure.started_at:%Y-%m-%d %H:%M:%S} · {failure.function} · "
                         f"{failure.status} · {failure.call_id}"):
            st.write(f"The user ({failure.user}) was told: {failure.error or '(nothing)'}")
            st.code(failure.detail or "No detail was kept for this call.", language=None)


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if text and text.strip() else ""
