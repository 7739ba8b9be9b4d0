"""Portal page: run_function (to be written). Streamlit runs this file as a script."""

from __future__ import annotations

import streamlit as st


def page() -> None:
    st.title("run_function")


page()
