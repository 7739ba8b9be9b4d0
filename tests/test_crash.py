"""Crash recovery: SIGKILL a process in the middle of a burst of calls, then restart.

The worker (tests/crash_worker.py) is a real Host in its own process. Killed with SIGKILL
it gets no chance to settle anything. Holds live in memory, so whatever was running is lost
with its hold: nothing of it is in the store, nothing is held, nothing is charged. A store
an earlier version left with durable holds of running calls has them released at start.
Either way no call may be left running, every token must be accounted for, and the real
`tokenworks ledger verify` must agree.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
from conftest import plugin_folder, write_registry

from tokenworks.host import Host
from tokenworks.store import DuckDBStore

WORKER = Path(__file__).parent / "crash_worker.py"
GRANT = 100_000
COST = 2  # probe_maybe
KILL_AFTER = 30  # finished calls seen before the kill: the burst is well under way


def read_lines(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line.strip())
    lines.put(None)  # end of output: the worker died


def tokenworks_cli() -> list[str]:
    """The installed console script next to this interpreter, else the same entry point."""
    script = Path(sys.executable).parent / "tokenworks"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from tokenworks.cli import main; main()"]


def make_registry(tmp_path: Path) -> Path:
    plugin_folder(tmp_path, "meter_probe.py")
    return write_registry(tmp_path, '[store]\npath = "store.duckdb"\n[plugins]\n'
                          'folder = "local_plugins"\nentry_points = false\n')


def ledger_verify(registry: Path, tmp_path: Path) -> None:
    verify = subprocess.run(
        [*tokenworks_cli(), "--registry", str(registry), "ledger", "verify"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "the books balance" in verify.stdout
    assert "0 holds open" in verify.stdout


def test_a_killed_host_loses_no_tokens_and_a_restart_settles_every_hold(tmp_path):
    registry = make_registry(tmp_path)
    with Host.from_registry(str(registry), sweep=False) as host:
        host._store.create_user("crash", "user", "x", GRANT, actor="test")
        store_path = host.config.store_path()

    worker = subprocess.Popen(
        [sys.executable, str(WORKER), str(registry), "crash", "4"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=read_lines, args=(worker.stdout, lines), daemon=True).start()
    reported: dict[str, str] = {}
    started: set[str] = set()
    try:
        deadline = time.monotonic() + 60
        while len(reported) < KILL_AFTER:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, f"the worker died early: {worker.stderr.read()}"
            if line.startswith("start "):
                started.add(line.split()[1])
            elif line.startswith("done "):
                _, call_id, status = line.split()
                reported[call_id] = status
        os.kill(worker.pid, signal.SIGKILL)
    finally:
        if worker.poll() is None:
            worker.kill()
        worker.wait(10)
        worker.stdout.close()
        worker.stderr.close()
    assert worker.returncode == -signal.SIGKILL

    # Straight after the crash, before any recovery: the books already balance (the WAL
    # replays whole transactions only).
    raw = DuckDBStore(store_path)
    try:
        calls = raw.list_calls("crash", limit=1_000_000)
        running = [c for c in calls if c.status == "running"]
        succeeded = [c for c in calls if c.status == "succeeded"]
        report = raw.verify_books()
        assert report.ok, report.problems
        # The calls cut short were never written: nothing of them is held. The long-call
        # thread makes one all but certain; without it the test would prove nothing.
        lost = started - set(reported) - {c.call_id for c in calls}
        assert lost, "no call was in flight at the kill"
        assert not running
        assert report.open_holds == 0
        assert raw.balance("crash") == GRANT - COST * (len(succeeded) + len(running))
    finally:
        raw.close()

    with Host.from_registry(str(registry), sweep=False) as restarted:
        store = restarted._store
        after = {c.call_id: c for c in store.list_calls("crash", limit=1_000_000)}
        assert not [c for c in after.values() if c.status == "running"]
        for call in running:
            assert after[call.call_id].status == "abandoned"
            assert after[call.call_id].charged == 0
        # What the worker reported finished is in the store as it said.
        for call_id, status in reported.items():
            assert after[call_id].status == status
        succeeded_now = sum(1 for c in after.values() if c.status == "succeeded")
        assert succeeded_now == len(succeeded)
        assert store.balance("crash") == GRANT - COST * succeeded_now
        assert store.balance("crash") == sum(e.amount for e in store.ledger("crash", 1_000_000))
        report = restarted.verify_books()
        assert report.ok, report.problems
        assert report.open_holds == 0

    ledger_verify(registry, tmp_path)


def test_holds_an_earlier_version_left_durable_are_released_at_start(tmp_path):
    """Before holds lived in memory, a DuckDB store could hold durably: a crash left the
    call rows running, their cost debited with a hold row. Such a file opens, and the first
    start releases them, once."""
    registry = make_registry(tmp_path)
    with Host.from_registry(str(registry), sweep=False) as host:
        host._store.create_user("crash", "user", "x", 10, actor="test")
        store_path = host.config.store_path()
    conn = duckdb.connect(store_path)
    for call_id, cost in (("old-1", 2), ("old-2", 3)):  # as the durable begin_call wrote it
        conn.execute(
            "INSERT INTO calls (call_id, user_name, function, plugin, plugin_version, cost, "
            "status, input_hash, input_json, started_at, deadline_at, cached) VALUES "
            "(?, 'crash', 'probe_maybe', 'meter_probe', 'local', ?, 'running', 'h', '{}', "
            "now(), now() + INTERVAL 1 HOUR, false)", [call_id, cost])
        [(balance,)] = conn.execute(
            "UPDATE accounts SET balance = balance - ? WHERE user_name = 'crash' "
            "RETURNING balance", [cost]).fetchall()
        conn.execute("INSERT INTO ledger (occurred_at, user_name, kind, amount, call_id, actor, "
                     "reason, balance_after) VALUES (now(), 'crash', 'hold', ?, ?, 'crash', "
                     "'hold for probe_maybe', ?)", [-cost, call_id, balance])
    conn.close()
    raw = DuckDBStore(store_path)
    try:
        report = raw.verify_books()
        assert report.ok and report.open_holds == 2, report.problems
    finally:
        raw.close()

    with Host.from_registry(str(registry), sweep=False) as restarted:
        store = restarted._store
        for call_id in ("old-1", "old-2"):
            record = store.get_call(call_id)
            assert (record.status, record.charged) == ("abandoned", 0)
        assert store.balance("crash") == 10
        kinds = sorted((e.call_id, e.kind, e.actor) for e in store.ledger("crash") if e.call_id)
        assert kinds == [("old-1", "hold", "crash"), ("old-1", "release", "sweep"),
                         ("old-2", "hold", "crash"), ("old-2", "release", "sweep")]
        report = restarted.verify_books()
        assert report.ok and report.open_holds == 0, report.problems
    ledger_verify(registry, tmp_path)
