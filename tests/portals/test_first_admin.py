"""A fresh store gets its first admin once: a generated password printed once, or the
password from the environment; never a second admin, never a second print."""

from __future__ import annotations

import re

from tokenworks.portals import runtime


def test_a_generated_password_is_printed_once_and_works(make_host, capsys, monkeypatch):
    host = make_host(store=":memory:")
    monkeypatch.delenv(runtime.ADMIN_PASSWORD_ENV, raising=False)
    runtime.announce_first_admin(host)
    printed = capsys.readouterr().out
    password = re.search(r"password: (\S+)\s+\(shown once\)", printed).group(1)
    assert "tokenworks users password admin" in printed  # how to change it
    assert host.authenticate("admin", password).role == "admin"
    runtime.announce_first_admin(host)  # a second start: an admin exists
    assert capsys.readouterr().out == ""
    assert [u.name for u in host.users() if u.role == "admin"] == ["admin"]


def test_the_password_can_come_from_the_environment(make_host, capsys, monkeypatch):
    host = make_host(store=":memory:")
    monkeypatch.setenv(runtime.ADMIN_PASSWORD_ENV, "from-the-env-1")
    runtime.announce_first_admin(host)
    assert "from-the-env-1" not in capsys.readouterr().out
    assert host.authenticate("admin", "from-the-env-1") is not None


def test_a_store_with_an_admin_gets_none(make_host):
    host = make_host(store=":memory:")
    host.add_user("boss", role="admin", password="boss-password", actor="test")
    assert host.ensure_first_admin() is None and host.user("admin") is None
