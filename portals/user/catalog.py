"""Portal page: the catalog, a card per function a user can run now, with search and filter.

Streamlit runs this file as a script. Everything shown comes from the functions' specs.
"""

from __future__ import annotations

import streamlit as st

from tokenworks.catalog import FunctionView
from tokenworks.portals.runtime import get_host
from tokenworks.portals.userkit import RUN_PAGE, enabled_views, first_paragraph, user_or_stop
from tokenworks.result_cache import ttl_text

COLUMNS = 3


def matches(view: FunctionView, words: list[str]) -> bool:
    spec = view.spec
    text = " ".join([spec.name, spec.title, spec.description, spec.category, *spec.tags,
                     spec.plugin]).lower()
    return all(word in text for word in words)


def card(view: FunctionView) -> None:
    spec = view.spec
    with st.container(border=True):
        st.markdown(f"#### {spec.title}")
        st.badge(spec.category, color="blue")
        st.markdown(first_paragraph(spec.description) or "_No description._")
        st.caption(f"**{view.cost} tokens** per run"
                   + (f" · results cached for {ttl_text(spec.cache_ttl)}"
                      if spec.cache_ttl else "")
                   + (f" · {', '.join(spec.tags)}" if spec.tags else ""))
        if st.button("Open", key=f"tw_open:{spec.name}", icon=":material/play_arrow:"):
            st.switch_page(RUN_PAGE, query_params={"function": spec.name})


def page() -> None:
    user_or_stop()
    st.title("Catalog")
    views = enabled_views(get_host())
    search, category = st.columns([3, 1])
    text = search.text_input("Search", key="tw_catalog_search",
                             placeholder="Words in the title, description or tags")
    categories = sorted({view.spec.category for view in views})
    chosen = category.multiselect("Category", categories, key="tw_catalog_categories")
    shown = [view for view in views if matches(view, text.lower().split())
             and (not chosen or view.spec.category in chosen)]
    st.caption(f"{len(shown)} of {len(views)} functions")
    if not shown:
        st.info("No function matches." if views else "No functions are available right now.")
    for start in range(0, len(shown), COLUMNS):
        for column, view in zip(st.columns(COLUMNS), shown[start:start + COLUMNS],
                                strict=False):
            with column:
                card(view)


page()
