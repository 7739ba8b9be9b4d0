"""Portal page: the user's own calls; open a past result, or run it again.

Streamlit runs this file as a script.
"""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from tokenworks.blocks import blocks_from_json
from tokenworks.portals import render, running
from tokenworks.portals.inert import inert_markdown
from tokenworks.portals.runtime import get_host
from tokenworks.portals.userkit import RUN_PAGE, user_or_stop, when
from tokenworks.store import CallRecord

LIMIT = 200
OPEN_KEY = "tw_history_open"


def table(calls: list[CallRecord], titles: dict[str, str]) -> None:
    st.dataframe(pd.DataFrame([{
        "when": when(call.started_at), "function": titles.get(call.function, call.function),
        "status": call.status, "cached": call.cached, "charged": call.charged,
        "cost": call.cost,
        "seconds": None if call.latency_ms is None else round(call.latency_ms / 1000, 2),
        "call": call.call_id,
    } for call in calls]), hide_index=True)


def details(call: CallRecord, title: str, runnable: bool) -> None:
    st.subheader(f"{title} · {when(call.started_at)}")
    charged = (f"charged {call.charged} tokens" if call.status == "succeeded"
               else "no tokens were taken")
    cached = " · cached result (charged as usual)" if call.cached else ""
    st.caption(f"Call {call.call_id} · {call.status} · {charged}{cached}")
    if call.error:
        st.error(inert_markdown(call.error))
    with st.expander("Input"):
        st.json(json.loads(call.input_json))
    if runnable and st.button("Run again", icon=":material/replay:",
                              help="Open the function with this input in its form"):
        st.session_state[running.PREFILL] = {"function": call.function,
                                             "input": json.loads(call.input_json)}
        st.switch_page(RUN_PAGE, query_params={"function": call.function})
    if not runnable:
        st.caption("This function cannot be run right now.")
    if call.result_json:
        try:
            blocks = blocks_from_json(call.result_json)
        except ValueError as error:  # a result stored by an older block format
            st.warning(f"The stored result could not be read as blocks ({error}).")
            st.json(json.loads(call.result_json))
        else:
            render.render_blocks(blocks, call.call_id)


def page() -> None:
    user = user_or_stop()
    host = get_host()
    st.title("History")
    calls = host.calls(user.name, limit=LIMIT)
    if not calls:
        st.info("You have not run any function yet.")
        return
    views = {view.spec.name: view for view in host.functions()}
    titles = {name: view.spec.title for name, view in views.items()}
    table(calls, titles)
    by_id = {call.call_id: call for call in calls}
    wanted = st.query_params.get("call")
    if wanted in by_id and OPEN_KEY not in st.session_state:
        st.session_state[OPEN_KEY] = wanted
    chosen = st.selectbox(
        "Open a call", list(by_id), key=OPEN_KEY, index=None, placeholder="Choose a call",
        format_func=lambda cid: (f"{when(by_id[cid].started_at)} · "
                                 f"{titles.get(by_id[cid].function, by_id[cid].function)} · "
                                 f"{by_id[cid].status}"
                                 + (" · cached" if by_id[cid].cached else "")))
    if chosen:
        view = views.get(by_id[chosen].function)
        details(by_id[chosen], titles.get(by_id[chosen].function, by_id[chosen].function),
                view is not None and view.enabled)


page()
