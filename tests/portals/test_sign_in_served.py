"""Sign-in throttling, sign-up limits, key rotation and file modes on a real `tokenworks
serve`: concurrent requests over real connections, X-Forwarded-For from loopback, the
rotate command run beside the server, the books verified by the CLI afterwards."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from email.message import Message
from pathlib import Path

import pytest
from serving import ADMIN_PASSWORD, Server, start_server

from tokenworks.portals import throttle
from tokenworks.secret_key import KEY_ENV

pytestmark = pytest.mark.slow
CONCURRENT = 30


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


OPENER = urllib.request.build_opener(NoRedirect)


def post(server: Server, path: str, form: dict[str, str],
         headers: dict[str, str] | None = None) -> tuple[int, Message]:
    """POST a form; the status and the response headers (redirects are not followed)."""
    request = urllib.request.Request(f"{server.url}{path}",
                                     data=urllib.parse.urlencode(form).encode(),
                                     headers=headers or {})
    try:
        with OPENER.open(request, timeout=60) as response:
            return response.status, response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.headers


def at_once(count: int, work) -> list:
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(work, range(count)))


def cli(server: Server, *args: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != KEY_ENV}
    return subprocess.run([sys.executable, "-m", "tokenworks.cli", "--registry",
                           str(server.registry), *args], capture_output=True, text=True,
                          env=env, timeout=120)


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    monkeypatch.delenv(KEY_ENV, raising=False)
    running = start_server(tmp_path / "serve", builtin='"text_tools"')
    yield running
    running.stop()


def session_cookie(server: Server, name: str, password: str) -> str:
    status, headers = post(server, "/signin", {"name": name, "password": password})
    assert status == 303, status
    (cookie,) = [value.split(";", 1)[0] for value in headers.get_all("set-cookie")
                 if value.startswith("tw_session=")]
    return cookie


def get(server: Server, path: str, cookie: str, accept: str = "text/html") -> tuple[int, str]:
    request = urllib.request.Request(f"{server.url}{path}",
                                     headers={"Cookie": cookie, "Accept": accept})
    try:
        with OPENER.open(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_concurrent_wrong_passwords_are_counted_before_they_are_checked(served) -> None:
    def guess(index: int) -> int:
        return post(served, "/signin", {"name": "admin", "password": f"guess-{index}"})[0]

    codes = Counter(at_once(CONCURRENT, guess))
    assert codes == {401: throttle.ACCOUNT_LIMIT, 429: CONCURRENT - throttle.ACCOUNT_LIMIT}
    # the right password is refused too while the account is locked for new browsers
    assert post(served, "/signin", {"name": "admin", "password": ADMIN_PASSWORD})[0] == 429


def test_rotating_x_forwarded_for_from_loopback_does_not_evade_the_limit(served) -> None:
    attempts = throttle.ADDRESS_LIMIT + 5

    def guess(index: int) -> int:
        return post(served, "/signin", {"name": f"user{index}", "password": "guess-guess"},
                    {"X-Forwarded-For": f"192.0.2.{index + 1}"})[0]

    codes = Counter(at_once(attempts, guess))
    assert codes == {401: throttle.ADDRESS_LIMIT, 429: 5}


def test_concurrent_sign_ups_from_one_address_are_limited(served) -> None:
    def sign_up(index: int) -> int:
        return post(served, "/signup", {"name": f"free{index}", "password": "long-enough-1"})[0]

    codes = Counter(at_once(CONCURRENT, sign_up))
    limit = 5  # users.signups_per_hour's default
    assert codes == {303: limit, 429: CONCURRENT - limit}
    # a portal cookie is no API credential
    cookie = session_cookie(served, "admin", ADMIN_PASSWORD)
    assert get(served, "/api/me", cookie, "application/json")[0] == 401
    served.stop()
    users = json.loads(cli(served, "users", "list", "--json").stdout)
    created = [user for user in users if user["name"].startswith("free")]
    assert len(created) == limit and all(user["balance"] == 20 for user in created)
    verify = cli(served, "ledger", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_rotating_the_key_signs_out_a_running_servers_sessions(served) -> None:
    cookie = session_cookie(served, "admin", ADMIN_PASSWORD)
    assert get(served, "/history", cookie)[0] == 200
    rotated = cli(served, "secret", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    status, _ = get(served, "/history", cookie)
    assert status == 303  # to the sign-in page
    assert json.loads(get(served, "/state", cookie, "application/json")[1])["signed_in"] is False
    fresh = session_cookie(served, "admin", ADMIN_PASSWORD)
    assert get(served, "/history", fresh)[0] == 200


def test_a_server_under_a_careless_umask_keeps_its_files_private(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    before = os.umask(0)
    try:  # the server inherits the umask
        server = start_server(tmp_path / "serve", builtin='"text_tools"',
                              store="data/store.duckdb")
    finally:
        os.umask(before)
    try:
        session_cookie(server, "admin", ADMIN_PASSWORD)  # writes a session row
        data = server.registry.parent / "data"
        files = [data / "store.duckdb", data / "store.duckdb.session-key",
                 *data.glob("store.duckdb.wal")]
        modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in files}
        assert modes == dict.fromkeys(modes, 0o600) and "store.duckdb" in modes
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
    finally:
        server.stop()
