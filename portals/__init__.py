"""The Streamlit user and admin portals (see issue: portals). Rendering is generic."""
