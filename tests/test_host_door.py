"""What the Host's public surface answers and changes for the portals, the API and the
CLI: plugins with their switch, API keys, portal sessions, grants, and the outcome that
carries the balance after a call."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tokenworks.errors import InsufficientTokensError, TokenworksError, UnknownUserError
from tokenworks.host.api_keys import parse_key
from tokenworks.store import utcnow
from tokenworks.store.base import ThrottleRule


@pytest.fixture
def host(make_host):
    host = make_host("good_plugin.py", "register_raises.py", sweep=False,
                     registry="[users]\nstarting_grant = 10\n")
    host.add_user("ann", password="ann-password", actor="test")
    host.add_user("bo", password="bo-password", actor="test")
    return host


def test_plugins_carry_their_status_and_switch(host) -> None:
    statuses = {view.name: (view.status, view.enabled) for view in host.plugins()}
    assert statuses == {"good_plugin": ("loaded", True), "register_raises": ("failed", True)}
    assert host.set_plugin_enabled("good_plugin", False, actor="test", reason="review")
    view = host.plugin("good_plugin")
    assert (view.status, view.enabled, view.loaded) == ("disabled", False, True)
    assert view.plugin.status == "loaded"  # discovery's own word is unchanged
    assert host.plugin("register_raises").status == "failed"  # failed stays failed
    assert host.plugin("nope") is None


def test_the_outcome_carries_the_balance_after_the_call(host) -> None:
    ok = host.call("greet", "ann", {"name": "Ann"})
    assert (ok.status, ok.charged, ok.balance_after) == ("succeeded", 2, 8)
    assert host.balance("ann") == 8
    replayed = host.call("greet", "ann", {"name": "Ann"}, call_id="same")
    again = host.call("greet", "ann", {"name": "Ann"}, call_id="same")
    assert (replayed.balance_after, again.replayed, again.balance_after) == (6, True, 6)


def test_a_refusal_is_an_exception_and_charges_nothing(host) -> None:
    host.grant("bo", -10, actor="test", reason="empty the account")
    with pytest.raises(InsufficientTokensError):
        host.call("greet", "bo", {"name": "Bo"})
    assert host.balance("bo") == 0 and host.calls("bo") == []


def test_api_keys_are_made_listed_and_revoked_through_the_host(host) -> None:
    record, key = host.create_api_key("ann", " laptop ", actor="test")
    assert (record.user, record.name, record.active) == ("ann", "laptop", True)
    assert parse_key(key) is not None and parse_key(key)[0] == record.key_id
    assert key.split("_", 2)[2] not in record.secret_hash  # only a hash is kept
    assert [k.key_id for k in host.api_keys("ann")] == [record.key_id]
    assert host.api_key(record.key_id) == record
    with pytest.raises(TokenworksError, match="no API key"):  # not bo's to revoke
        host.revoke_api_key(record.key_id, actor="test", owner="bo")
    assert host.api_key(record.key_id).active
    assert host.revoke_api_key(record.key_id, actor="test", owner="ann")
    assert not host.revoke_api_key(record.key_id, actor="test")  # revoked already
    assert not host.api_key(record.key_id).active


def test_a_refused_api_key_stores_nothing(host) -> None:
    with pytest.raises(UnknownUserError):
        host.create_api_key("nobody", "laptop", actor="test")
    with pytest.raises(TokenworksError, match="1-80 characters"):
        host.create_api_key("ann", "   ", actor="test")
    assert host.api_keys() == []


def test_portal_sessions_open_touch_and_close(host) -> None:
    start = utcnow()
    idle = timedelta(minutes=host.config.users.session_idle_minutes)
    polled = host.open_portal_session("ann", now=start)
    used = host.open_portal_session("ann", now=start)
    assert host.portal_session_user("not-a-token", now=start) is None
    # Polling (touch=False) does not keep an idle session alive; a page run does.
    for token, touch in ((polled, False), (used, True)):
        assert host.portal_session_user(token, touch=touch, now=start + idle * 0.9) == "ann"
    assert host.portal_session_user(polled, touch=False, now=start + idle * 1.5) is None
    assert host.portal_session_user(used, touch=False, now=start + idle * 1.5) == "ann"
    assert host.close_portal_session(used, "signed out")
    assert host.portal_session_user(used) is None
    assert not host.close_portal_session(used, "signed out")


def test_sign_in_attempts_are_counted_and_refunded(host) -> None:
    rules = [ThrottleRule("user:ann", 2, 900.0)]
    assert host.take_attempt(rules) == 0
    host.refund_attempt(rules)  # a success gives its attempt back
    assert host.take_attempt(rules) == 0 and host.take_attempt(rules) == 0
    assert host.take_attempt(rules) > 0  # the third within the window is refused


def test_grants_are_the_admins_side_of_the_ledger(host) -> None:
    host.call("greet", "ann", {"name": "Ann"})  # a hold and a capture: not grants
    host.grant("ann", 5, actor="admin", reason="bonus")
    host.grant("bo", -3, actor="admin", reason="refund")
    kinds = [(entry.user, entry.kind, entry.amount) for entry in host.grants()]
    assert kinds[:2] == [("bo", "adjustment", -3), ("ann", "grant", 5)]
    assert {kind for _, kind, _ in kinds} == {"grant", "adjustment"}
    assert host.grants(since=utcnow() + timedelta(minutes=1)) == []
