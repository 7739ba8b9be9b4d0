"""The call journal when the disk fails it: a call whose outcome cannot be made durable is
refused (StorageUnavailableError, 503 over the REST API), released, charged nothing, and
never answered as succeeded; no partial line is left for the next one to be glued to, and
the store says it cannot write until a write succeeds again.

Where the kernel can make the fault itself it does: a store in its own process under
RLIMIT_FSIZE gets a real short write, then a real EFBIG. A full disk and a failed
``fdatasync`` would need a file system mounted for the test (and root), so those are
injected at the system-call boundary of the journal module (its ``os``), nowhere else.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from faults import SystemCalls, failing

from tokenworks.errors import StorageUnavailableError
from tokenworks.store import DuckDBStore, NewCall, call_journal, utcnow

NO_SPACE = "the call journal cannot be written: [Errno 28] No space left on device"


def segments(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("store.duckdb.calls-journal.*")
                  if p.name.rsplit(".", 1)[1].isdigit())


def journal_ids(path: Path) -> list[str]:
    """The call ids of a segment's lines; every line must be whole."""
    ids = []
    for line in path.read_bytes().split(b"\n")[:-1]:
        entry = call_journal._parse(line)
        assert entry is not None, f"a damaged line in {path.name}: {line[:60]!r}"
        ids.append(entry["call_id"])
    assert path.read_bytes().endswith(b"\n") or not path.read_bytes()
    return ids


def new_call(call_id: str, cost: int = 3) -> NewCall:
    return NewCall(call_id, "ann", "probe_ok", "meter_probe", "local", cost, f"h-{call_id}",
                   "{}", utcnow() + timedelta(seconds=30))


def run(store: DuckDBStore, call_id: str) -> None:
    call = new_call(call_id)
    assert store.begin_call(call) is None
    store.finish_call(call, "succeeded", 1.0, "[]")


@pytest.fixture
def store(tmp_path):
    opened = DuckDBStore(tmp_path / "store.duckdb")
    opened.create_user("ann", "user", "x", 100, actor="test")
    yield opened
    opened.close()


# A store whose file size limit the test sets just past its journal segment: the kernel
# writes what fits of the next line and says so by the count (a short write), then, with no
# room at all, refuses the write (EFBIG; SIGXFSZ ignored so the process is not killed). The
# tables never get a call after c0, so the journal alone holds them; then it is killed.
FSIZE_WORKER = textwrap.dedent('''
    import os, resource, signal, sys, threading
    from datetime import timedelta
    from pathlib import Path
    from tokenworks.errors import StorageUnavailableError
    from tokenworks.store import DuckDBStore, NewCall, duckdb_store, utcnow

    path = Path(sys.argv[1])
    store = DuckDBStore(path)
    store.create_user("ann", "user", "x", 100, actor="test")

    def call(n):
        c = NewCall(f"c{n}", "ann", "probe_ok", "meter_probe", "local", 3, f"h{n}", "{}",
                    utcnow() + timedelta(seconds=30))
        assert store.begin_call(c) is None
        try:
            store.finish_call(c, "succeeded", 1.0, "[]")
        except StorageUnavailableError as error:
            print(f"refused c{n} {store.balance('ann')} | {error}", flush=True)
            print(f"problem | {store.storage_problem()}", flush=True)
        else:
            print(f"answered c{n}", flush=True)

    call(0)
    store._writer.wait()  # c0 is in the tables; its segment stays, being appended to
    never = threading.Event()
    duckdb_store.write_finished = lambda *args: never.wait()
    [segment] = path.parent.glob("store.duckdb.calls-journal.*")
    size = segment.stat().st_size
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + 40, resource.RLIM_INFINITY))
    call(1)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, resource.RLIM_INFINITY))
    call(2)
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    call(3)
    print(f"problem | {store.storage_problem()}", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
''')


def test_a_short_write_and_efbig_from_the_kernel_refuse_the_call_and_leave_no_partial_line(
        tmp_path):
    path = tmp_path / "store.duckdb"
    worker = subprocess.run([sys.executable, "-c", FSIZE_WORKER, str(path)],
                            capture_output=True, text=True, timeout=120)
    assert worker.returncode == -9, worker.stderr
    lines = worker.stdout.splitlines()
    assert lines[0] == "answered c0"
    assert lines[1].startswith("refused c1 97 | storage unavailable: the call journal cannot "
                               "be written: a short write (40 of "), lines
    assert "nothing was charged" in lines[1]
    assert lines[2].startswith("problem | the call journal cannot be written: a short write")
    assert lines[3].startswith("refused c2 97 | storage unavailable: the call journal cannot "
                               "be written: [Errno 27] File too large"), lines
    assert lines[5:] == ["answered c3", "problem | None"]  # a write worked: healthy again

    # The partial line of c1 was cut back: c3 follows c0 whole, not glued to 40 bytes.
    [segment] = segments(tmp_path)
    assert journal_ids(segment) == ["c0", "c3"]

    reopened = DuckDBStore(path)
    try:
        assert sorted(c.call_id for c in reopened.list_calls("ann")) == ["c0", "c3"]
        assert reopened.balance("ann") == 100 - 2 * 3
        report = reopened.verify_books()
        assert report.ok, report.problems
        assert report.quarantined_journals == []
        assert segments(tmp_path) == []
    finally:
        reopened.close()


