"""The API's docs pages render in a real browser with no internet access.

Chromium here has no route to a CDN, so the test proves Swagger UI and ReDoc are served
by tokenworks itself, and that every script, style and document the pages load comes
from the server.
"""

from __future__ import annotations

import pytest

from .conftest import screenshot

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(("path", "rendered"), [
    ("/api/docs", ".opblock-summary-path"),
    ("/api/redoc", "[data-section-id^='operation']"),
])
def test_docs_page_renders_offline(server, browser, path: str, rendered: str) -> None:
    context = browser.new_context()
    page = context.new_page()
    # What makes a page work: its scripts, styles, fonts and data. (ReDoc's footer asks a
    # CDN for Redocly's logo; a missing decoration image does not stop the page.)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url)
            if request.resource_type != "image" else None)
    page.goto(server.url + path)
    page.locator(rendered).first.wait_for(timeout=30_000)
    assert page.get_by_text("Run a function").count() > 0  # drawn from the OpenAPI document
    screenshot(page, "api" + path.replace("/", "-"))
    elsewhere = [url for url in requested
                 if not url.startswith((server.url, "data:", "blob:"))]
    assert not elsewhere, f"the docs page fetched from elsewhere: {elsewhere}"
    context.close()
