"""Sign-in, sign-up, sign-out, the session cookie, throttling and the page gate.

The routes run in a plain Starlette app here (the same Route objects st.App mounts), with
Starlette's TestClient; the host behind them is real.
"""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from tokenworks.portals import routes, sessions
from tokenworks.portals.gate import SignInGate


async def fake_page(request) -> PlainTextResponse:
    return PlainTextResponse("the portal page")


@pytest.fixture
def client(portal):
    routes.THROTTLE = sessions.Throttle(limit=3, window=60, lockout=30)
    app = Starlette(routes=[*routes.ROUTES, Route("/{path:path}", fake_page)],
                    middleware=[Middleware(SignInGate)])
    with TestClient(app, base_url="http://127.0.0.1:8501") as test_client:
        yield test_client


def sign_in(client: TestClient, name: str, password: str, **extra):
    return client.post("/signin", data={"name": name, "password": password, **extra},
                       follow_redirects=False)


def test_sign_in_sets_a_safe_cookie_and_opens_the_portal(portal, client) -> None:
    portal()
    assert client.get("/", headers={"accept": "text/html"},
                      follow_redirects=False).headers["location"] == "/signin?next=/"
    response = sign_in(client, "admin", "admin-password", next="/history")
    assert response.status_code == 303 and response.headers["location"] == "/history"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{sessions.COOKIE}=")
    for attribute in ("HttpOnly", "SameSite=strict", "Max-Age=43200", "Path=/"):
        assert attribute.lower() in cookie.lower()
    page = client.get("/history", headers={"accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 200 and page.text == "the portal page"


def test_wrong_password_and_unknown_user_get_the_same_answer(portal, client) -> None:
    portal()
    wrong = sign_in(client, "admin", "not-the-password")
    nobody = sign_in(client, "nobody", "not-the-password")
    assert wrong.status_code == nobody.status_code == 401
    assert "Wrong user name or password." in wrong.text and sessions.COOKIE not in client.cookies


def test_repeated_failures_are_throttled_even_with_the_right_password(portal, client) -> None:
    portal()
    for _ in range(3):
        assert sign_in(client, "admin", "guess-guess").status_code == 401
    locked = sign_in(client, "admin", "admin-password")
    assert locked.status_code == 429 and "Too many failed sign-ins" in locked.text
    assert sessions.COOKIE not in client.cookies


def test_next_cannot_leave_the_site(portal, client) -> None:
    portal()
    for target in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        response = sign_in(client, "admin", "admin-password", next=target)
        assert response.headers["location"] == "/"


def test_cross_site_posts_are_refused(portal, client) -> None:
    portal()
    response = client.post("/signin", data={"name": "admin", "password": "admin-password"},
                           headers={"origin": "https://evil.example"}, follow_redirects=False)
    assert response.status_code == 403 and sessions.COOKIE not in client.cookies


def test_sign_up_gives_the_starting_grant_and_signs_in(portal, client) -> None:
    host = portal()
    assert "Create an account" in client.get("/signin").text
    response = client.post("/signup", data={"name": "newbie", "password": "newbie-pass"},
                           follow_redirects=False)
    assert response.status_code == 303 and sessions.COOKIE in client.cookies
    user = host.store.get_user("newbie")
    assert user is not None and user.role == "user" and user.balance == 20


def test_sign_up_errors_are_shown_and_nothing_is_created(portal, client) -> None:
    host = portal()
    short = client.post("/signup", data={"name": "shorty", "password": "short"})
    assert short.status_code == 400 and "at least 8 characters" in short.text
    taken = client.post("/signup", data={"name": "admin", "password": "long-enough"})
    assert taken.status_code == 400 and "exists already" in taken.text
    assert host.store.get_user("shorty") is None


def test_an_admin_can_switch_sign_up_off(portal, client) -> None:
    host = portal()
    host.set_self_signup(False, actor="portal:admin", reason="invite only")
    assert "Create an account" not in client.get("/signin").text
    refused = client.post("/signup", data={"name": "late", "password": "long-enough"})
    assert refused.status_code == 403 and host.store.get_user("late") is None


def test_sign_out_clears_the_cookie(portal, client) -> None:
    portal()
    sign_in(client, "admin", "admin-password")
    response = client.get("/signout", follow_redirects=False)
    assert response.headers["location"] == "/signin"
    assert sessions.COOKIE not in client.cookies


def test_a_password_change_ends_existing_sessions(portal) -> None:
    host = portal()
    token = sessions.issue(host, "admin")
    assert sessions.verify(host, token) == "admin"
    host.set_password("admin", "a-new-password", actor="test", reason="rotate")
    assert sessions.verify(host, token) is None


def test_sessions_expire_and_tampering_is_detected(portal, monkeypatch) -> None:
    host = portal()
    token = sessions.issue(host, "admin")
    assert sessions.verify(host, token[:-2] + ("A" if token[-1] != "A" else "B") + "x") is None
    monkeypatch.setattr(sessions, "max_age", lambda host: -1)
    assert sessions.verify(host, token) is None


def test_the_session_key_survives_a_restart(portal) -> None:
    host = portal()
    token = sessions.issue(host, "admin")
    again = portal()  # the first host is closed; a new one opens the same store file
    assert again is not host and sessions.verify(again, token) == "admin"


def test_health_says_starting_until_plugins_warmed(portal, client, monkeypatch) -> None:
    portal()
    monkeypatch.setattr(routes.READY, "is_set", lambda: False)
    starting = client.get("/health")
    assert starting.status_code == 503 and starting.json()["status"] == "starting"
    monkeypatch.undo()
    routes.READY.set()
    healthy = client.get("/health").json()
    assert healthy["status"] == "ok" and healthy["functions"] >= 1


def test_throttle_windows_and_backoff() -> None:
    throttle = sessions.Throttle(limit=2, window=10, lockout=5)
    throttle.failed("k", now=0)
    assert throttle.wait_seconds("k", now=0) == 0
    throttle.failed("k", now=1)
    assert throttle.wait_seconds("k", now=1) == 5
    throttle.failed("k", now=7)  # still failing: the lockout doubles
    assert throttle.wait_seconds("k", now=7) == 10
    throttle.succeeded("k")
    assert throttle.wait_seconds("k", now=7) == 0
    throttle.failed("j", now=0)
    throttle.failed("j", now=20)  # the first failure left the window
    assert throttle.wait_seconds("j", now=20) == 0
