"""Sign-in, sign-up, sign-out, server-side sessions, throttling and the page gate.

The routes run in a plain Starlette app here (the same Route objects st.App mounts, and the
REST API mounted as `tokenworks serve` mounts it), with Starlette's TestClient; the host
and its store behind them are real. Throttling across processes and concurrent requests
is proven on a real server in test_sign_in_served.py.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from tokenworks.api.app import mount
from tokenworks.api.settings import ApiSettings
from tokenworks.host import host as host_module
from tokenworks.host.portal_sessions import token_hash as session_token_hash
from tokenworks.portals import routes, runtime, sessions, throttle
from tokenworks.portals.gate import SignInGate
from tokenworks.secret_key import rotate
from tokenworks.store import utcnow

BASE = "http://127.0.0.1:8501"
CLIENT = ("203.0.113.7", 40000)  # the address the throttle sees for the test client


async def fake_page(request) -> PlainTextResponse:
    return PlainTextResponse("the portal page")


def portal_app() -> Starlette:
    return Starlette(routes=[*routes.ROUTES, mount(runtime.get_host, ApiSettings()),
                             Route("/{path:path}", fake_page)],
                     middleware=[Middleware(SignInGate)])


@pytest.fixture
def client(portal):
    with TestClient(portal_app(), base_url=BASE, client=CLIENT) as test_client:
        yield test_client


def other_client(address: str = "198.51.100.9") -> TestClient:
    return TestClient(portal_app(), base_url=BASE, client=(address, 40001))


def sign_in(client: TestClient, name: str, password: str, **extra):
    return client.post("/signin", data={"name": name, "password": password, **extra},
                       follow_redirects=False)


def page_opens(client: TestClient, cookie: str | None = None) -> bool:
    """Whether the gate lets a page load through: with the client's cookies, or with only
    this session cookie (sent by a fresh client)."""
    if cookie is not None:
        with other_client() as fresh:
            return _opens(fresh, {"cookie": f"{sessions.COOKIE}={cookie}"})
    return _opens(client, {})


def _opens(client: TestClient, headers: dict[str, str]) -> bool:
    response = client.get("/history", headers={"accept": "text/html", **headers},
                          follow_redirects=False)
    return response.status_code == 200 and response.text == "the portal page"


def state_of(cookie: str) -> dict:
    with other_client() as fresh:
        return fresh.get("/state", headers={"cookie": f"{sessions.COOKIE}={cookie}"}).json()


def csrf_of(client: TestClient) -> str:
    page = client.get("/signout", follow_redirects=False)
    assert page.status_code == 200, page.text
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)


# -- signing in ---------------------------------------------------------------------------


def test_sign_in_sets_a_safe_cookie_and_opens_the_portal(portal, client) -> None:
    portal()
    assert client.get("/", headers={"accept": "text/html"},
                      follow_redirects=False).headers["location"] == "/signin?next=/"
    response = sign_in(client, "admin", "admin-password", next="/history")
    assert response.status_code == 303 and response.headers["location"] == "/history"
    cookie = next(c for c in response.headers.get_list("set-cookie")
              if c.startswith(f"{sessions.COOKIE}="))
    for attribute in ("HttpOnly", "SameSite=strict", "Max-Age=43200", "Path=/"):
        assert attribute.lower() in cookie.lower()
    assert "secure" not in cookie.lower()  # plain HTTP here; HTTPS gets Secure (below)
    assert page_opens(client)
    assert client.get("/state").json()["signed_in"] is True


def test_cookies_are_secure_behind_a_trusted_https_proxy(portal) -> None:
    portal(registry='[portal]\ntrusted_proxies = ["10.0.0.0/8"]\n')
    forwarded = {"x-forwarded-proto": "https", "x-forwarded-for": "192.0.2.1"}
    with other_client("10.1.2.3") as proxied:
        response = proxied.post("/signin", data={"name": "admin", "password": "admin-password"},
                                headers=forwarded, follow_redirects=False)
    assert all("secure" in c.lower() for c in response.headers.get_list("set-cookie"))
    with other_client("192.0.2.50") as direct:  # the same header from anyone else: ignored
        response = direct.post("/signin", data={"name": "admin", "password": "admin-password"},
                               headers=forwarded, follow_redirects=False)
    assert not any("secure" in c.lower() for c in response.headers.get_list("set-cookie"))


def test_wrong_password_and_unknown_user_get_the_same_answer(portal, client) -> None:
    portal()
    wrong = sign_in(client, "admin", "not-the-password")
    nobody = sign_in(client, "nobody", "not-the-password")
    assert wrong.status_code == nobody.status_code == 401
    assert "Wrong user name or password." in wrong.text and sessions.COOKIE not in client.cookies


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


# -- sessions in the store ------------------------------------------------------------------


def test_the_store_keeps_a_hash_of_the_token_and_no_key(portal, client) -> None:
    host = portal()
    sign_in(client, "admin", "admin-password")
    cookie = client.cookies[sessions.COOKIE]
    token = cookie.rsplit(".", 1)[0]  # itsdangerous: token.signature
    rows = host._store._read("SELECT token_hash, user_name FROM portal_sessions")
    assert rows and all(row[0] != token and token not in row[0] for row in rows)
    assert host._store.get_setting("portal.session_key") is None
    key = host.secret.current().decode()
    dumped = host._store._read("SELECT string_agg(value, ' ') FROM settings")[0][0] or ""
    assert key not in dumped


def test_forged_tampered_and_unknown_cookies_are_refused(portal, client) -> None:
    host = portal()
    sign_in(client, "admin", "admin-password")
    good = client.cookies[sessions.COOKIE]
    client.cookies.clear()
    assert page_opens(client, good)
    token, signature = good.rsplit(".", 1)
    # The first character of the signature: every one of its bits counts (the last one's
    # low bits are base64 padding, so changing "A" to "B" there changes nothing).
    tampered = f"{token}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}"
    # Signed with the real key, but naming no session: what the review's forger could
    # make with the key alone.
    made_up = sessions._signer(host).sign("a-token-nobody-was-given").decode()
    for cookie in (tampered, made_up, "junk", ""):
        assert not page_opens(client, cookie)
        assert sessions.verify(host, cookie) is None


def test_sessions_expire_when_idle_and_absolutely(portal) -> None:
    host = portal(registry="session_idle_minutes = 30\nsession_hours = 2\n")
    start = utcnow()
    cookie = sessions.issue(host, "admin", now=start)
    assert sessions.verify(host, cookie, now=start + timedelta(minutes=29)) == "admin"
    # that use moved the idle expiry on; a session left alone for 30 minutes ends
    assert sessions.verify(host, cookie, now=start + timedelta(minutes=58)) == "admin"
    assert sessions.verify(host, cookie, now=start + timedelta(minutes=89)) is None
    other = sessions.issue(host, "admin", now=start)
    for minutes in range(25, 120, 25):  # used every 25 minutes: still, 2 h is the end
        assert sessions.verify(host, other, now=start + timedelta(minutes=minutes)) == "admin"
    assert sessions.verify(host, other, now=start + timedelta(minutes=121)) is None


def test_a_session_is_touched_at_most_once_a_minute(portal) -> None:
    host = portal()
    start = utcnow()
    cookie = sessions.issue(host, "admin", now=start)
    token_hash = session_token_hash(sessions._token(host, cookie))
    writes = host._store.write_stats.requests
    for seconds in range(0, 60, 5):
        assert sessions.verify(host, cookie, now=start + timedelta(seconds=seconds))
    assert host._store.write_stats.requests == writes  # reads only
    sessions.verify(host, cookie, now=start + timedelta(seconds=61))
    assert host._store.write_stats.requests == writes + 1
    assert host._store.get_portal_session(token_hash).last_seen_at == \
        start + timedelta(seconds=61)


def test_the_session_survives_a_restart(portal) -> None:
    host = portal()
    cookie = sessions.issue(host, "admin")
    again = portal()  # the first host is closed; a new one opens the same store and key
    assert again is not host and sessions.verify(again, cookie) == "admin"


def test_rotating_the_key_signs_everyone_out(portal, client) -> None:
    host = portal()
    sign_in(client, "admin", "admin-password")
    assert page_opens(client)
    path = rotate(host.config)
    assert path == host.secret.path and path.stat().st_mode & 0o777 == 0o600
    assert not page_opens(client)  # the running host noticed the new file
    assert client.get("/state").json()["signed_in"] is False
    sign_in(client, "admin", "admin-password")  # signing in again works, with the new key
    assert page_opens(client)


# -- signing out ------------------------------------------------------------------------------


def test_sign_out_is_a_post_that_ends_the_session(portal, client) -> None:
    portal()
    sign_in(client, "admin", "admin-password")
    cookie = client.cookies[sessions.COOKIE]
    csrf = csrf_of(client)  # GET /signout only shows the button: still signed in
    assert page_opens(client)
    response = client.post("/signout", data={"csrf": csrf}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/signin"
    assert sessions.COOKIE not in client.cookies
    # The old cookie, kept by someone, opens nothing any more.
    assert not page_opens(client, cookie)
    assert state_of(cookie)["signed_in"] is False


def test_sign_out_without_the_csrf_token_or_from_another_site_is_refused(portal, client) -> None:
    portal()
    sign_in(client, "admin", "admin-password")
    csrf = csrf_of(client)
    for data, headers in (({}, {}), ({"csrf": "0" * 64}, {}),
                          ({"csrf": csrf}, {"origin": "https://evil.example"})):
        refused = client.post("/signout", data=data, headers=headers, follow_redirects=False)
        assert refused.status_code == 403 and "Sign-out refused" in refused.text
        assert page_opens(client)  # nothing ended


def test_the_csrf_token_is_the_sessions_own(portal, client) -> None:
    portal()
    sign_in(client, "admin", "admin-password")
    with other_client() as second:
        sign_in(second, "admin", "admin-password")
        foreign = csrf_of(second)
    refused = client.post("/signout", data={"csrf": foreign}, follow_redirects=False)
    assert refused.status_code == 403 and page_opens(client)


def test_a_password_change_ends_every_session_of_the_user(portal, client) -> None:
    host = portal()
    host.add_user("ann", password="ann-password", actor="test")
    sign_in(client, "admin", "admin-password")
    with other_client() as second, other_client("198.51.100.10") as third:
        sign_in(second, "admin", "admin-password")
        sign_in(third, "ann", "ann-password")
        host.set_password("admin", "a-new-password", actor="test", reason="rotate")
        assert not page_opens(client) and not page_opens(second)
        assert page_opens(third)  # another user's session is not touched
    assert sign_in(client, "admin", "a-new-password").status_code == 303


def test_an_admin_signs_a_user_out_everywhere_and_it_is_audited(portal, client) -> None:
    host = portal()
    sign_in(client, "admin", "admin-password")
    assert host._store.live_session_count("admin", utcnow()) == 1
    assert host.end_sessions("admin", actor="portal:admin", reason="lost laptop") == 1
    assert not page_opens(client)
    change = host.audit(1)[0]
    assert (change.actor, change.target, change.field, change.before, change.after,
            change.reason) == ("portal:admin", "admin", "sessions", "1 live", "ended",
                               "lost laptop")


def test_a_portal_cookie_does_not_open_the_rest_api(portal, client) -> None:
    portal()
    sign_in(client, "admin", "admin-password")
    assert page_opens(client)
    for path in ("/api/me", "/api/functions", "/api/admin/users"):
        response = client.get(path)
        assert response.status_code == 401, (path, response.text)


# -- throttling ---------------------------------------------------------------------------


def test_repeated_failures_are_refused_even_with_the_right_password(portal, client) -> None:
    portal()
    for _ in range(throttle.ACCOUNT_LIMIT):
        assert sign_in(client, "admin", "guess-guess").status_code == 401
    locked = sign_in(client, "admin", "admin-password")
    assert locked.status_code == 429 and "Too many sign-in attempts" in locked.text
    assert int(locked.headers["retry-after"]) <= throttle.WINDOW + 1
    assert sessions.COOKIE not in client.cookies


def test_concurrent_guesses_are_counted_before_the_password_is_checked(portal, client,
                                                                      monkeypatch) -> None:
    host = portal()
    checked = []
    real_verify = host_module.verify_password

    def counting_verify(password: str, stored: str) -> bool:
        checked.append(password)
        return real_verify(password, stored)

    monkeypatch.setattr(host_module, "verify_password", counting_verify)
    # 30 requests at once into the app's one event loop; scrypt runs in worker threads.
    with ThreadPoolExecutor(30) as pool:
        codes = list(pool.map(lambda n: client.post(
            "/signin", data={"name": "admin", "password": f"guess-{n}"},
            follow_redirects=False).status_code, range(30)))
    assert sorted(codes) == [401] * throttle.ACCOUNT_LIMIT + [429] * (30 - throttle.ACCOUNT_LIMIT)
    assert len(checked) == throttle.ACCOUNT_LIMIT  # scrypt ran for the counted ones only
    assert host.user("admin") is not None


def test_a_browser_that_signed_in_before_is_not_locked_out(portal, client) -> None:
    portal()
    assert sign_in(client, "admin", "admin-password").status_code == 303
    assert throttle.DEVICE_COOKIE in client.cookies
    with other_client("192.0.2.66") as attacker:
        for _ in range(throttle.ACCOUNT_LIMIT):
            sign_in(attacker, "admin", "guess-guess")
        assert sign_in(attacker, "admin", "admin-password").status_code == 429
    # The owner's browser, holding its device cookie, still gets in.
    assert sign_in(client, "admin", "admin-password").status_code == 303


def test_a_device_cookie_helps_only_its_own_account(portal, client) -> None:
    host = portal()
    host.add_user("mallory", password="mallory-password", actor="test")
    with other_client("192.0.2.77") as mallory:
        assert sign_in(mallory, "mallory", "mallory-password").status_code == 303
        for _ in range(throttle.ACCOUNT_LIMIT):
            assert sign_in(mallory, "admin", "guess-guess").status_code == 401
        assert sign_in(mallory, "admin", "guess-again").status_code == 429


def test_a_success_gives_back_only_its_own_attempt(portal, client, monkeypatch) -> None:
    host = portal()
    host.add_user("mallory", password="mallory-password", actor="test")
    monkeypatch.setattr(throttle, "ADDRESS_LIMIT", 4)
    for name in ("ann", "bob", "cid"):
        assert sign_in(client, name, "guess-guess").status_code == 401
    # mallory's own success, from the same address, must not wipe those three failures
    client.cookies.clear()
    assert sign_in(client, "mallory", "mallory-password").status_code == 303
    client.cookies.clear()
    assert sign_in(client, "dan", "guess-guess").status_code == 401  # the fourth
    assert sign_in(client, "eve", "guess-guess").status_code == 429


def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(portal, monkeypatch):
    portal()
    monkeypatch.setattr(throttle, "ADDRESS_LIMIT", 3)
    with other_client("127.0.0.1") as local:
        codes = [local.post("/signin", data={"name": f"user{n}", "password": "guess-guess"},
                            headers={"x-forwarded-for": f"192.0.2.{n}"},
                            follow_redirects=False).status_code for n in range(5)]
    assert codes == [401, 401, 401, 429, 429]


def test_a_trusted_proxy_names_the_client(portal, monkeypatch) -> None:
    portal(registry='[portal]\ntrusted_proxies = ["10.0.0.1"]\n')
    monkeypatch.setattr(throttle, "ADDRESS_LIMIT", 3)
    with other_client("10.0.0.1") as proxy:
        def attempt(forwarded: str, n: int) -> int:
            return proxy.post("/signin", data={"name": f"user{n}", "password": "guess-guess"},
                              headers={"x-forwarded-for": forwarded},
                              follow_redirects=False).status_code
        # Each client gets its own count; a client cannot hide behind a forged hop it
        # writes itself (the proxy appends the real one on the right).
        assert [attempt("192.0.2.1", n) for n in range(4)] == [401, 401, 401, 429]
        assert attempt("192.0.2.2", 9) == 401
        assert attempt("192.0.2.99, 192.0.2.1", 10) == 429


def test_ipv6_clients_are_counted_by_their_64(portal, monkeypatch) -> None:
    portal()
    monkeypatch.setattr(throttle, "ADDRESS_LIMIT", 2)
    codes = []
    for n in range(3):
        with other_client(f"2001:db8:1:2::{n + 1}") as rotating:
            codes.append(sign_in(rotating, f"user{n}", "guess-guess").status_code)
    assert codes == [401, 401, 429]


def test_the_throttle_window_ends(portal) -> None:
    host = portal()
    rule = throttle.ThrottleRule("ip:192.0.2.5", 2, 60)
    now = utcnow()
    assert host._store.throttle_take([rule], now) == 0
    assert host._store.throttle_take([rule], now) == 0
    assert 59 <= host._store.throttle_take([rule], now + timedelta(seconds=1)) <= 59.1
    assert host._store.throttle_take([rule], now + timedelta(seconds=61)) == 0


# -- signing up ---------------------------------------------------------------------------


def test_sign_up_gives_the_starting_grant_and_signs_in(portal, client) -> None:
    host = portal()
    assert "Create an account</a> (20 free tokens)" in client.get("/signin").text
    assert "You start with 20 tokens." in client.get("/signup").text
    response = client.post("/signup", data={"name": "newbie", "password": "newbie-pass"},
                           follow_redirects=False)
    assert response.status_code == 303 and sessions.COOKIE in client.cookies
    user = host.user("newbie")
    assert user is not None and user.role == "user" and user.balance == 20
    assert page_opens(client)


def test_a_starting_grant_of_zero_works_and_says_so(portal, client) -> None:
    host = portal(grant=0)
    signin_page = client.get("/signin").text
    assert "Create an account</a>." in signin_page and "free tokens" not in signin_page
    assert "New accounts start without tokens" in client.get("/signup").text
    response = client.post("/signup", data={"name": "newbie", "password": "newbie-pass"},
                           follow_redirects=False)
    assert response.status_code == 303 and page_opens(client)
    assert host.user("newbie").balance == 0
    assert host.ledger("newbie") == []
    assert host.verify_books().ok


def test_sign_ups_are_throttled_per_address(portal, client) -> None:
    host = portal(registry="signups_per_hour = 2\n")
    codes = [client.post("/signup", data={"name": name, "password": password},
                         follow_redirects=False).status_code
             for name, password in (("one", "short"), ("two", "long-enough"),
                                    ("three", "long-enough"))]
    assert codes == [400, 303, 429]  # a failed attempt counts too
    assert host.user("three") is None
    with other_client() as elsewhere:
        assert elsewhere.post("/signup", data={"name": "four", "password": "long-enough"},
                              follow_redirects=False).status_code == 303
    assert host.verify_books().ok


def test_sign_up_errors_are_shown_and_nothing_is_created(portal, client) -> None:
    host = portal()
    short = client.post("/signup", data={"name": "shorty", "password": "short"})
    assert short.status_code == 400 and "at least 8 characters" in short.text
    taken = client.post("/signup", data={"name": "admin", "password": "long-enough"})
    assert taken.status_code == 400 and "exists already" in taken.text
    assert host.user("shorty") is None


def test_an_admin_can_switch_sign_up_off(portal, client) -> None:
    host = portal()
    host.set_self_signup(False, actor="portal:admin", reason="invite only")
    assert "Create an account" not in client.get("/signin").text
    refused = client.post("/signup", data={"name": "late", "password": "long-enough"})
    assert refused.status_code == 403 and host.user("late") is None


# -- health ---------------------------------------------------------------------------------


def test_health_says_starting_until_plugins_warmed(portal, client, monkeypatch) -> None:
    portal()
    monkeypatch.setattr(routes.READY, "is_set", lambda: False)
    starting = client.get("/health")
    assert starting.status_code == 503 and starting.json()["status"] == "starting"
    monkeypatch.undo()
    routes.READY.set()
    healthy = client.get("/health").json()
    assert healthy["status"] == "ok" and healthy["functions"] >= 1