def test_a_full_disk_refuses_the_call_and_releases_its_hold(store, monkeypatch):
    run(store, "c0")
    monkeypatch.setattr(call_journal, "os", SystemCalls(write=failing(errno.ENOSPC)))
    with pytest.raises(StorageUnavailableError) as refused:
        run(store, "c1")
    assert NO_SPACE in str(refused.value) and "nothing was charged" in str(refused.value)
    assert store.storage_problem() == NO_SPACE
    assert store.get_call("c1") is None  # neither running nor finished: forgotten
    store._writer.wait()  # c0 in the tables: nothing is held any more
    assert store._book.held("ann") == 0
    assert store.balance("ann") == 97

    monkeypatch.setattr(call_journal, "os", os)  # room again: the same id runs afresh
    run(store, "c1")
    assert store.storage_problem() is None
    assert store.get_call("c1").status == "succeeded"
    assert store.balance("ann") == 94
    assert store.verify_books().ok


def test_a_failed_sync_refuses_every_call_it_covered_and_cuts_them_out(tmp_path, store,
                                                                        monkeypatch):
    run(store, "c0")
    store._writer.wait()
    [first] = segments(tmp_path)
    in_sync, go = threading.Event(), threading.Event()

    def sync_fails(fd: int) -> None:  # the first sync waits for a second line, then fails
        in_sync.set()
        assert go.wait(10)
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(call_journal, "os", SystemCalls(fdatasync=sync_fails))
    outcomes: dict[str, BaseException | None] = {}

    def attempt(call_id: str) -> None:
        try:
            run(store, call_id)
            outcomes[call_id] = None
        except BaseException as error:
            outcomes[call_id] = error

    first_call = threading.Thread(target=attempt, args=("c1",))
    first_call.start()
    assert in_sync.wait(10)
    second_call = threading.Thread(target=attempt, args=("c2",))
    second_call.start()
    deadline = time.monotonic() + 10  # c2's line is written and waits for the next sync
    while b'"c2"' not in first.read_bytes():
        assert time.monotonic() < deadline, "c2 was never appended"
        time.sleep(0.01)
    go.set()
    first_call.join(10)
    second_call.join(10)

    for call_id in ("c1", "c2"):
        assert isinstance(outcomes[call_id], StorageUnavailableError), outcomes
        assert "cannot be synced: [Errno 5] Input/output error" in str(outcomes[call_id])
        assert store.get_call(call_id) is None
    assert store.storage_problem() == ("the call journal cannot be synced: "
                                       "[Errno 5] Input/output error")
    # Cut back to what the last good sync covered: neither refused call can be replayed.
    assert journal_ids(first) == ["c0"]

    monkeypatch.setattr(call_journal, "os", os)
    run(store, "c3")  # a segment that failed a sync takes no more lines
    assert store.storage_problem() is None
    assert [journal_ids(p) for p in segments(tmp_path)] == [["c3"]]
    assert store.balance("ann") == 94
    assert store.verify_books().ok


def test_a_partial_line_that_cannot_be_cut_back_gets_its_segment_quarantined_at_once(
        tmp_path, store, monkeypatch):
    run(store, "c0")
    [first] = segments(tmp_path)

    def short_write(fd: int, data: bytes) -> int:  # what fits of the line, for real
        return os.write(fd, data[:len(data) - 1])  # all but its newline: a valid checksum

    monkeypatch.setattr(call_journal, "os", SystemCalls(write=short_write,
                                                        ftruncate=failing(errno.EIO)))
    with pytest.raises(StorageUnavailableError):
        run(store, "c1")
    monkeypatch.setattr(call_journal, "os", os)
    run(store, "c2")
    store.close()

    # c1's line, whole but for its newline, would replay as a charged call: its segment was
    # set aside at once, so the next start cannot, and c2 went to a new segment.
    [kept] = store.quarantined_journals()
    assert not first.exists() and kept.path.startswith(f"{first}.quarantined-")
    assert "a short write" in kept.reasons[0] and "must not be replayed" in kept.reasons[1]
    reopened = DuckDBStore(tmp_path / "store.duckdb")
    try:
        assert sorted(c.call_id for c in reopened.list_calls("ann")) == ["c0", "c2"]
        assert reopened.balance("ann") == 94
        report = reopened.verify_books()
        assert report.ok and [q.path for q in report.quarantined_journals] == [kept.path]
        assert segments(tmp_path) == []
    finally:
        reopened.close()
