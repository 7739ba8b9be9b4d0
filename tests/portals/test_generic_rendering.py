"""Proof that the user portal is generic: a plugin it has never seen (tests/plugins/
portal_probe.py) appears in the catalog, gets a working form with every widget kind, is
charged, and has every block kind of its result drawn, though no portal file names it."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tokenworks.portals import render

from .conftest import PORTALS, app_as
from .helpers import error_after, open_function, run_button, texts, widget

PROBE = "probe_every_widget"
PROBE_NAMES = ("portal_probe", PROBE, "Probe: every widget", "ProbeInput", "Flavour")


@pytest.fixture
def probe_host(portal):
    host = portal("portal_probe.py", builtin=())
    assert [record.status for record in host._discovery.plugins] == ["loaded"]
    host.add_user("alice", password="alice-password", actor="test")
    return host


def test_no_portal_file_names_the_probe() -> None:
    for path in Path(PORTALS).rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert not [name for name in PROBE_NAMES if name in text], path


def test_probe_appears_in_the_catalog(probe_host) -> None:
    app = app_as("alice", "user/catalog.py")
    assert "#### Probe: every widget" in texts(app, "markdown")
    assert any("4 tokens" in text for text in texts(app, "caption"))
    app.button(key=f"tw_open:{PROBE}").click().run()
    assert [title.value for title in app.title] == ["Probe: every widget"]


def test_probe_form_has_a_widget_per_field_type(probe_host) -> None:
    app = open_function("alice", PROBE)
    assert widget(app, "text_input", "Label").help == "A short label."
    assert widget(app, "text_area", "Notes").value == ""  # long text (json_schema_extra)
    count = widget(app, "number_input", "Count")
    assert (count.value, count.min, count.max) == (3, 1, 12)
    ratio = widget(app, "number_input", "Ratio")
    assert (ratio.value, ratio.min, ratio.max) == (0.5, 0.0, 1.0)
    assert widget(app, "checkbox", "Shout").value is False
    assert widget(app, "selectbox", "Size").options == ["small", "medium", "large"]
    assert widget(app, "selectbox", "Flavour").options == ["vanilla", "pistachio", "mango"]
    assert widget(app, "multiselect", "Colours").value == ["red"]
    assert widget(app, "text_area", "Words").value == "alpha\nbeta"  # one per line
    assert widget(app, "text_input", "Nickname (optional)").value == ""
    assert widget(app, "date_input", "Day").value == datetime.date(2024, 2, 29)


def test_probe_form_validates_at_the_field_without_charge(probe_host) -> None:
    app = open_function("alice", PROBE)
    widget(app, "text_input", "Label").input("")
    widget(app, "text_area", "Words").input("  \n ")
    widget(app, "text_input", "Nickname (optional)").input("n" * 31)
    run_button(app).click().run()
    assert "at least 1 character" in (error_after(app, "Label") or "")
    assert "at least 1 item" in (error_after(app, "Words") or "")
    assert "at most 30 characters" in (error_after(app, "Nickname (optional)") or "")
    assert error_after(app, "Count") is None
    assert probe_host.balance("alice") == 20
    assert probe_host.calls("alice") == []


def test_probe_runs_is_charged_and_every_block_kind_renders(probe_host) -> None:
    app = open_function("alice", PROBE)
    app.button(key=f"tw_example:{PROBE}:1").click().run()
    assert widget(app, "selectbox", "Flavour").value == "mango"
    assert widget(app, "date_input", "Day").value == datetime.date(2025, 1, 31)
    widget(app, "number_input", "Ratio").set_value(0.25)
    run_button(app).click().run()
    assert not app.exception
    assert probe_host.balance("alice") == 20 - 4
    (call,) = probe_host.calls("alice")
    assert call.status == "succeeded" and call.charged == 4
    assert '"flavour":"mango"' in call.input_json and '"ratio":0.25' in call.input_json
    assert '"colours":["green","blue"]' in call.input_json
    assert '"day":"2025-01-31"' in call.input_json
    # markdown, metrics, table (+ CSV), image (+ PNG), chart, graph, json:
    assert "**probe says** SECOND (mango, green/blue, 2025-01-31)" in texts(app, "markdown")
    assert {m.label for m in app.metric} >= {"Rows", "Ratio"}
    assert list(app.dataframe[0].value["label"]) == [f"SECOND-{i}" for i in range(1, 6)]
    downloads = [b.proto.label for b in app.get("download_button")]
    assert downloads == ["Download CSV", "Download PNG"]
    assert len(app.get("image")) == 1
    assert len(app.get("vega_lite_chart")) == 1
    (graph,) = app.get("graphviz_chart")
    assert '"one" -> "two"' in graph.proto.spec and 'label="Three"' in graph.proto.spec
    assert [j.value for j in app.json if '"nickname": "sec"' in j.value]


def test_unknown_or_broken_blocks_fall_back_to_json() -> None:
    def script() -> None:
        from tokenworks.blocks import Markdown
        from tokenworks.portals import render

        render.render_blocks([{"kind": "hologram", "data": 1}, object(),
                              Markdown(text="still here")], "fallback")

    app = AppTest.from_function(script).run()
    assert not app.exception
    assert len(app.json) == 2
    assert "still here" in [m.value for m in app.markdown]
    assert render.RENDERERS.keys() == {"markdown", "metrics", "table", "image", "chart",
                                       "graph", "json"}


def test_long_metric_values_get_wider_columns_in_order() -> None:
    # analyze_job_title's "At a glance": a long entry education takes two quarters
    values = ["15-2051.00", "88%", "n/a", "data", "4", "Bachelor's degree"]
    assert render.metric_rows(values) == [[1, 1, 1, 1], [1, 2]]
    assert render.metric_rows([1, 2, 3, 4, 5]) == [[1, 1, 1, 1], [1]]
    assert render.metric_rows(["x" * 30, 1, 2]) == [[3, 1], [1]]
    assert render.metric_rows(["x" * 200]) == [[4]]  # at most a whole row
    assert render.metric_rows([]) == []


def test_metrics_block_draws_every_item_in_a_grid() -> None:
    def script() -> None:
        from tokenworks.blocks import Metric, Metrics
        from tokenworks.portals import render

        render.render_blocks([Metrics(title="At a glance", items=[
            Metric(label=f"m{i}", value=v) for i, v in
            enumerate(["15-2051.00", "88%", "n/a", "data", "4", "Bachelor's degree"])])],
            "grid")

    app = AppTest.from_function(script).run()
    assert not app.exception
    assert [m.value for m in app.metric] == ["15-2051.00", "88%", "n/a", "data", "4",
                                             "Bachelor's degree"]


def test_probe_appears_in_the_admin_list_and_its_switch_works(probe_host) -> None:
    app = app_as("admin", "admin/plugins.py")
    plugins = app.dataframe[0].value.set_index("plugin")
    assert plugins.loc["portal_probe", "status"] == "loaded"
    functions = app.dataframe[1].value.set_index("function")
    assert functions.loc[PROBE, "cost"] == 4 and bool(functions.loc[PROBE, "enabled"])
    probe_host.set_function_enabled(PROBE, False, actor="portal:admin", reason="test")
    catalog = app_as("alice", "user/catalog.py")
    assert "#### Probe: every widget" not in texts(catalog, "markdown")
