"""Portal page: monitoring (to be written). Streamlit runs this file as a script."""

from __future__ import annotations

import streamlit as st


def page() -> None:
    st.title("monitoring")


page()
