"""The user portal's pages, driven through AppTest against a real host and store."""

from __future__ import annotations

from collections import Counter

from streamlit.testing.v1 import AppTest

from tokenworks.catalog import Catalog
from tokenworks.errors import FunctionDisabledError
from tokenworks.portals import running
from tokenworks.store.duckdb_store import DuckDBStore
from tokenworks.widgets import form_widgets

from .conftest import app_as
from .helpers import error_after, open_function, run_button, texts, widget

ADMIN = "test:admin"


def signed_up(host, *names: str) -> None:
    for name in names:
        host.add_user(name, password=f"{name}-password", actor="test")


def card_titles(app: AppTest) -> list[str]:
    return [text.removeprefix("#### ") for text in texts(app, "markdown")
            if text.startswith("#### ")]


# -- catalog ------------------------------------------------------------------------------


def test_catalog_lists_enabled_functions_and_filters(portal) -> None:
    host = portal("good_plugin.py")
    signed_up(host, "alice")
    app = app_as("alice", "user/catalog.py")
    assert not app.exception
    assert sorted(card_titles(app)) == ["Greet", "Word frequencies"]
    assert any("2 tokens" in text for text in texts(app, "caption"))  # greet's cost
    app.text_input(key="tw_catalog_search").input("GREET").run()
    assert card_titles(app) == ["Greet"]
    app.text_input(key="tw_catalog_search").input("counting").run()  # a tag of word freq
    assert card_titles(app) == ["Word frequencies"]
    app.text_input(key="tw_catalog_search").input("").run()
    app.multiselect(key="tw_catalog_categories").select("demo").run()
    assert card_titles(app) == ["Greet"]
    app.text_input(key="tw_catalog_search").input("no such words").run()
    assert card_titles(app) == []
    assert "No function matches." in texts(app, "info")


def test_disabled_function_is_absent_and_cannot_be_opened(portal) -> None:
    host = portal("good_plugin.py")
    signed_up(host, "alice")
    app = app_as("alice", "user/catalog.py")
    assert sorted(card_titles(app)) == ["Greet", "Word frequencies"]
    host.set_function_enabled("greet", False, actor=ADMIN, reason="test")
    app.run()  # what the live fragment triggers when the state version moves
    assert card_titles(app) == ["Word frequencies"]
    app = open_function("alice", "greet")
    assert not [b for b in app.button if b.label.startswith("Run")]
    assert any("greet is switched off" in text for text in texts(app, "warning"))
    assert host.balance("alice") == 20


def test_catalog_card_opens_the_function_page(portal) -> None:
    host = portal()
    signed_up(host, "alice")
    app = app_as("alice", "user/catalog.py")
    app.button(key="tw_open:word_frequencies").click().run()
    assert not app.exception
    assert [title.value for title in app.title] == ["Word frequencies"]
    assert app.query_params == {"function": "word_frequencies"}


# -- running ------------------------------------------------------------------------------


def test_form_example_run_charges_and_renders(portal) -> None:
    host = portal()
    signed_up(host, "alice")
    app = open_function("alice", "word_frequencies")
    text = widget(app, "text_area", "Text")
    assert text.value == ""
    assert text.help == "The text to count."
    top = widget(app, "number_input", "Top")
    assert (top.value, top.min, top.max) == (15, 1, 100)
    assert widget(app, "checkbox", "Drop Stopwords").value is True
    assert run_button(app).label == "Run · 1 tokens"
    app.button(key="tw_example:word_frequencies:0").click().run()
    assert widget(app, "text_area", "Text").value.startswith("Data engineer, senior data")
    run_button(app).click().run()
    assert not app.exception
    assert host.balance("alice") == 19
    assert texts(app, "success") == ["Done: charged 1 tokens, balance now 19 tokens."]
    assert [m.label for m in app.metric if m.label != "Balance"] == ["Words", "Counted",
                                                                    "Distinct"]
    assert len(app.dataframe) == 1 and app.get("vega_lite_chart")
    assert app.get("download_button")
    assert [call.status for call in host.calls("alice")] == ["succeeded"]


