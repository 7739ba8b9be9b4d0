"""API keys from the CLI (`tokenworks keys`) and from the portal's API keys page."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import write_registry
from portals.conftest import app_as
from starlette.testclient import TestClient

from tokenworks.api.keys import verify_key
from tokenworks.cli import cli
from tokenworks.host import Host

from .conftest import bearer, mounted


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TOKENWORKS_REGISTRY", "TOKENWORKS_STORE", "TOKENWORKS_STRICT"):
        monkeypatch.delenv(name, raising=False)


def test_keys_create_list_revoke_from_the_cli(tmp_path) -> None:
    registry = write_registry(tmp_path, '[store]\npath = "store.duckdb"\n[plugins]\n'
                                        'entry_points = false\n[users]\nstarting_grant = 5\n')

    def tw(*args: str, expect: int = 0):
        result = CliRunner().invoke(cli, ["--registry", str(registry), *args])
        assert result.exit_code == expect, (result.output, result.exception)
        return result

    tw("users", "add", "carol")
    created = tw("keys", "create", "carol", "--name", "nightly job")
    key = created.stdout.strip()
    assert key.startswith("tw_") and "shown once" in created.stderr
    key_id = key.split("_")[1]
    listed = json.loads(tw("keys", "list", "--json").stdout)
    assert [(k["key_id"], k["user"], k["name"]) for k in listed] == [
        (key_id, "carol", "nightly job")]
    assert "secret_hash" not in listed[0] and key.split("_", 2)[2] not in str(listed)
    assert key_id in tw("keys", "list", "--user", "carol").stdout
    assert "no such user" in tw("keys", "create", "nobody", "--name", "x", expect=1).output
    with Host.from_registry(str(registry)) as host:
        assert verify_key(host, key) is not None
        client = TestClient(mounted(host))
        assert client.get("/api/me", headers=bearer(key)).json()["balance"] == 5
    assert f"revoked {key_id}" in tw("keys", "revoke", key_id, "--reason", "leaked").stdout
    assert "revoked already" in tw("keys", "revoke", key_id).stdout
    assert "no API key" in tw("keys", "revoke", "ffffffffffff", expect=1).output
    with Host.from_registry(str(registry)) as host:
        assert verify_key(host, key) is None
        (change,) = [c for c in host.audit() if c.field == "revoked"]
        assert change.reason == "leaked" and change.actor.startswith("cli:")


def test_portal_page_creates_shows_once_lists_and_revokes(portal) -> None:
    host = portal()
    host.add_user("dora", password="dora-password", actor="test")
    app = app_as("dora", "user/api_keys.py")
    assert not app.exception, app.exception
    assert any("no API keys" in info.value for info in app.info)
    app.text_input(key="tw_api_key_name").input("laptop")
    app.button[0].click().run()
    assert not app.exception, app.exception
    (shown,) = [code.value for code in app.code]
    assert shown.startswith("tw_") and verify_key(host, shown) is not None
    app.run()  # any later run: the key is not shown again
    assert not [code for code in app.code]
    (key,) = host.api_keys("dora")
    assert key.name == "laptop" and shown.split("_", 2)[2] not in key.secret_hash
    app.selectbox(key="tw_api_key_revoke").select(key.key_id).run()
    next(b for b in app.button if b.label == "Revoke").click().run()
    assert not app.exception, app.exception
    assert verify_key(host, shown) is None
    assert not host.api_keys("dora")[0].active
