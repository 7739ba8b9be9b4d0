"""Admin page: every plugin and function, switches, cost overrides and the result cache.

Streamlit runs this file as a script (see navigation.py).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from tokenworks.host import Host
from tokenworks.portals.admin import common
from tokenworks.portals.runtime import get_host, require_admin
from tokenworks.result_cache import ttl_text

SWITCH = {"on": True, "off": False}


def plugins_table(host: Host) -> None:
    st.subheader("Plugins")
    views = host.plugins()
    rows = [{
        "plugin": view.name,
        "status": view.status,
        "source": view.plugin.source,
        "version": view.plugin.version,
        "load ms": round(view.plugin.load_ms, 1),
        "functions": len(view.plugin.functions),
        "origin": view.plugin.origin,
        "error": (view.plugin.error or "").splitlines()[0] if view.plugin.error else "",
    } for view in views]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    for record in (view.plugin for view in views):
        if record.status == "loaded":
            continue
        with st.expander(f"{record.name}: {record.status}", icon=":material/error:"):
            st.error(record.error or "no error message was recorded")
            if record.traceback:
                st.code(record.traceback, language="text")


def functions_table(host: Host) -> None:
    st.subheader("Functions")
    rows = [{
        "function": view.spec.name,
        "title": view.spec.title,
        "plugin": view.spec.plugin,
        "cost": view.cost,
        "plugin's cost": view.spec.cost,
        "enabled": view.enabled,
        "cache": ttl_text(view.spec.cache_ttl),
        "why off": view.why_disabled() or "",
    } for view in sorted(host.functions(), key=lambda view: view.spec.name)]
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    else:
        st.info("No functions are registered.")


def switch_plugin_form(host: Host) -> None:
    names = [view.name for view in host.plugins() if view.loaded]
    with st.form("switch_plugin"):
        st.markdown("**Switch a whole plugin**")
        name = st.selectbox("Plugin", names, key="plugin_name")
        state = st.radio("Switch", list(SWITCH), horizontal=True, key="plugin_state")
        reason = st.text_input("Reason (required)", key="plugin_reason")
        if st.form_submit_button("Apply", disabled=not names, key="plugin_submit"):
            common.act(lambda who: (
                f"Plugin {name} switched {state}." if host.set_plugin_enabled(
                    name, SWITCH[state], actor=who, reason=reason) else None), reason)


def switch_function_form(host: Host, names: list[str]) -> None:
    with st.form("switch_function"):
        st.markdown("**Switch a function**")
        name = st.selectbox("Function", names, key="function_name")
        state = st.radio("Switch", list(SWITCH), horizontal=True, key="function_state")
        reason = st.text_input("Reason (required)", key="function_reason")
        if st.form_submit_button("Apply", disabled=not names, key="function_submit"):
            common.act(lambda who: (
                f"{name} switched {state}." if host.set_function_enabled(
                    name, SWITCH[state], actor=who, reason=reason) else None), reason)


def cost_form(host: Host, names: list[str]) -> None:
    with st.form("set_cost"):
        st.markdown("**Override a cost**")
        name = st.selectbox("Function", names, key="cost_function")
        cost = st.number_input("Cost in tokens", min_value=0, step=1, value=0, key="cost_value")
        reason = st.text_input("Reason (required)", key="cost_reason")
        if st.form_submit_button("Set cost", disabled=not names, key="cost_submit"):
            def set_cost(who: str) -> str:
                host.set_cost(name, int(cost), actor=who, reason=reason)
                return f"{name} now costs {int(cost)} tokens."
            common.act(set_cost, reason)


def cache_form(host: Host, names: list[str]) -> None:
    """Drop cached results: all, or one cacheable function's (their next calls run it)."""
    every = "all functions"
    with st.form("clear_cache"):
        st.markdown("**Clear the result cache**")
        st.caption("Cached answers are charged like any other; clearing makes the next "
                   "calls run the function again.")
        name = st.selectbox("Function", [every, *names], key="cache_function")
        reason = st.text_input("Reason (required)", key="cache_reason")
        if st.form_submit_button("Clear cache", key="cache_submit"):
            def clear(who: str) -> str:
                target = None if name == every else name
                dropped = host.clear_cache(target, actor=who, reason=reason)
                return f"Dropped {dropped} cached results of {name}."
            common.act(clear, reason)


def page() -> None:
    require_admin()
    host = get_host()
    common.header("Plugins and functions",
                  "Every change needs a reason and is written to the audit log.")
    plugins_table(host)
    functions_table(host)
    names = sorted(view.spec.name for view in host.functions())
    left, middle, right = st.columns(3)
    with left:
        switch_function_form(host, names)
    with middle:
        cost_form(host, names)
    with right:
        switch_plugin_form(host)
    cacheable = sorted(view.spec.name for view in host.functions() if view.spec.cache_ttl)
    if cacheable:
        left, _, _ = st.columns(3)
        with left:
            cache_form(host, cacheable)


page()
