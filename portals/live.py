"""Keep an open session current without a reload, and close it once it has ended.

The browser asks /state for the store's state version once a second (a memory read in the
host) and only when it has moved (a toggle, a cost, a grant, a role) does it make
Streamlit rerun the page, so catalogs, costs, forms and the balance reflect the change.
The same answer says whether the browser's portal session is still live (one read by key);
when it is not, the page goes to the sign-in page: a sign-out in one tab reaches the
browser's other tabs within about a second.

Why not a ``st.fragment(run_every=1)``: a timed fragment rerun coinciding with a click was
seen to swallow the click's rerun (a form submitted but its result not shown, or an
example button's values lost). Here nothing runs on the server until something changed.
"""

from __future__ import annotations

import streamlit as st

from .runtime import get_host

POLL_MS = 1000

_WATCH_JS = """
export default function (component) {
    const { data, setTriggerValue } = component;
    let seen = data.version;
    let stopped = false;
    let timer = null;
    async function poll() {
        if (stopped) return;
        try {
            const answer = await fetch("/state", { cache: "no-store" });
            if (answer.ok) {
                const state = await answer.json();
                if (state.signed_in === false) {
                    // Signed out in another tab, by a password change or by an admin:
                    // this tab goes to the sign-in page (its page runs are refused anyway).
                    stopped = true;
                    const here = window.location.pathname + window.location.search;
                    window.location.assign("/signin?next=" + encodeURIComponent(here));
                    return;
                }
                if (state.version !== seen) {
                    seen = state.version;
                    setTriggerValue("changed", state.version);
                }
            }
        } catch (error) {
            // The server restarting or the network blinking: try again next time.
        }
        timer = setTimeout(poll, data.interval_ms);
    }
    timer = setTimeout(poll, data.interval_ms);
    return () => { stopped = true; clearTimeout(timer); };
}
"""

_watcher = st.components.v2.component("tokenworks_state_watcher", js=_WATCH_JS)


def watch_state() -> None:
    """Mount the watcher; a change it reports reruns the app (Streamlit's trigger)."""
    _watcher(data={"version": get_host().state_version(), "interval_ms": POLL_MS},
             key="tw_state_watcher", on_changed_change=lambda: None)
