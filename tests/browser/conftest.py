"""Browser tests: a real `tokenworks serve` and Debian's chromium driven by playwright.

Never `playwright install`: the browser is the system's /usr/bin/chromium (apt). Where it
is missing the tests skip with the reason, unless TOKENWORKS_REQUIRE_BROWSER=1 (CI sets
it), which turns the skip into a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from serving import Server, start_server

CHROMIUM = os.environ.get("TOKENWORKS_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]
ARTIFACTS = Path(os.environ.get("TOKENWORKS_ARTIFACTS", "artifacts")) / "screenshots"


def _browser_missing() -> str | None:
    if not Path(CHROMIUM).is_file():
        return f"no chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright)"
    return None


@pytest.fixture(scope="session")
def chromium_path() -> str:
    missing = _browser_missing()
    if missing:
        if os.environ.get("TOKENWORKS_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser tests must run here: {missing}")
        pytest.skip(missing)
    return CHROMIUM


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, chromium_path: str) -> Iterator[Server]:
    # Every test signs up from 127.0.0.1: more than the default sign-up limit per address
    # (tests/portals/test_sign_in_served.py proves the default).
    running = start_server(tmp_path_factory.mktemp("serve"), users="signups_per_hour = 100\n")
    yield running
    running.stop()


@pytest.fixture(scope="session")
def browser(chromium_path: str):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path, headless=True,
                                              args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
