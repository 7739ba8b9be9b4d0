"""The portal draws no markdown image from a result: every field Streamlit draws as
markdown reaches it with its "![" disarmed, and a chart that would load a URL is not drawn.

These check what the portal hands to Streamlit; tests/browser/test_beacons_browser.py
checks in a real browser that nothing is fetched.
"""

from __future__ import annotations

import re

from streamlit.testing.v1 import AppTest

from tokenworks.portals.inert import inert_markdown

BEACON = "![](http://127.0.0.1:9/beacon.png)"
# An image starts where "![" stands unescaped: after an even number of backslashes.
LIVE_IMAGE = re.compile(r"(?<!\\)(?:\\\\)*!\[")


def test_inert_markdown_disarms_every_image_form() -> None:
    for text in [BEACON, "![a][r]\n\n[r]: http://x/y.png", "![r]", "![r][]",
                 "[![inner](http://x/i.png)](http://x)", "\\\\![](http://x/y.png)"]:
        assert not LIVE_IMAGE.search(inert_markdown(text)), text
    assert inert_markdown("plain **bold** [link](http://x)") == "plain **bold** [link](http://x)"


def test_every_markdown_field_of_a_result_reaches_streamlit_disarmed() -> None:
    def script() -> None:
        import base64

        from tokenworks.blocks import Image, Markdown, Metric, Metrics
        from tokenworks.portals import render

        beacon = "![](http://127.0.0.1:9/beacon.png)"
        png = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNk"
                               "YAAAAAYAAjCB0C8AAAAASUVORK5CYII=")
        render.render_blocks([
            Markdown(title=beacon, text=f"text {beacon}"),
            Metrics(title=beacon, items=[Metric(label=beacon, value=beacon, delta=beacon,
                                                help=beacon)]),
            Image(png=png, alt=beacon, title=beacon),
            {"kind": beacon},  # an unknown kind is named in a caption
        ], "beacons")

    app = AppTest.from_function(script).run()
    assert not app.exception
    drawn = ([m.value for m in app.markdown] + [c.value for c in app.caption]
             + [t for m in app.metric for t in (m.label, m.value, m.proto.delta, m.help)])
    captions = [img.caption for element in app.get("image") for img in element.proto.imgs]
    assert len(app.markdown) >= 4 and len(app.metric) == 1 and captions
    for text in drawn + captions:
        assert "beacon.png" in text and not LIVE_IMAGE.search(text), text


def test_a_chart_that_loads_a_url_is_not_drawn() -> None:
    def script() -> None:
        from tokenworks.blocks import Chart
        from tokenworks.portals import render

        render.render_blocks([
            Chart(spec={"mark": "point", "data": {"url": "http://127.0.0.1:9/data.csv"}}),
            Chart(spec={"mark": "image", "data": {"values": [{"x": 1}]},
                        "encoding": {"url": {"value": "http://127.0.0.1:9/i.png"}}}),
            Chart(spec={"mark": "bar", "data": {"values": [{"x": 1}]}}),
        ], "charts")

    app = AppTest.from_function(script).run()
    assert not app.exception
    assert len(app.get("vega_lite_chart")) == 1  # only the inline one
    warnings = [w.value for w in app.warning]
    assert len(warnings) == 2 and all("loads a URL" in w for w in warnings)
