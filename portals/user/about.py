"""Portal page: what tokenworks is, and the data attribution every plugin declares.

Streamlit runs this file as a script.
"""

from __future__ import annotations

import streamlit as st

from tokenworks.portals.runtime import get_host
from tokenworks.portals.userkit import user_or_stop

ABOUT = """
tokenworks is a registry of **metered analytical functions**. Each function comes from a
plugin, takes a validated input and returns a result made of typed blocks: text, metrics,
tables, images, charts, graphs and JSON.

Every run costs the tokens shown on its page, and only a run that **succeeds** is charged:
a function that fails, times out or is refused costs nothing. Your **Tokens** page shows
every change to your balance; **History** keeps your calls and their results.
"""


def page() -> None:
    user_or_stop()
    host = get_host()
    st.title("About tokenworks")
    st.markdown(ABOUT)
    plugins = [view.plugin for view in host.plugins() if view.loaded]
    functions = [view for view in host.functions() if view.enabled]
    st.caption(f"{len(functions)} functions available from {len(plugins)} plugins.")
    st.header("Data attribution")
    credited = [record for record in plugins if record.attribution]
    if not credited:
        st.write("No plugin declares data that needs attribution.")
    for record in credited:
        with st.container(border=True):
            st.caption(f"Plugin {record.name} {record.version}")
            st.markdown(record.attribution)


page()
