"""The admin pages through AppTest against a real host: what they show, what they change,
and that every action re-checks the role on the server."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tokenworks.portals import runtime, sessions, stats

from .conftest import APPTEST_TIMEOUT, app_as

TEXT = {"text": "data engineer, senior data engineer, analyst"}


def fill(app: AppTest, **values) -> AppTest:
    """Set widgets by key: selectboxes and radios are selected, the rest set."""
    for key, value in values.items():
        for kind in ("selectbox", "radio"):
            found = [w for w in getattr(app, kind) if w.key == key]
            if found:
                found[0].set_value(value)
                break
        else:
            widgets = [w for w in (*app.text_input, *app.number_input) if w.key == key]
            assert widgets, f"no widget with key {key!r}"
            widgets[0].set_value(value)
    return app


def submit(app: AppTest, key: str) -> AppTest:
    app.button(key=key).click().run()
    assert not app.exception, app.exception
    return app


def messages(app: AppTest, kind: str) -> list[str]:
    return [element.value for element in getattr(app, kind)]


def view(host, name: str):
    return {v.spec.name: v for v in host.functions()}[name]


# -- plugins and functions ---------------------------------------------------------------

def test_plugin_list_shows_failed_plugins_with_error_traceback_and_load_times(portal) -> None:
    host = portal("import_error.py", "register_raises.py", builtin=("text_tools",))
    app = app_as("admin", "admin/plugins.py")
    assert not app.exception
    plugins = app.dataframe[0].value.set_index("plugin")
    assert plugins.loc["import_error", "status"] == "failed"
    assert plugins.loc["register_raises", "status"] == "failed"
    assert plugins.loc["text_tools", "status"] == "loaded"
    assert "tokenworks_missing_dependency" in plugins.loc["import_error", "error"]
    assert plugins.loc["text_tools", "version"]
    records = {record.name: record for record in host._discovery.plugins}
    assert plugins.loc["text_tools", "load ms"] == round(records["text_tools"].load_ms, 1)
    assert plugins.loc["text_tools", "load ms"] > 0
    errors = " ".join(messages(app, "error"))
    assert "No module named 'tokenworks_missing_dependency'" in errors
    assert "register_raises cannot reach its database" in errors
    tracebacks = " ".join(block.value for block in app.code)
    assert "Traceback" in tracebacks and "import_error.py" in tracebacks


def test_switching_a_function_off_changes_the_catalog_and_is_audited(portal) -> None:
    host = portal()
    app = app_as("admin", "admin/plugins.py")
    fill(app, function_name="word_frequencies", function_state="off",
         function_reason="misbehaving today")
    submit(app, "function_submit")
    assert not view(host, "word_frequencies").enabled
    change = host.audit(1)[0]
    assert (change.actor, change.target_kind, change.target, change.field) == (
        "portal:admin", "function", "word_frequencies", "enabled")
    assert (change.after, change.reason) == ("false", "misbehaving today")
    assert any("switched off" in text for text in messages(app, "success"))
    functions = app.dataframe[1].value.set_index("function")  # redrawn after the change
    assert not functions.loc["word_frequencies", "enabled"]


def test_an_action_without_a_reason_is_refused(portal) -> None:
    host = portal()
    before = len(host.audit())
    app = app_as("admin", "admin/plugins.py")
    fill(app, function_name="word_frequencies", function_state="off", function_reason="  ")
    submit(app, "function_submit")
    assert any("reason is required" in text for text in messages(app, "error"))
    assert view(host, "word_frequencies").enabled
    assert len(host.audit()) == before


def test_switching_a_plugin_off_disables_its_functions(portal) -> None:
    host = portal()
    app = app_as("admin", "admin/plugins.py")
    fill(app, plugin_name="text_tools", plugin_state="off", plugin_reason="upgrade")
    submit(app, "plugin_submit")
    assert not host._catalog.plugin_enabled("text_tools")
    assert view(host, "word_frequencies").why_disabled() == "plugin 'text_tools' is switched off"
    assert app.dataframe[0].value.set_index("plugin").loc["text_tools", "status"] == "disabled"
    assert host.audit(1)[0].target_kind == "plugin"


def test_cost_override(portal) -> None:
    host = portal()
    app = app_as("admin", "admin/plugins.py")
    fill(app, cost_function="word_frequencies", cost_value=7, cost_reason="heavier now")
    submit(app, "cost_submit")
    assert view(host, "word_frequencies").cost == 7
    change = host.audit(1)[0]
    assert (change.field, change.before, change.after, change.reason) == (
        "cost", "1", "7", "heavier now")
    assert app.dataframe[1].value.set_index("function").loc["word_frequencies", "cost"] == 7


# -- users and tokens --------------------------------------------------------------------

def test_create_user_with_a_generated_password(portal) -> None:
    host = portal()
    app = app_as("admin", "admin/users.py")
    fill(app, new_name="bob", new_role="user")
    submit(app, "create_submit")
    bob = host.user("bob")
    assert bob is not None and bob.role == "user" and bob.balance == 20
    [success] = messages(app, "success")
    generated = success.split("`")[1]
    assert host.authenticate("bob", generated) is not None
    assert "bob" in app.dataframe[0].value["user"].tolist()

    fill(app, new_name="bob")  # again: the host refuses, shown as an error
    submit(app, "create_submit")
    assert any("exists already" in text for text in messages(app, "error"))


def test_grant_and_take_back(portal) -> None:
    host = portal()
    host.add_user("alice", password="alice-password", actor="test")
    app = app_as("admin", "admin/users.py")
    fill(app, tokens_user="alice", tokens_direction="grant", tokens_amount=5,
         tokens_reason="welcome bonus")
    submit(app, "tokens_submit")
    assert host.balance("alice") == 25
    entry = host.ledger("alice", 1)[0]
    assert (entry.kind, entry.amount, entry.actor, entry.reason) == (
        "grant", 5, "portal:admin", "welcome bonus")

    fill(app, tokens_user="alice", tokens_direction="take back", tokens_amount=100,
         tokens_reason="too generous")
    submit(app, "tokens_submit")
    assert messages(app, "error") == [
        "Cannot take back 100 tokens: alice has 25. Nothing was changed."]
    assert host.balance("alice") == 25

    fill(app, tokens_amount=4)
    submit(app, "tokens_submit")
    assert host.balance("alice") == 21
    assert host.ledger("alice", 1)[0].kind == "adjustment"
    fill(app, ledger_user="alice").run()
    ledger = app.dataframe[-1].value
    assert ledger["amount"].tolist()[:3] == [-4, 5, 20]


def test_role_change_and_self_signup_switch(portal) -> None:
    host = portal()
    host.add_user("alice", password="alice-password", actor="test")
    app = app_as("admin", "admin/users.py")
    fill(app, role_user="alice", role_value="admin", role_reason="on call this week")
    submit(app, "role_submit")
    assert host.user("alice").role == "admin"
    change = host.audit(1)[0]
    assert (change.target, change.field, change.after) == ("alice", "role", "admin")

    enabled = host.self_signup_enabled()
    fill(app, signup_state="off" if enabled else "on", signup_reason="testing")
    submit(app, "signup_submit")
    assert host.self_signup_enabled() is not enabled
    assert host.audit(1)[0].target_kind == "setting"


# -- the role is re-checked on the server ------------------------------------------------

def test_a_demoted_admin_cannot_act_from_an_open_page(portal) -> None:
    host = portal()
    host.add_user("carol", role="admin", password="carol-password", actor="test")
    app = app_as("carol", "admin/plugins.py")
    fill(app, cost_function="word_frequencies", cost_value=9, cost_reason="mine now")
    before = len(host.audit())
    host.set_role("carol", "user", actor="test", reason="demoted meanwhile")
    app.button(key="cost_submit").click().run()
    assert view(host, "word_frequencies").cost == 1
    assert len(host.audit()) == before + 1  # only the demotion
    assert not messages(app, "success")


def action_script() -> None:  # runs inside AppTest: imports are its own
    import streamlit as st

    from tokenworks.portals.admin import common
    from tokenworks.portals.runtime import get_host

    host = get_host()
    if st.button("Set cost", key="go"):
        common.act(lambda who: host.set_cost("word_frequencies", 9, actor=who,
                                             reason="checked") or "done", "checked")


def run_action_as(user: str, demote_before_click: bool, host) -> AppTest:
    """The action handler alone: the page-top check already passed when the user is
    demoted (a demotion between the page's check and the click)."""
    app = AppTest.from_function(action_script, default_timeout=APPTEST_TIMEOUT)
    app.session_state[runtime.SESSION_KEY] = sessions.issue(host, user)
    app.run()
    if demote_before_click:
        host.set_role(user, "user", actor="test", reason="demoted meanwhile")
    return app.button(key="go").click().run()


def test_the_action_handler_rechecks_the_role(portal) -> None:
    host = portal()
    host.add_user("carol", role="admin", password="carol-password", actor="test")
    app = run_action_as("carol", True, host)
    assert messages(app, "error") == ["This page is for admins."]
    assert view(host, "word_frequencies").cost == 1

    host.set_role("carol", "admin", actor="test", reason="back")  # control: still admin
    app = run_action_as("carol", False, host)
    assert not messages(app, "error")
    assert view(host, "word_frequencies").cost == 9


# -- monitoring --------------------------------------------------------------------------

def test_monitoring_shows_calls_latency_errors_and_tokens(portal) -> None:
    host = portal("meter_probe.py", builtin=("text_tools",))
    host.add_user("alice", password="alice-password", actor="test")
    host.add_user("bob", password="bob-password", actor="test")
    for _ in range(3):
        assert host.call("word_frequencies", "alice", TEXT).ok
    assert host.call("word_frequencies", "bob", TEXT).ok
    assert host.call("probe_fail", "bob", {"text": "x"}).status == "failed"
    assert host.call("probe_blink", "alice", {"seconds": 0.3}).status == "timeout"
    assert host.call("probe_ok", "alice", {"text": "x"}).ok

    calls = host.calls_since(host.calls(limit=100)[-1].started_at)
    assert len(calls) == 7
    summary = stats.summary(calls)
    assert (summary.calls, summary.errors, summary.timeouts) == (7, 1, 1)
    assert summary.tokens == 4 * 1 + 3  # four word_frequencies at 1, one probe_ok at 3
    rates = stats.outcome_rates(calls)
    assert rates.loc["probe_fail", "error_rate"] == 1.0
    assert rates.loc["probe_blink", "timeout_rate"] == 1.0
    assert rates.loc["word_frequencies", ["error_rate", "timeout_rate"]].tolist() == [0, 0]
    assert stats.tokens_by(calls, "user")["tokens"].to_dict() == {"alice": 6, "bob": 1}
    assert stats.latency_by_function(calls).loc["word_frequencies", "calls"] == 4

    app = app_as("admin", "admin/monitoring.py")
    assert not app.exception
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics["Calls"] == "7"
    assert metrics["Error rate"] == f"{1 / 7:.1%}"
    assert metrics["Timeout rate"] == f"{1 / 7:.1%}"
    assert metrics["Tokens spent"] == "7"
    assert len(app.get("vega_lite_chart")) == 5  # one chart per table
    tables = [frame.value for frame in app.dataframe]
    assert len(tables) == 6  # and the failed calls
    by_user = next(t for t in tables if t.index.name == "user")
    assert by_user["tokens"].to_dict() == {"alice": 6, "bob": 1}
    latency = next(t for t in tables if "p95_ms" in t.columns)
    assert set(latency.index) == {"word_frequencies", "probe_fail", "probe_blink", "probe_ok"}
    per_minute = next(t for t in tables if t.index.name == "minute")
    assert per_minute["calls"].sum() == 7
    # Failed calls, with why: what an admin needs, which the user was not told.
    failed = next(t for t in tables if "why" in t.columns)
    assert sorted(failed["function"]) == ["probe_blink", "probe_fail"]
    why = dict(zip(failed["function"], failed["why"], strict=True))
    assert why["probe_fail"] == "RuntimeError: probe failure for 'x'"
    assert why["probe_blink"].startswith("timed out after 0.02 s")
    details = [block.value for block in app.code]
    assert any("Traceback (most recent call last)" in text and "meter_probe.py" in text
               for text in details)
    fail_id = failed.loc[failed["function"] == "probe_fail", "call id"].item()
    app.text_input(key="failed_call_id").input(fail_id[:8]).run()
    narrowed = next(f.value for f in app.dataframe if "why" in f.value.columns)
    assert narrowed["call id"].tolist() == [fail_id]


# -- audit log and the books -------------------------------------------------------------

def test_audit_log_filters(portal) -> None:
    host = portal()
    host.add_user("alice", password="alice-password", actor="test")
    host.set_cost("word_frequencies", 4, actor="portal:admin", reason="price review")
    host.grant("alice", 5, actor="portal:admin", reason="welcome bonus")
    host.set_function_enabled("word_frequencies", False, actor="cli:root", reason="outage")
    app = app_as("admin", "admin/audit.py")
    assert not app.exception

    def rows() -> list[tuple[str, str, str]]:
        table = app.dataframe[0].value
        return list(zip(table["actor"], table["kind"], table["change"], strict=True))

    assert ("portal:admin", "tokens", "grant 5") in rows()
    assert ("cli:root", "function", "enabled") in rows()
    app.selectbox(key="audit_actor").select("cli:root").run()
    assert rows() == [("cli:root", "function", "enabled")]
    app.selectbox(key="audit_actor").select("(anyone)")
    app.multiselect(key="audit_kinds").select("tokens").run()
    assert {kind for _, kind, _ in rows()} == {"tokens"}
    assert ("portal:admin", "tokens", "grant 5") in rows()
    app.multiselect(key="audit_kinds").unselect("tokens")
    app.text_input(key="audit_text").input("PRICE").run()
    assert rows() == [("portal:admin", "function", "cost")]
    app.text_input(key="audit_text").input("")
    app.selectbox(key="audit_window").select("last 15 minutes").run()
    assert len(rows()) >= 4  # everything above happened just now


def test_verify_the_books(portal) -> None:
    host = portal()
    host.add_user("alice", password="alice-password", actor="test")
    assert host.call("word_frequencies", "alice", TEXT).ok
    app = app_as("admin", "admin/audit.py")
    app.button(key="verify_books").click().run()
    assert not app.exception
    assert messages(app, "success") == ["The books balance."]
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics["Accounts"] == "2"
    assert metrics["Open holds"] == "0"
