"""Portal page: run one function through a form generated from its input model.

The function comes from the ``function`` query parameter (the catalog links here with it).
Streamlit runs this file as a script.
"""

from __future__ import annotations

import streamlit as st

from tokenworks.catalog import FunctionView
from tokenworks.portals import forms, running
from tokenworks.portals.fields import FormField, fields_of
from tokenworks.portals.runtime import get_host
from tokenworks.portals.userkit import CATALOG_PAGE, enabled_views, user_or_stop
from tokenworks.result_cache import ttl_text


def pick_function(views: list[FunctionView]) -> str | None:
    """No function named in the URL: let the user choose one."""
    st.title("Run a function")
    if not views:
        st.info("No functions are available right now.")
        return None
    titles = {view.spec.name: f"{view.spec.title} ({view.cost} tokens)" for view in views}
    choice = st.selectbox("Function", list(titles), format_func=titles.get, index=None,
                          placeholder="Choose a function")
    if choice:
        st.query_params["function"] = choice
    return choice


def header(view: FunctionView) -> None:
    spec = view.spec
    st.title(spec.title)
    st.caption(f"{spec.category} · {view.cost} tokens per successful run · "
               f"plugin {spec.plugin} {spec.plugin_version}"
               + (f" · results cached for {ttl_text(spec.cache_ttl)}, charged as usual"
                  if spec.cache_ttl else "")
               + (f" · {', '.join(spec.tags)}" if spec.tags else ""))
    if spec.description:
        st.markdown(spec.description)


def examples(name: str, fields: list[FormField], view: FunctionView) -> None:
    if not view.spec.examples:
        return
    st.write("Examples:")
    columns = st.columns(min(len(view.spec.examples), 4))
    for index, example in enumerate(view.spec.examples):
        columns[index % len(columns)].button(
            f"Example {index + 1}", key=f"tw_example:{name}:{index}",
            help=", ".join(f"{k} = {v!r}" for k, v in example.items())[:300],
            on_click=forms.fill, args=(name, fields, example), icon=":material/edit_note:")


def apply_prefill(name: str, fields: list[FormField]) -> None:
    prefill = st.session_state.get(running.PREFILL)
    if prefill and prefill["function"] == name:
        forms.fill(name, fields, prefill["input"])
        st.session_state.pop(running.PREFILL)
        st.info("The form holds the input of your earlier call; change it or run it again.")


def page() -> None:
    user = user_or_stop()
    host = get_host()
    name = st.query_params.get("function") or pick_function(enabled_views(host))
    if not name:
        return
    view = next((v for v in host.functions() if v.spec.name == name), None)
    if view is None or not view.enabled:
        st.title("Run a function")
        why = "there is no such function" if view is None else view.why_disabled()
        st.warning(f"{name} cannot be run right now: {why}. Nothing was charged.")
        st.page_link(CATALOG_PAGE, label="Back to the catalog", icon=":material/apps:")
        running.forget_pending()
        return
    header(view)
    fields = fields_of(view.spec.input_model)
    apply_prefill(name, fields)
    forms.ensure_state(name, fields)
    examples(name, fields, view)
    with st.form(f"tw_run:{name}", enter_to_submit=False):
        raw, slots = forms.draw_all(name, fields)
        submitted = st.form_submit_button(f"Run · {view.cost} tokens", type="primary",
                                          icon=":material/play_arrow:")
    # Filled in after a submission is handled, so the balance shown includes its charge.
    balance_slot = st.empty()
    last: dict = st.session_state.setdefault(running.LAST, {})
    if submitted:
        payload, problems = forms.payload_from(fields, raw)
        model, invalid = forms.validate(view.spec.input_model, payload)
        problems = {**invalid, **problems}
        if problems:
            last[name] = running.Shown("error", "Some fields are not valid; fix them and run "
                                       "again. Nothing was charged.", problems=problems)
        else:
            last[name] = running.submit(host, user.name, name, model)
    else:
        running.forget_pending()
    balance = host.balance(user.name)
    with balance_slot.container():
        st.caption(f"A run costs {view.cost} tokens, taken only if it succeeds. "
                   f"Your balance: {balance} tokens.")
        if balance < view.cost:
            st.warning(f"Your balance ({balance}) is below this function's cost "
                       f"({view.cost}): a run will be refused, and nothing charged.")
    if name in last:
        forms.show_problems(slots, last[name].problems)
        running.show(last[name])


page()
