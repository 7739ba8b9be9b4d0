"""Keep an open page current without a reload: the browser polls /state, and the page
reruns when the state version moved, or goes to the sign-in page once its session ended.
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
