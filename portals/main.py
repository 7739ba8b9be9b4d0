"""The Streamlit script behind every portal page: who is signed in, which pages they get."""

from tokenworks.portals.navigation import run

run()
