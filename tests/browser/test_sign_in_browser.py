"""A person signs up and signs in with a real browser."""

from __future__ import annotations

import pytest

from .conftest import screenshot

pytestmark = pytest.mark.slow


def test_sign_up_then_sign_in_again(server, browser) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(server.url + "/")
    page.wait_for_url("**/signin**")
    screenshot(page, "00-sign-in")
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("User name").fill("browser-user")
    page.get_by_label("Password").fill("browser-pass-1")
    page.get_by_role("button", name="Create account").click()
    page.get_by_text("browser-user", exact=True).first.wait_for(timeout=30_000)
    cookies = {cookie["name"]: cookie for cookie in context.cookies()}
    assert cookies["tw_session"]["httpOnly"] and cookies["tw_session"]["sameSite"] == "Strict"

    page.reload()  # the session survives a reload
    page.get_by_text("browser-user", exact=True).first.wait_for(timeout=30_000)

    page.get_by_role("button", name="Sign out").click()  # the sidebar's form: a POST
    page.wait_for_url("**/signin**")
    assert not any(cookie["name"] == "tw_session" for cookie in context.cookies())
    page.get_by_label("User name").fill("browser-user")
    page.get_by_label("Password").fill("browser-pass-1")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("browser-user", exact=True).first.wait_for(timeout=30_000)
    context.close()


def test_wrong_password_is_refused_in_the_page(server, browser) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(server.url + "/signin")
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text() == "Wrong user name or password."
    assert not any(cookie["name"] == "tw_session" for cookie in context.cookies())
    context.close()
