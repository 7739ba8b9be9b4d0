"""Every page run checks the session: a tab whose session ended (signed out elsewhere, a
password change, an admin's "sign out everywhere") cannot run anything more. AppTest
against a real host and store; the session is a real one (conftest.app_as)."""

from __future__ import annotations

import re

from tokenworks.portals import runtime, sessions
from tokenworks.store import utcnow

from .conftest import app_as
from .helpers import open_function, run_button, texts, widget


def ready_to_run(host, user: str = "alice"):
    app = open_function(user, "word_frequencies")
    widget(app, "text_area", "Text").input("one two three four")
    return app


def signed_out_page(app) -> bool:
    return "Sign in to use it." in " ".join(texts(app, "markdown"))


def test_a_live_session_runs_and_is_charged(portal) -> None:  # the control
    host = portal()
    host.add_user("alice", password="alice-password", actor="test")
    app = ready_to_run(host)
    run_button(app).click().run()
    assert host.balance("alice") == 19 and len(host.calls("alice")) == 1


def test_a_tab_whose_session_ended_runs_nothing(portal) -> None:
    host = portal()
    host.add_user("alice", password="alice-password", actor="test")
    app = ready_to_run(host)
    # Signed out in another tab of the same browser: the same cookie, ended.
    assert sessions.end(host, app.session_state[runtime.SESSION_KEY])
    run_button(app).click().run()
    assert not app.exception
    assert signed_out_page(app)
    assert host.balance("alice") == 20 and host.calls("alice") == []
    assert host.verify_books().ok


def test_a_password_change_stops_open_tabs(portal) -> None:
    host = portal()
    host.add_user("alice", password="alice-password", actor="test")
    app = ready_to_run(host)
    host.set_password("alice", "a-new-password", actor="cli:root", reason="changed")
    run_button(app).click().run()
    assert signed_out_page(app) and host.calls("alice") == []


def test_the_sidebar_signs_out_with_a_post_form_and_the_sessions_token(portal) -> None:
    host = portal()
    app = app_as("admin", "user/catalog.py")
    cookie = app.session_state[runtime.SESSION_KEY]
    (form,) = [element.value for element in app.get("html") if "/signout" in element.value]
    assert '<form method="post" action="/signout"' in form
    token = re.search(r'name="csrf" value="([0-9a-f]+)"', form).group(1)
    assert sessions.csrf_ok(host, cookie, token)
    assert not [button for button in app.get("link_button") if "signout" in button.proto.url]


def test_an_admin_signs_a_user_out_everywhere_from_the_users_page(portal) -> None:
    host = portal()
    host.add_user("alice", password="alice-password", actor="test")
    alice = ready_to_run(host)
    admin = app_as("admin", "admin/users.py")
    admin.selectbox(key="sessions_user").select("alice")
    admin.text_input(key="sessions_reason").input("phone stolen")
    admin.button(key="sessions_submit").click().run()
    assert "Ended 1 portal session of alice." in texts(admin, "success")
    assert host._store.live_session_count("alice", utcnow()) == 0
    change = host.audit(1)[0]
    assert (change.actor, change.target, change.field, change.reason) == (
        "portal:admin", "alice", "sessions", "phone stolen")
    run_button(alice).click().run()
    assert signed_out_page(alice) and host.calls("alice") == []
    admin.run()
    assert not signed_out_page(admin)  # the admin's own session is untouched


def test_signing_out_everywhere_needs_a_reason(portal) -> None:
    host = portal()
    host.add_user("alice", password="alice-password", actor="test")
    sessions.issue(host, "alice")
    admin = app_as("admin", "admin/users.py")
    admin.selectbox(key="sessions_user").select("alice")
    admin.button(key="sessions_submit").click().run()
    assert any("A reason is required" in text for text in texts(admin, "error"))
    assert host._store.live_session_count("alice", utcnow()) == 1
