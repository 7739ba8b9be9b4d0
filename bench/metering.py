"""Metered-call overhead: how much a call through the meter costs when the function does nothing.

Writes a no-op plugin (cost 1, returns one tiny markdown block) into a temp local plugins
folder, opens a Host on a real DuckDB file in the same temp dir, and measures:

- latency of Host.call on one thread (p50/p99 over --calls calls, after a warm-up);
- metered calls/s with --threads threads (each thread its own user, --calls-per-thread each);
- where the time goes: begin_call, finish_call, the catalog's state-version read and the run
  in the worker pool, timed on a separate pass so the timers do not skew the figures above.
  begin_call is the in-memory reservation and finish_call appends the whole call to the
  call journal (one synced line) and hands it to the store's writer thread, which writes
  calls to the tables many per transaction. Calls/s on N threads counts until every call
  is in the tables, not only answered (a read after the run waits for the writer's queue);
- the floor: single-row DuckDB updates (`UPDATE t SET v = v + 1 WHERE id = ?`, each in its
  own transaction, one connection, a cursor per operation) on one thread and on --threads
  threads (each thread its own row; write conflicts are rolled back, retried and counted).

Targets: p50 <= 3 ms; metered calls/s (threads) >= 40% of the best raw update rate.
Run: .venv/bin/python bench/metering.py [--calls 1000] [--threads 8] [--calls-per-thread 250]
     [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from tokenworks.config import load_registry
from tokenworks.host import Host

P50_TARGET_MS = 3.0
RATE_TARGET = 0.40
WARMUP = 100
BREAKDOWN_CALLS = 300
GRANT = 10_000_000
NOOP_PLUGIN = textwrap.dedent('''
    """A function that does nothing: what is left of a call is the meter's overhead."""
    from pydantic import BaseModel

    from tokenworks import blocks, hookimpl


    class NoopInput(BaseModel):
        n: int = 0


    def noop(request: NoopInput) -> list[blocks.Block]:
        """Return one tiny block."""
        return [blocks.Markdown(text="ok")]


    @hookimpl
    def register_functions(register):
        register(noop, title="No-op", cost=1, returns=("markdown",), examples=[{"n": 1}])
