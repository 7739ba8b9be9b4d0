"""`tokenworks serve` as a person starts it: health, the gate, sign-in, and stopping."""

from __future__ import annotations

import http.cookiejar
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from conftest import plugin_folder, write_registry
from serving import ADMIN_PASSWORD, free_port, start_server

pytestmark = pytest.mark.slow


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_serve_starts_healthy_and_signs_in(tmp_path) -> None:
    server = start_server(tmp_path, builtin='"text_tools"')
    try:
        with urllib.request.urlopen(f"{server.url}/health", timeout=10) as response:
            health = json.load(response)
        assert health["status"] == "ok" and health["functions"] == 1
        assert "created the first admin 'admin'" in server.log.read_text()

        opener = urllib.request.build_opener(NoRedirect)
        page = urllib.request.Request(f"{server.url}/", headers={"Accept": "text/html"})
        with pytest.raises(urllib.error.HTTPError) as redirect:
            opener.open(page, timeout=10)
        assert redirect.value.code == 303
        assert redirect.value.headers["location"].startswith("/signin")

        jar = http.cookiejar.CookieJar()
        signed = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        form = urllib.parse.urlencode({"name": "admin", "password": ADMIN_PASSWORD}).encode()
        with signed.open(f"{server.url}/signin", data=form, timeout=30) as response:
            assert response.status == 200  # followed to the portal page
        assert any(cookie.name == "tw_session" for cookie in jar)
    finally:
        stopping = time.monotonic()
        server.stop()
    assert server.process.poll() is not None
    # A server with well-behaved plugins stops on its own, before the watchman's deadline.
    assert time.monotonic() - stopping < 5
    assert "killing it" not in server.log.read_text()


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_serve_stops_within_5_s_of_sigterm_whatever_a_plugin_does(tmp_path) -> None:
    """The review's break 3: a plugin whose import hangs kept the server from answering
    and made it ignore SIGTERM."""
    plugin_folder(tmp_path, "hang_on_import.py", "good_plugin.py")
    registry = write_registry(tmp_path, '[store]\npath = "store.duckdb"\n[plugins]\n'
                                        'entry_points = false\nimport_timeout = 600\n')
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        watchman = subprocess.Popen(
            [sys.executable, "-m", "tokenworks.cli", "--registry", str(registry), "serve",
             "--port", str(free_port())],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env=dict(os.environ, TOKENWORKS_ADMIN_PASSWORD=ADMIN_PASSWORD))
    try:
        deadline = time.monotonic() + 30
        while not (servers := _children(watchman.pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        [server] = servers
        time.sleep(3)  # the server is now inside the plugin's hour-long import
        assert watchman.poll() is None

        stopped = time.monotonic()
        watchman.send_signal(signal.SIGTERM)
        watchman.wait(10)
        assert time.monotonic() - stopped < 5.5
        assert not _alive(server)
        assert "did not stop within 4.5 s; killing it" in log.read_text()
    finally:
        if watchman.poll() is None:
            watchman.kill()
