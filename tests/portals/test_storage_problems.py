"""What the portals show when the store cannot write or set a journal aside: the user's
call says "storage unavailable, nothing was charged", /health says "degraded" with the
reason, and the admin's Monitoring page lists quarantined journal files. A full disk is
injected at the journal's system-call boundary (tests/faults.py); the rest is real."""

from __future__ import annotations

import errno
import os

import pytest
from faults import SystemCalls, failing
from starlette.applications import Starlette
from starlette.testclient import TestClient
from test_journal_replay import journaled, write_journal

from tokenworks.portals import routes
from tokenworks.store import call_journal

from .conftest import app_as
from .helpers import open_function, run_button, texts, widget

NO_SPACE = "the call journal cannot be written: [Errno 28] No space left on device"


@pytest.fixture
def client(portal):
    with TestClient(Starlette(routes=routes.ROUTES), base_url="http://127.0.0.1:8501") as made:
        yield made


def test_a_full_disk_says_storage_unavailable_charges_nothing_and_degrades_health(
        portal, client, monkeypatch) -> None:
    host = portal()
    host.add_user("alice", password="alice-password", actor="test")
    routes.READY.set()
    assert client.get("/health").json()["status"] == "ok"

    monkeypatch.setattr(call_journal, "os", SystemCalls(write=failing(errno.ENOSPC)))
    app = open_function("alice", "word_frequencies")
    widget(app, "text_area", "Text").input("one two three")
    run_button(app).click().run()
    assert not app.exception
    (error,) = texts(app, "error")
    assert error.startswith("Storage unavailable, nothing was charged")
    assert host.balance("alice") == 20 and host.calls("alice") == []

    degraded = client.get("/health")
    assert degraded.status_code == 503
    assert degraded.json()["status"] == "degraded"
    assert degraded.json()["reasons"] == [f"storage: {NO_SPACE}"]

    monkeypatch.setattr(call_journal, "os", os)
    app.run()  # a new submission
    run_button(app).click().run()
    assert "Done: charged 1 tokens" in texts(app, "success")[0]
    healthy = client.get("/health")
    assert healthy.status_code == 200 and healthy.json()["status"] == "ok"
    assert host.verify_books().ok


def test_monitoring_lists_quarantined_journals_with_when_and_why(portal, tmp_path) -> None:
    host = portal()
    host.add_user("ann", password="ann-password", actor="test")
    app = app_as("admin", "admin/monitoring.py")
    assert not app.exception and not texts(app, "warning")  # nothing set aside: no section

    store_path = host.config.store_path()
    host.close()  # as if it had crashed with this journal left behind
    write_journal(store_path, journaled("c1"), journaled("c2", cost=-1000, charged=-1000))
    host = portal()  # a restart on the same store replays it
    [kept] = host.quarantined_journals()

    app = app_as("admin", "admin/monitoring.py")
    assert not app.exception
    (warning,) = texts(app, "warning")
    assert "1 call journal file(s) quarantined" in warning
    table = next(frame.value for frame in app.dataframe if "why" in frame.value.columns)
    assert table["file"].tolist() == [kept.path]
    assert table["why"].tolist() == ["line 2: cost -1000 is negative"]
    assert table["quarantined (UTC)"].tolist() == [f"{kept.quarantined_at:%Y-%m-%d %H:%M:%S}"]
    assert [c.call_id for c in host.calls("ann")] == ["c1"]
