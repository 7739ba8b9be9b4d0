"""Role-based navigation: which pages a session gets, plus the sidebar every page shares.

Admin pages are not registered at all for a user (so their URLs do not exist for them);
each admin page re-checks the role on the server too (runtime.require_admin).
"""

from __future__ import annotations

import streamlit as st

from tokenworks.store import User

from . import live, sessions
from .routes import signout_form
from .runtime import current_user, get_host, session_cookie

# Pages are files Streamlit runs as scripts (paths relative to main.py), which is also how
# AppTest.switch_page finds them. Admin files start with require_admin().


def user_pages() -> list[st.Page]:
    return [
        st.Page("user/catalog.py", title="Catalog", icon=":material/apps:", url_path="catalog",
                default=True),
        st.Page("user/run_function.py", title="Run a function", icon=":material/play_arrow:",
                url_path="run"),
        st.Page("user/history.py", title="History", icon=":material/history:", url_path="history"),
        st.Page("user/tokens.py", title="Tokens", icon=":material/toll:", url_path="tokens"),
        st.Page("user/api_keys.py", title="API keys", icon=":material/key:",
                url_path="api-keys"),
        st.Page("user/about.py", title="About", icon=":material/info:", url_path="about"),
    ]


def admin_pages() -> list[st.Page]:
    return [
        st.Page("admin/plugins.py", title="Plugins and functions", icon=":material/extension:",
                url_path="admin-plugins"),
        st.Page("admin/users.py", title="Users and tokens", icon=":material/group:",
                url_path="admin-users"),
        st.Page("admin/monitoring.py", title="Monitoring", icon=":material/monitoring:",
                url_path="admin-monitoring"),
        st.Page("admin/audit.py", title="Audit log", icon=":material/fact_check:",
                url_path="admin-audit"),
    ]


def signed_out() -> None:
    st.title("tokenworks")
    st.write("A registry of analytical functions with a meter. Sign in to use it.")
    host = get_host()
    st.link_button("Sign in", "/signin", type="primary")
    if host.self_signup_enabled():
        st.link_button("Create an account", "/signup")


def sidebar(user: User) -> st.delta_generator.DeltaGenerator:
    """The shared sidebar; returns the slot the balance goes in once the page has run."""
    with st.sidebar:
        st.markdown(f"**{user.name}**" + (" · admin" if user.role == "admin" else ""))
        balance = st.empty()
        sign_out_button()
        live.watch_state()
    return balance


# Streamlit's buttons cannot POST to a route, so the sign-out button is a small HTML form
# (st.html keeps forms; it is not in an iframe, so the whole tab goes to the sign-in page).
_SIGN_OUT_STYLE = """<style>
.tw-signout button { width: 100%; padding: .45rem .75rem; font: inherit; cursor: pointer;
  border: 1px solid rgba(49, 51, 63, .2); border-radius: .5rem; background: transparent;
  color: inherit; }
.tw-signout button:hover { border-color: #ff4b4b; color: #ff4b4b; }
</style>"""


def sign_out_button() -> None:
    cookie = session_cookie()
    if cookie:
        st.html(_SIGN_OUT_STYLE + signout_form(sessions.csrf_token(get_host(), cookie)))


def run() -> None:
    st.set_page_config(page_title="tokenworks", page_icon=":material/toll:", layout="wide")
    user = current_user()
    if user is None:
        st.navigation([st.Page(signed_out, title="Sign in", url_path="signed-out",
                               default=True)], position="hidden").run()
        return
    pages: dict[str, list[st.Page]] = {"Functions": user_pages()}
    if user.role == "admin":
        pages["Admin"] = admin_pages()
    navigation = st.navigation(pages)
    balance = sidebar(user)
    navigation.run()
    # Filled after the page ran, so a call it just made is already in the balance.
    balance.metric("Balance", f"{get_host().balance(user.name)} tokens")
