"""Containment's price and its proof: worker processes measured against issue 15's targets.

- **isolation**: p50 of a trivial metered call (Host.call, a real DuckDB store) idle, then
  with 4 CPU-spinning calls and 80 hung calls of two other functions outstanding (their
  timeouts longer than the measurement, so they hold what they may all along; refusals as
  busy are counted). Target: within 2x of idle.
- **memory**: a real `tokenworks serve` with job_titles (and text_tools), after --calls
  analyze_job_title calls through the REST API on distinct titles (cache misses): the PSS
  (/proc/PID/smaps_rollup) of every process it runs (the watchman, the server, the fork
  server and the resource tracker, the workers), against the RSS of one process holding
  what the server held before worker processes (the portals' imports, the host, job_titles
  warmed and the same calls run in-process). Target: total PSS <= 1.5x that RSS.

The metered call's own p50 with workers is bench/metering.py's (target <= 1.5 ms), and
analyze_job_title through Host.call is bench/title_speed.py's (target <= 6 ms).

Run: .venv/bin/python bench/containment.py [--calls 200] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import httpx2

from tokenworks.config import load_registry
from tokenworks.errors import BusyError
from tokenworks.host import Host

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import BenchError, Server, Workspace, base_env, server_group

ISOLATION_TARGET = 2.0
MEMORY_TARGET = 1.5
QUICK_CALLS = 400
GRANT = 10_000_000
HOSTILE_PLUGIN = textwrap.dedent('''
    """A quick function, and two that hold their workers for a minute: one spins, one hangs."""
    import time

    from pydantic import BaseModel

    from tokenworks import blocks, hookimpl


    class Nothing(BaseModel):
        pass


    def quick(request: Nothing) -> list[blocks.Block]:
        return [blocks.Markdown(text="ok")]


    def spin(request: Nothing) -> list[blocks.Block]:
        end = time.monotonic() + 60
        while time.monotonic() < end:
            pass
        return []


    def hang(request: Nothing) -> list[blocks.Block]:
        time.sleep(60)
        return []


    @hookimpl
    def register_functions(register):
        for function in (quick, spin, hang):
            register(function, title=function.__name__, cost=1, returns=["markdown"],
                     examples=[{}], timeout=90)
''')


def p50_ms(host: Host, user: str, calls: int) -> float:
    latencies = []
    for _ in range(calls):
        started = time.perf_counter()
        if not host.call("quick", user, {}).ok:
            raise BenchError("the quick call failed")
        latencies.append((time.perf_counter() - started) * 1000)
    return statistics.median(latencies)


def isolation(root: Path) -> dict[str, Any]:
    (root / "local_plugins").mkdir()
    (root / "local_plugins" / "hostile.py").write_text(HOSTILE_PLUGIN)
    (root / "registry.toml").write_text(
        '[store]\npath = "store.duckdb"\n[plugins]\nfolder = "local_plugins"\n'
        f'entry_points = false\n[users]\nstarting_grant = {GRANT}\n')
    host = Host(load_registry(root / "registry.toml"), strict=True, sweep=False)
    outcomes: dict[str, int] = {}
    lock = threading.Lock()
    try:
        host.add_user("bench", password="bench-password-1", actor="bench")
        host.warm()
        p50_ms(host, "bench", 50)  # warm-up
        idle = p50_ms(host, "bench", QUICK_CALLS)

        def hold(function: str) -> None:
            try:
                status = host.call(function, "bench", {}).status
            except BusyError:
                status = "busy"
            with lock:
                outcomes[f"{function} {status}"] = outcomes.get(f"{function} {status}", 0) + 1

        threads = [threading.Thread(target=hold, args=(name,), daemon=True)
                   for name in ["spin"] * 4 + ["hang"] * 80]
        for thread in threads:
            thread.start()
        time.sleep(1.0)  # the spinning and hung calls hold what they may by now
        loaded = p50_ms(host, "bench", QUICK_CALLS)
        stats = host.worker_stats()
        health = host.health()
    finally:
        host.close()  # kills the workers still spinning or sleeping
    return {"idle_p50_ms": idle, "loaded_p50_ms": loaded, "ratio": loaded / idle,
            "met": loaded / idle <= ISOLATION_TARGET, "outstanding": outcomes,
            "workers_while_loaded": stats, "health_while_loaded": health}


# -- memory --------------------------------------------------------------------------------

BASELINE = textwrap.dedent('''
    """One process holding what the server held before worker processes: the portals'
    imports, a host, job_titles warmed, and the same calls run in this process."""
    import json, sys
    import streamlit, fastapi  # noqa: F401  (the server's imports)
    import tokenworks.portals.server  # noqa: F401
    from tokenworks.host import Host
    from tokenworks.loader import warm
    host = Host.from_registry(sys.argv[1], sweep=False)
    warm(host._discovery)  # in this process, as the server did before worker processes
    analyze = host.function("analyze_job_title").function
    model = analyze.spec.input_model
    for title in json.loads(sys.argv[2]):
        analyze.run(model(title=title))
    with open("/proc/self/status") as status:
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    print(json.dumps({"rss_mb": rss / 1024}))
    host.close()
''')


def pss_mb(pid: int) -> float | None:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    return next(int(line.split()[1]) for line in text.splitlines()
                if line.startswith("Pss:")) / 1024


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()
                children.setdefault(int(stat[1]), []).append(int(entry.name))
    found, queue = [], [root]
    while queue:
        pid = queue.pop()
        found.append(pid)
        queue.extend(children.get(pid, []))
    return found


def titles(count: int) -> list[str]:
    stems = ["Data Scientist", "Registered Nurse", "Truck Driver", "Software Engineer",
             "Accountant", "Electrician", "Teacher", "Chef", "Pharmacist", "Welder"]
    prefixes = ["Sr.", "Junior", "Lead", "Remote", "Night", "Chief", "Assistant", "Staff"]
    return [f"{prefixes[i % len(prefixes)]} {stems[i % len(stems)]} {i}" for i in range(count)]


def memory(root: Path, calls: int) -> dict[str, Any]:
    space = Workspace(root, None)
    space.registry.write_text(
        '[store]\npath = "store.duckdb"\n[plugins]\nbuiltin = ["text_tools", "job_titles"]\n'
        'folder = "local_plugins"\nentry_points = false\n[users]\nstarting_grant = 0\n')
    keys = space.add_users(1)
    key = next(iter(keys.values()))
    sample = titles(calls)
    servers: list[Server] = []
    try:
        space.start_servers(1, servers)
        server = servers[0]
        with httpx2.Client(trust_env=False, timeout=60) as client:
            for title in sample:
                answer = client.post(f"{server.url}/api/functions/analyze_job_title/calls",
                                     json={"title": title},
                                     headers={"Authorization": f"Bearer {key}"})
                if answer.status_code != 200 or answer.json()["status"] != "succeeded":
                    raise BenchError(f"analyze_job_title: {answer.status_code} {answer.text}")
        group = server_group(server.process)
        processes = {pid: pss_mb(pid) for pid in descendants(server.process.pid)}
    finally:
        for server in servers:
            server.stop()
    total = sum(value for value in processes.values() if value is not None)
    baseline = subprocess.run(
        [sys.executable, "-c", BASELINE, str(space.registry), json.dumps(sample)],
        capture_output=True, text=True, env=base_env(), check=True, timeout=600)
    rss = json.loads(baseline.stdout.strip().splitlines()[-1])["rss_mb"]
    return {"processes_pss_mb": {str(pid): round(value or 0, 1)
                                 for pid, value in processes.items()},
            "server_group": group, "total_pss_mb": total, "one_process_rss_mb": rss,
            "ratio": total / rss, "met": total / rss <= MEMORY_TARGET}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200,
                        help="analyze_job_title calls before memory is measured")
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with tempfile.TemporaryDirectory(prefix="tw-contain-") as folder:
        (Path(folder) / "iso").mkdir()
        (Path(folder) / "mem").mkdir()
        result = {"started": started, "machine": platform.machine(),
                  "cores": os.cpu_count(), "load_before": os.getloadavg()[0],
                  "isolation": isolation(Path(folder) / "iso"),
                  "memory": memory(Path(folder) / "mem", options.calls)}
    if options.json:
        print(json.dumps(result, indent=2))
        return
    iso, mem = result["isolation"], result["memory"]
    print(f"{started}, {result['cores']} cores, load {result['load_before']:.2f} before")
    print(f"quick call p50 idle          {iso['idle_p50_ms']:7.3f} ms")
    print(f"  with 4 spinning + 80 hung  {iso['loaded_p50_ms']:7.3f} ms   ratio "
          f"{iso['ratio']:.2f} (target <= {ISOLATION_TARGET:g}: "
          f"{'met' if iso['met'] else 'NOT met'})")
    print(f"  outstanding calls          {iso['outstanding']}")
    print(f"  workers while loaded       {iso['workers_while_loaded']}")
    print(f"serve total PSS              {mem['total_pss_mb']:7.1f} MB over "
          f"{len(mem['processes_pss_mb'])} processes {mem['processes_pss_mb']}")
    print(f"one process RSS (before)     {mem['one_process_rss_mb']:7.1f} MB   ratio "
          f"{mem['ratio']:.2f} (target <= {MEMORY_TARGET:g}: "
          f"{'met' if mem['met'] else 'NOT met'})")


if __name__ == "__main__":
    main()
