"""A picture of every block kind as the user portal draws it (docs/writing-plugins.md shows
them), from real runs: job-title functions and the portal_probe test plugin."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from serving import ADMIN_PASSWORD, start_server

from .conftest import ARTIFACTS
from .test_portals_browser import FILLED_JS, WAIT, signed_in

pytestmark = pytest.mark.slow
PROBE = Path(__file__).resolve().parent.parent / "plugins" / "portal_probe.py"

# block kind -> (function, Streamlit test id of the element that draws it)
PICTURES = {
    "markdown": ("get_market_intelligence", "stMarkdown"),
    "metrics": ("get_market_intelligence", "stMetric"),
    "table": ("get_career_pathways", "stDataFrame"),
    "image": ("generate_word_cloud", "stImage"),
    "chart": ("get_market_intelligence", "stVegaLiteChart"),
    "graph": ("get_career_pathways", "stGraphVizChart"),
    "json": ("probe_every_widget", "stJson"),
}
COSTS = {"get_market_intelligence": 7, "get_career_pathways": 7, "generate_word_cloud": 5,
         "probe_every_widget": 4}


@pytest.fixture(scope="module")
def probe_server(tmp_path_factory, chromium_path):
    folder = tmp_path_factory.mktemp("blocks")
    (folder / "local_plugins").mkdir()
    shutil.copy(PROBE, folder / "local_plugins")
    server = start_server(folder, builtin='"job_titles"', grant=1000)
    yield server
    server.stop()


def test_every_block_kind_is_pictured(probe_server, browser) -> None:
    context, page = signed_in(browser, probe_server, "admin", ADMIN_PASSWORD)
    done: dict[str, object] = {}
    folder = ARTIFACTS / "blocks"
    folder.mkdir(parents=True, exist_ok=True)
    for function in dict.fromkeys(name for name, _ in PICTURES.values()):
        page.goto(f"{probe_server.url}/run?function={function}")
        page.get_by_role("button", name="Example 1").click()
        page.wait_for_function(FILLED_JS, timeout=WAIT)
        page.get_by_role("button", name=f"Run · {COSTS[function]} tokens").click()
        result = page.get_by_text("Done: charged")
        result.wait_for(timeout=WAIT)
        for kind, (owner, test_id) in PICTURES.items():
            if owner != function:
                continue
            # The result is drawn below the "Done" line: take the first element after it.
            element = page.locator(f"[data-testid=stAlert] ~ * [data-testid={test_id}], "
                                   f"[data-testid=stAlert] ~ [data-testid={test_id}]").first
            if element.count() == 0:
                element = page.get_by_test_id(test_id).last
            if kind == "metrics":  # the block's first row of tiles, not one tile
                element = page.get_by_test_id("stMain").get_by_test_id("stMetric").first \
                    .locator("xpath=ancestor::*[@data-testid='stHorizontalBlock'][1]")
            element.scroll_into_view_if_needed()
            element.screenshot(path=str(folder / f"blocks-{kind}.png"))
            done[kind] = element
    assert set(done) == set(PICTURES)
    context.close()
