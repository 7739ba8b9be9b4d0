"""Two real `tokenworks serve` replicas on one PostgreSQL database: an admin's switch on one
reaches the other within 2 s, metered calls spread over both (retries crossing replicas
included) keep the books exact, and `tokenworks ledger verify` agrees afterwards."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path
from urllib.parse import urlencode

import pytest
from conftest import write_registry
from serving import ADMIN_PASSWORD, Server, start_server

from tokenworks.config import load_registry
from tokenworks.host import Host
from tokenworks.portals import throttle

pytestmark = pytest.mark.slow

GRANT = 500
COST = 1  # word_frequencies
CALLS = 120  # over 4 client threads and both replicas
FAST_API = {"TOKENWORKS_API_RATE": "10000", "TOKENWORKS_API_BURST": "10000"}


def request(method: str, url: str, key: str, body: dict | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict]:
    sent = {"Authorization": f"Bearer {key}", **(headers or {})}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        sent["Content-Type"] = "application/json"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data, sent, method=method),
                                    timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def enabled_on(server: Server, key: str) -> bool:
    status, body = request("GET", f"{server.url}/api/functions/word_frequencies", key)
    assert status == 200, body
    return body["enabled"]


def seen_within(server: Server, key: str, enabled: bool, seconds: float) -> float:
    started = time.monotonic()
    while enabled_on(server, key) != enabled:
        assert time.monotonic() - started < seconds, f"not {enabled} on {server.url} in time"
        time.sleep(0.05)
    return time.monotonic() - started


def test_two_replicas_share_switches_and_keep_the_books(pg_engine, tmp_path: Path) -> None:
    url = pg_engine.location
    setup = write_registry(tmp_path / "setup", f'[store]\npath = "{url}"\n[plugins]\n'
                           'builtin = ["text_tools"]\nfolder = ""\nentry_points = false\n'
                           f'[users]\nstarting_grant = {GRANT}\n')
    with Host(load_registry(setup), sweep=False) as host:
        host.add_user("root", role="admin", password="root-password-1", actor="test")
        host.add_user("erin", password="erin-password-1", actor="test")
        _, admin_key = host.create_api_key("root", "replicas", actor="test")
        _, key = host.create_api_key("erin", "replicas", actor="test")

    replicas = [start_server(tmp_path / name, builtin='"text_tools"', grant=GRANT, store=url,
                             extra_env=FAST_API) for name in ("a", "b")]
    a, b = replicas
    try:
        # A switch on replica A shows on replica B within 2 s, and back the other way.
        status, body = request("PATCH", f"{a.url}/api/admin/functions/word_frequencies",
                               admin_key, {"enabled": False, "reason": "replica test"})
        assert status == 200 and body["enabled"] is False, body
        assert seen_within(b, key, False, 2.0) < 2.0
        status, body = request("POST", f"{b.url}/api/functions/word_frequencies/calls", key,
                               {"text": "off"})
        assert status == 409, body  # refused on B too: nothing charged
        status, _ = request("PATCH", f"{b.url}/api/admin/functions/word_frequencies",
                            admin_key, {"enabled": True, "reason": "back on"})
        assert status == 200
        seen_within(a, key, True, 2.0)

        # Metered calls spread over both replicas; every 10th call id is sent to both.
        outcomes: list[tuple[str, int, dict]] = []
        lock = threading.Lock()

        def client(thread: int) -> None:
            for i in range(CALLS // 4):
                call_key = f"t{thread}-{i}"
                targets = [replicas[(thread + i) % 2]]
                if i % 10 == 0:
                    targets.append(replicas[(thread + i + 1) % 2])  # a retry elsewhere
                for server in targets:
                    status, body = request(
                        "POST", f"{server.url}/api/functions/word_frequencies/calls", key,
                        {"text": f"alpha beta {call_key}"}, {"Idempotency-Key": call_key})
                    with lock:
                        outcomes.append((call_key, status, body))

        threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
        assert not any(thread.is_alive() for thread in threads)
    finally:
        for server in replicas:
            server.stop()

    assert all(status == 200 for _, status, _ in outcomes), [o for o in outcomes if o[1] != 200]
    succeeded = {k for k, _, body in outcomes if body["status"] == "succeeded"}
    assert len(succeeded) == CALLS
    replays = [body for _, _, body in outcomes if body.get("replayed")]
    assert len(replays) == len(outcomes) - CALLS  # each crossing retry replayed, not re-run

    verify = subprocess.run(
        [sys.executable, "-m", "tokenworks.cli", "--registry", str(setup), "ledger", "verify"],
        capture_output=True, text=True, timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "the books balance" in verify.stdout
    with Host(load_registry(setup), sweep=False) as host:
        assert host.balance("erin") == GRANT - COST * CALLS
        calls = host.calls("erin", limit=10_000)
        assert len(calls) == CALLS and all(c.status == "succeeded" for c in calls)


def test_portal_sessions_and_sign_in_limits_span_replicas(pg_engine, tmp_path: Path) -> None:
    """Replicas sharing the key ($TOKENWORKS_SECRET_KEY) share sessions: a sign-in on one
    opens pages on the other, a sign-out on the other ends it on both, and wrong passwords
    are counted together."""
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)

    def call(server: Server, path: str, form: dict[str, str] | None = None,
             cookie: str = "") -> tuple[int, Message, str]:
        data = urlencode(form).encode() if form is not None else None
        sent = urllib.request.Request(f"{server.url}{path}", data,
                                      {"Cookie": cookie, "Accept": "text/html"})
        try:
            with opener.open(sent, timeout=60) as response:
                return response.status, response.headers, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read().decode()

    shared = {"TOKENWORKS_SECRET_KEY": "replicas-share-this-key-" + "x" * 24}
    a, b = [start_server(tmp_path / name, builtin='"text_tools"', store=pg_engine.location,
                         extra_env=shared) for name in ("a", "b")]
    try:
        status, headers, _ = call(a, "/signin", {"name": "admin", "password": ADMIN_PASSWORD})
        assert status == 303
        (cookie,) = [value.split(";", 1)[0] for value in headers.get_all("set-cookie")
                     if value.startswith("tw_session=")]
        assert call(b, "/history", cookie=cookie)[0] == 200
        page = call(b, "/signout", cookie=cookie)[2]
        csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        assert call(b, "/signout", {"csrf": csrf}, cookie=cookie)[0] == 303
        assert call(a, "/history", cookie=cookie)[0] == 303  # ended on A too
        assert not (a.registry.parent / "tokenworks.session-key").exists()  # from the env

        codes = [call(server, "/signin", {"name": "ghost", "password": "guess-guess"})[0]
                 for server in [a, b] * (throttle.ACCOUNT_LIMIT // 2 + 1)]
        limit = throttle.ACCOUNT_LIMIT
        assert codes == [401] * limit + [429] * (len(codes) - limit)
    finally:
        for replica in (a, b):
            replica.stop()