def test_a_repeated_submission_is_charged_once(portal) -> None:
    host = portal()
    signed_up(host, "alice")
    app = open_function("alice", "word_frequencies")
    widget(app, "text_area", "Text").input("one two three four")
    run_button(app).click().run()
    run_button(app).click().run()  # a double-click: the same form submitted again
    assert host.balance("alice") == 19
    assert len(host.calls("alice")) == 1
    assert "not again" in texts(app, "success")[0]
    app.run()  # any rerun ends the submission: the next click is a new call
    run_button(app).click().run()
    assert host.balance("alice") == 18
    assert len(host.calls("alice")) == 2


def test_a_run_looks_the_function_up_once_and_takes_the_balance_from_the_outcome(
        portal, monkeypatch) -> None:
    host = portal()
    signed_up(host, "alice")
    app = open_function("alice", "word_frequencies")
    widget(app, "text_area", "Text").input("one two three")
    reads: Counter[str] = Counter()
    for owner, method in ((Catalog, "view"), (Catalog, "views"), (DuckDBStore, "balance")):
        original = getattr(owner, method)

        def counted(self, *args, _original=original, _name=method, **kwargs):
            reads[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(owner, method, counted)
    run_button(app).click().run()
    assert texts(app, "success") == ["Done: charged 1 tokens, balance now 19 tokens."]
    assert any("Your balance: 19 tokens" in text for text in texts(app, "caption"))
    assert [m.value for m in app.metric if m.label == "Balance"] == ["19 tokens"]  # sidebar
    # The page's lookup at click time and the meter's own; the balance came with the
    # outcome, so nobody read it (each read would wait for the write-behind).
    assert reads == {"view": 2}


def test_insufficient_tokens_refused_nothing_charged(portal) -> None:
    host = portal("good_plugin.py")
    signed_up(host, "alice")
    host.grant("alice", -19, actor=ADMIN, reason="leave one token")
    app = open_function("alice", "greet")  # costs 2
    app.button(key="tw_example:greet:0").click().run()
    run_button(app).click().run()
    assert not app.exception
    assert any("below this function's cost" in text for text in texts(app, "warning"))
    (error,) = texts(app, "error")
    assert "Not enough tokens" in error and "Nothing was charged" in error
    assert host.balance("alice") == 1
    assert host.calls("alice") == []


def test_validation_error_shown_at_the_field(portal) -> None:
    host = portal("good_plugin.py")
    signed_up(host, "alice")
    app = open_function("alice", "greet")
    widget(app, "text_input", "Name").input("")
    run_button(app).click().run()
    assert "at least 1 character" in (error_after(app, "Name") or "")
    assert error_after(app, "Excited") is None
    assert any("Nothing was charged" in text for text in texts(app, "error"))
    widget(app, "text_input", "Name").input("x" * 41)
    run_button(app).click().run()
    assert "at most 40 characters" in (error_after(app, "Name") or "")
    assert host.balance("alice") == 20 and host.calls("alice") == []


def test_unreadable_json_and_the_hosts_problems_show_at_their_fields(portal) -> None:
    host = portal("form_probe.py", builtin=())
    signed_up(host, "alice")
    app = open_function("alice", "form_probe")
    # bool | None: yes, no or empty, so a drop-down (the checker says the same).
    assert widget(app, "selectbox", "Maybe (optional)").options == ["yes", "no"]
    widget(app, "text_input", "Title").input("T")
    widget(app, "text_area", "Extra").input("{not json")
    run_button(app).click().run()
    assert (error_after(app, "Extra") or "").startswith("not valid JSON")
    assert any("Nothing was charged" in text for text in texts(app, "error"))
    widget(app, "text_area", "Extra").input('{"k": "many"}')
    widget(app, "text_input", "Title").input("")
    run_button(app).click().run()  # now the host judges, and names both fields
    assert "k: Input should be a valid integer" in (error_after(app, "Extra") or "")
    assert "at least 1 character" in (error_after(app, "Title") or "")
    assert error_after(app, "Words") is None
    assert host.balance("alice") == 20 and host.calls("alice") == []
    widget(app, "text_area", "Extra").input('{"k": 3}')
    widget(app, "text_input", "Title").input("T")
    widget(app, "selectbox", "Maybe (optional)").select(False)
    run_button(app).click().run()
    assert texts(app, "success") == ["Done: charged 1 tokens, balance now 19 tokens."]
    (call,) = host.calls("alice")
    assert '"maybe":false' in call.input_json and '"extra":{"k":3}' in call.input_json


def test_failures_and_timeouts_say_no_tokens_were_taken(portal) -> None:
    host = portal("meter_probe.py", builtin=())
    signed_up(host, "alice")
    app = open_function("alice", "probe_fail")
    app.button(key="tw_example:probe_fail:0").click().run()
    run_button(app).click().run()
    (error,) = texts(app, "error")
    assert "The function failed" in error and "No tokens were taken" in error
    app = open_function("alice", "probe_slow")  # timeout 0.3 s
    widget(app, "number_input", "Seconds").set_value(1.5)
    run_button(app).click().run()
    (error,) = texts(app, "error")
    assert "timed out" in error and "No tokens were taken" in error
    assert host.balance("alice") == 20


def test_switched_off_at_click_time_is_refused(portal) -> None:
    host = portal("good_plugin.py")
    signed_up(host, "alice")
    app = open_function("alice", "greet")
    drawn_from = host.function("greet")  # the view the open page was drawn from
    host.set_function_enabled("greet", False, actor=ADMIN, reason="switch off mid-visit")
    run_button(app).click().run()  # the page re-reads the switch before it runs anything
    assert not [b for b in app.button if b.label.startswith("Run")]
    assert any("switched off" in text for text in texts(app, "warning"))
    # A click that raced the switch (the page drawn before it): the host's own refusal.
    fields = form_widgets(drawn_from.spec.input_model)
    shown = running.submit(host, "alice", drawn_from, fields, {"name": "Ada"})
    assert shown.level == "warning" and "Nothing was charged" in shown.message
    assert "greet is switched off" in shown.message
    # Said from the type, not the wording: a reason without it still gets it, once.
    refused = running.refusal_message(FunctionDisabledError("greet is switched off"))
    assert refused.message.count("othing was charged") == 1
    assert host.balance("alice") == 20 and host.calls("alice") == []


# -- history, tokens, about ---------------------------------------------------------------


def test_history_reopens_a_result_and_runs_it_again(portal) -> None:
    host = portal()
    signed_up(host, "alice", "bob")
    host.call("word_frequencies", "alice", {"text": "apples and pears and apples", "top": 7})
    host.call("word_frequencies", "bob", {"text": "bob's private words"})
    app = app_as("alice", "user/history.py")
    assert not app.exception
    (listing,) = app.dataframe
    assert list(listing.value["status"]) == ["succeeded"]
    assert list(listing.value["charged"]) == [1]
    (call,) = host.calls("alice")
    app.selectbox(key="tw_history_open").select(call.call_id).run()
    assert any("charged 1 tokens" in text for text in texts(app, "caption"))
    assert app.get("vega_lite_chart") and len(app.dataframe) == 2  # listing + the result
    assert "apples" in list(app.dataframe[1].value["word"])
    (again,) = [b for b in app.button if b.label == "Run again"]
    again.click().run()
    assert not app.exception
    assert [title.value for title in app.title] == ["Word frequencies"]
    assert widget(app, "text_area", "Text").value == "apples and pears and apples"
    assert widget(app, "number_input", "Top").value == 7


def test_tokens_page_shows_only_own_ledger(portal) -> None:
    host = portal()
    signed_up(host, "alice", "bob")
    host.grant("alice", 5, actor=ADMIN, reason="alice's bonus")
    host.grant("bob", 7, actor=ADMIN, reason="bob's bonus")
    app = app_as("alice", "user/tokens.py")
    assert not app.exception
    assert any(m.value == "25 tokens" for m in app.metric)
    (ledger,) = app.dataframe
    reasons = list(ledger.value["reason"])
    assert "alice's bonus" in reasons and "bob's bonus" not in reasons
    assert ledger.value["balance after"].iloc[0] == 25


def test_about_shows_plugin_attribution(portal) -> None:
    host = portal(builtin=("text_tools", "job_titles"))
    signed_up(host, "alice")
    app = app_as("alice", "user/about.py")
    assert not app.exception
    credited = {r.name for r in host._discovery.plugins if r.attribution}
    assert credited == {"job_titles"}
    assert any("Job-title data" in text for text in texts(app, "markdown"))
    assert any("Plugin job_titles" in text for text in texts(app, "caption"))
    assert not any("Plugin text_tools" in text for text in texts(app, "caption"))
