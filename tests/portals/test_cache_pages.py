"""The result cache in the portals: a cached answer is marked on the result page and in the
history, the catalog says which functions are cached, and admins clear the cache."""

from __future__ import annotations

from conftest import plugin_runs

from .conftest import app_as
from .helpers import open_function, run_button, texts, widget
from .test_admin_pages import fill, messages, submit

PROBE = "cache_probe.py"


def runs(host) -> int:
    return plugin_runs(host, "cache_probe")["cache_count"]


def entries(host) -> int:
    return host._store._read("SELECT count(*) FROM result_cache")[0][0]


def test_a_cached_answer_is_marked_on_the_result_page_and_in_the_history(portal) -> None:
    host = portal(PROBE)
    host.add_user("alice", password="alice-password", actor="test")
    app = open_function("alice", "cache_count")
    widget(app, "text_input", "Text").input("a")
    run_button(app).click().run()
    assert texts(app, "success") == ["Done: charged 2 tokens, balance now 18 tokens."]
    app.run()  # a new submission, not a repeated click
    run_button(app).click().run()
    assert not app.exception
    (message,) = texts(app, "success")
    # No time: the cached result may have been computed for another user (docs/api.md).
    assert message == "Done: cached result, charged as usual: 2 tokens, balance now 16 tokens."
    assert "a: run 1" in texts(app, "markdown")  # the first run's answer, shown again
    assert runs(host) == 1 and host.balance("alice") == 16

    history = app_as("alice", "user/history.py")
    (listing,) = history.dataframe
    assert list(listing.value["cached"]) == [True, False]
    cached = next(call for call in host.calls("alice") if call.cached)
    history.selectbox(key="tw_history_open").select(cached.call_id).run()
    assert any("cached result (charged as usual)" in text for text in texts(history, "caption"))
    assert host.verify_books().ok


def test_the_catalog_and_the_run_page_say_results_are_cached(portal) -> None:
    host = portal(PROBE)
    host.add_user("alice", password="alice-password", actor="test")
    catalog = app_as("alice", "user/catalog.py")
    captions = texts(catalog, "caption")
    per_run = [text for text in captions if " per run" in text]
    assert len(per_run) == len(host.functions()) > 2
    # Only the two cache_probe functions say so; word_frequencies is not cacheable.
    assert sum("results cached for 1 min" in text for text in per_run) == 2
    page = open_function("alice", "cache_count")
    assert any("results cached for 1 min, charged as usual" in text
               for text in texts(page, "caption"))


def test_an_admin_clears_the_cache_from_the_plugins_page(portal) -> None:
    host = portal(PROBE)
    host.add_user("alice", password="alice-password", actor="test")
    host.call("cache_count", "alice", {"text": "a"})
    host.call("cache_other", "alice", {"text": "a"})
    app = app_as("admin", "admin/plugins.py")
    functions = app.dataframe[1].value.set_index("function")
    assert functions.loc["cache_count", "cache"] == "1 min"
    assert functions.loc["word_frequencies", "cache"] == "-"

    fill(app, cache_function="cache_count", cache_reason="  ")
    submit(app, "cache_submit")
    assert any("reason is required" in text for text in messages(app, "error"))
    assert entries(host) == 2

    fill(app, cache_function="cache_count", cache_reason="stale data")
    submit(app, "cache_submit")
    assert "Dropped 1 cached results of cache_count." in messages(app, "success")
    assert entries(host) == 1
    change = host.audit(1)[0]
    assert (change.actor, change.target_kind, change.target, change.reason) == (
        "portal:admin", "cache", "cache_count", "stale data")

    fill(app, cache_function="all functions", cache_reason="everything")
    submit(app, "cache_submit")
    assert entries(host) == 0 and host.audit(1)[0].target == "*"
    assert not host.call("cache_count", "alice", {"text": "a"}).cached
