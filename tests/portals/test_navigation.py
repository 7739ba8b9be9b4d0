"""Who gets which pages: signed out, a user, an admin."""

from __future__ import annotations

from .conftest import app_as


def page_titles(app) -> set[str]:
    return {entry.title for entry in app.title}


def test_signed_out_sees_only_sign_in(portal) -> None:
    portal()
    app = app_as(None)
    assert not app.exception
    assert [button.proto.url for button in app.get("link_button")][:1] == ["/signin"]


def test_user_gets_no_admin_pages(portal) -> None:
    host = portal()
    host.add_user("alice", password="alice-password", actor="test")
    app = app_as("alice")
    assert not app.exception
    try:
        app.switch_page("admin/plugins.py")
    except ValueError as error:  # not registered for a user at all
        assert "not a registered page" in str(error) or "admin/plugins.py" in str(error)
    else:
        raise AssertionError("a user could switch to an admin page")


def test_admin_gets_admin_pages(portal) -> None:
    portal()
    app = app_as("admin", "admin/plugins.py")
    assert not app.exception