''')


def make_host(root: Path) -> Host:
    (root / "local_plugins").mkdir()
    (root / "local_plugins" / "noop.py").write_text(NOOP_PLUGIN)
    registry = root / "registry.toml"
    registry.write_text(
        '[store]\npath = "store.duckdb"\n'
        '[plugins]\nfolder = "local_plugins"\nentry_points = false\n'
        f"[users]\nstarting_grant = {GRANT}\n"
    )
    # No background sweep: it would only add noise to the timings.
    return Host(load_registry(registry), strict=True, sweep=False)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def run_threads(threads: int, work: Callable[[int], object]) -> float:
    """Run work(index) on `threads` threads started together; returns the wall time in s."""
    barrier = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def body(index: int) -> None:
        barrier.wait()
        try:
            work(index)
        except BaseException as error:
            errors.append(error)

    workers = [threading.Thread(target=body, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return elapsed


def call_latencies(host: Host, user: str, calls: int) -> list[float]:
    """Milliseconds per Host.call; every call must succeed."""
    latencies = []
    for i in range(calls):
        started = time.perf_counter()
        outcome = host.call("noop", user, {"n": i})
        latencies.append((time.perf_counter() - started) * 1000)
        if not outcome.ok:
            raise RuntimeError(f"call failed: {outcome.error}")
    return latencies


def breakdown(host: Host, user: str, calls: int) -> dict[str, float]:
    """Mean ms per call spent in each stage, by wrapping the stages on this host only."""
    spent: dict[str, float] = {}

    def timed(owner: Any, attribute: str, label: str) -> None:
        inner = getattr(owner, attribute)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                spent[label] = spent.get(label, 0.0) + time.perf_counter() - started

        setattr(owner, attribute, wrapper)

    timed(host._store, "state_version", "catalog: state_version read")
    timed(host._store, "begin_call", "store.begin_call: hold, in memory")
    timed(host._store, "finish_call", "store.finish_call: journal the call (synced)")
    timed(host._meter, "_run", "run in worker pool + check blocks")
    total = sum(call_latencies(host, user, calls))
    for attribute in ("state_version", "begin_call", "finish_call"):
        delattr(host._store, attribute)
    delattr(host._meter, "_run")
    result = {label: seconds * 1000 / calls for label, seconds in spent.items()}
    result["other (validation, hashing, logging)"] = total / calls - sum(result.values())
    result["total"] = total / calls
    return result


def raw_updates(path: Path, threads: int, per_thread: int) -> tuple[float, int]:
    """Single-row updates per second, each in its own transaction; and the conflicts seen."""
    conn = duckdb.connect(str(path))
    try:
        conn.execute("CREATE OR REPLACE TABLE t (id INTEGER PRIMARY KEY, v BIGINT NOT NULL)")
        conn.execute("INSERT INTO t SELECT i, 0 FROM range(?) r(i)", [threads])
        conflicts = [0] * threads

        def work(index: int) -> None:
            done = 0
            while done < per_thread:
                cursor = conn.cursor()
                cursor.begin()
                try:
                    cursor.execute("UPDATE t SET v = v + 1 WHERE id = ?", [index])
                    cursor.commit()
                    done += 1
                except duckdb.TransactionException:
                    cursor.rollback()
                    conflicts[index] += 1
                finally:
                    cursor.close()

        work(0)  # warm-up on row 0 only
        elapsed = run_threads(threads, work)
        return threads * per_thread / elapsed, sum(conflicts)
    finally:
        conn.close()


def floor(path: Path, threads: int, per_thread: int) -> dict[str, float]:
    """The raw update rates on one thread and on `threads` threads (same number of updates)."""
    one, _ = raw_updates(path, 1, threads * per_thread)
    many, conflicts = raw_updates(path, threads, per_thread)
    return {"one": one, "many": many, "conflicts": conflicts}


def write_stats(host: Host, since: Any = None, calls: int = 0) -> Any:
    """The store writer's counters; with `since`, calls per committed transaction."""
    stats = getattr(host._store, "write_stats", None)  # None: a store without one writer
    if since is None or stats is None:
        return stats
    return calls / max(1, stats.transactions - since.transactions)


def measure(calls: int, threads: int, per_thread: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tokenworks-bench-") as tmp:
        root = Path(tmp)
        # The floor is taken before and after the metered runs: on a shared machine the
        # load can change in between, and the ratio uses the best (stricter) floor seen.
        before = floor(root / "floor.duckdb", threads, per_thread)
        with make_host(root) as host:
            users = [f"bench{i}" for i in range(threads)]
            for user in users:
                host.add_user(user, password="bench-password", actor="bench")
            call_latencies(host, users[0], WARMUP)
            latencies = call_latencies(host, users[0], calls)
            before_writes = write_stats(host)
            elapsed = run_threads(threads, lambda i: call_latencies(host, users[i], per_thread))
            drained = time.perf_counter()
            host._store.balance(users[0])  # waits until every call is in the tables
            elapsed += time.perf_counter() - drained
            writes = write_stats(host, since=before_writes, calls=threads * per_thread)
            stages = breakdown(host, users[0], min(calls, BREAKDOWN_CALLS))
            books = host.verify_books()
        after = floor(root / "floor.duckdb", threads, per_thread)
    metered_rate = threads * per_thread / elapsed
    best_raw = max(before["one"], before["many"], after["one"], after["many"])
    p50 = statistics.median(latencies)
    return {
        "calls": calls,
        "threads": threads,
        "calls_per_thread": per_thread,
        "p50_ms": p50,
        "p99_ms": percentile(latencies, 99),
        "mean_ms": statistics.fmean(latencies),
        "single_thread_calls_per_s": 1000 / statistics.fmean(latencies),
        "metered_calls_per_s": metered_rate,
        "raw_before": before,
        "raw_after": after,
        "best_raw_updates_per_s": best_raw,
        "metered_share_of_raw": metered_rate / best_raw,
        "breakdown_ms": stages,
        "calls_per_transaction": writes,
        "books_ok": books.ok,
        "books_problems": books.problems,
        "ledger_entries": books.ledger_entries,
        "open_holds": books.open_holds,
        "p50_target_met": p50 <= P50_TARGET_MS,
        "rate_target_met": metered_rate / best_raw >= RATE_TARGET,
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "load_average_after": os.getloadavg(),
    }


def report(r: dict[str, Any]) -> str:
    def verdict(met: bool) -> str:
        return "met" if met else "MISSED"

    def raw(key: str) -> str:
        return f"{r['raw_before'][key]:>5.0f} / {r['raw_after'][key]:<5.0f}"

    t = r["threads"]
    lines = [
        "(raw rates: before / after the metered runs; the ratio uses the best one)",
        f"{'measure':<46} {'value':>12}  target",
        f"{'Host.call p50, 1 thread (ms)':<46} {r['p50_ms']:>12.3f}  <= {P50_TARGET_MS:g} ms: "
        f"{verdict(r['p50_target_met'])}",
        f"{'Host.call p99, 1 thread (ms)':<46} {r['p99_ms']:>12.3f}",
        f"{'metered calls/s, 1 thread':<46} {r['single_thread_calls_per_s']:>12.0f}",
        f"{f'metered calls/s, {t} threads':<46} {r['metered_calls_per_s']:>12.0f}  "
        f">= {RATE_TARGET:.0%} of raw: {r['metered_share_of_raw']:.0%}, "
        f"{verdict(r['rate_target_met'])}",
        f"{'raw single-row updates/s, 1 thread':<46} {raw('one')}",
        f"{f'raw single-row updates/s, {t} threads':<46} {raw('many')}  "
        f"({r['raw_before']['conflicts'] + r['raw_after']['conflicts']} conflicts retried)",
        f"{f'calls per committed transaction, {t} threads':<46} "
        f"{r['calls_per_transaction'] or float('nan'):>12.1f}  (one writer)",
        f"{'verify_books().ok':<46} {r['books_ok']!s:>12}  "
        f"({r['ledger_entries']} ledger entries, {r['open_holds']} open holds)",
        f"{'load average (1 min) after the run':<46} {r['load_average_after'][0]:>12.2f}",
        "",
        "where a call's time goes (mean ms per call, 1 thread):",
    ]
    lines += [f"  {label:<44} {ms:>12.3f}" for label, ms in r["breakdown_ms"].items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000, help="single-thread calls timed")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--calls-per-thread", type=int, default=250)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    result = measure(args.calls, args.threads, args.calls_per_thread)
    print(json.dumps(result, indent=2) if args.json else report(result))


if __name__ == "__main__":
    main()
