"""`tokenworks serve` as a person starts it: one process, health, the gate, sign-in."""

from __future__ import annotations

import http.cookiejar
import json
import urllib.error
import urllib.parse
import urllib.request

import pytest
from serving import ADMIN_PASSWORD, start_server

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
        server.stop()
    assert server.process.poll() is not None
