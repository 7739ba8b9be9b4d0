"""No result makes the browser fetch a URL: a real `tokenworks serve`, a real chromium, and
a real HTTP listener on 127.0.0.1 that every beacon names.

analyze_job_title is run with a title that is a markdown image of the listener, and the
beacon_probe test plugin (tests/plugins/beacon_probe.py) returns that image, raw HTML
images, frames, media, CSS and KaTeX in every field the portal draws as markdown, and a
chart that loads data from the listener. The listener must see no request; at the end the
page loads one control image from it, to prove the listener would have seen one.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from serving import ADMIN_PASSWORD, start_server

from tokenworks.blocks import WORD_JOINER

from .test_portals_browser import WAIT, signed_in

pytestmark = pytest.mark.slow
PROBE = Path(__file__).resolve().parent.parent / "plugins" / "beacon_probe.py"
ESCAPED = ("ESCAPED ![](BASE/escaped.png) **bold** <img src=BASE/escaped-html.png> "
           ":red[red] :material/home: :smile: $x^2$ [link](BASE/link) www.example.com a@b.co "
           "`code` ~~gone~~ &amp; 1. # > | a | b |")

SHOWN_JS = """text => [...document.querySelectorAll('[data-testid=stMarkdown]')]
    .some(e => e.innerText.replaceAll('\\u2060', '').includes(text))"""


class Listener:
    """An HTTP server on a free loopback port that records every path asked of it."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.control = threading.Event()
        seen, control = self.seen, self.control

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append(self.path)
                if self.path == "/control.png":
                    control.set()
                self.send_response(404)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


@pytest.fixture
def listener() -> Iterator[Listener]:
    running = Listener()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def beacon_server(tmp_path_factory, chromium_path):
    folder = tmp_path_factory.mktemp("beacons")
    (folder / "local_plugins").mkdir()
    shutil.copy(PROBE, folder / "local_plugins")
    server = start_server(folder, builtin='"job_titles"', grant=1000)
    yield server
    server.stop()


def run(page, server, function: str, fields: dict[str, str], cost: int) -> None:
    page.goto(f"{server.url}/run?function={function}")
    form = page.get_by_test_id("stForm")
    for label, value in fields.items():
        form.get_by_label(label, exact=True).fill(value)
    form.get_by_role("button", name=f"Run · {cost} tokens").click()
    page.get_by_text("Done: charged").wait_for(timeout=WAIT)


def test_no_result_makes_the_browser_fetch_a_url(beacon_server, browser, listener) -> None:
    context, page = signed_in(browser, beacon_server, "admin", ADMIN_PASSWORD)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    base = listener.base

    run(page, beacon_server, "analyze_job_title", {"Title": f"![]({base}/beacon.png)"}, 7)
    # The title shows as typed (word joiners aside), in the answer's heading or match line.
    page.wait_for_function(SHOWN_JS, arg=f"![]({base}/beacon.png)", timeout=WAIT)

    escaped = ESCAPED.replace("BASE", base)
    run(page, beacon_server, "beacon_everywhere", {"Base": base, "Text": escaped}, 1)
    shown = page.get_by_test_id("stMarkdownContainer").filter(has_text="ESCAPED").last
    shown.wait_for(timeout=WAIT)  # the last block: every block before it is drawn
    page.locator("[data-testid=stVegaLiteChart], [data-testid=stAlert]:has-text('loads a URL')"
                 ).first.wait_for(timeout=WAIT)

    # The control: a fetch the page makes is seen, by the listener and by the request log.
    page.evaluate("url => { new Image().src = url; }", f"{base}/control.png")
    assert listener.control.wait(30), "the control image never reached the listener"
    assert listener.seen == ["/control.png"], " ".join(listener.seen)
    assert [url for url in requested if url.startswith(base)] == [f"{base}/control.png"]

    # escape_markdown: the text exactly as typed (its word joiners are invisible), in one
    # paragraph with nothing else in it: no image, link, colour, icon, LaTeX or code.
    assert shown.inner_text().replace(WORD_JOINER, "") == escaped
    assert shown.evaluate("e => [...e.querySelectorAll('*')].map(n => n.tagName)") == ["P"]
    # The raw image syntax is drawn as its text, and the URL-loading chart is refused.
    page.get_by_text(f"![inline]({base}/inline.png)").first.wait_for(timeout=WAIT)
    page.get_by_text("its spec loads a URL").wait_for(timeout=WAIT)
    main = page.get_by_test_id("stMain")
    for tag in (f"img[src^='{base}']", "iframe", "video", "audio", "object", "embed",
                "picture", f"link[href^='{base}']", "svg image"):
        assert main.locator(tag).count() == 0, tag
    assert listener.seen == ["/control.png"], " ".join(listener.seen)  # nor came late
    context.close()
