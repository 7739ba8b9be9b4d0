"""Load through the REST API: metered calls/s, p50/p99 and errors against real servers.

Starts `tokenworks serve` itself (N replicas on one store, each a subprocess on a free
127.0.0.1 port in its own process group, stopped by pid at the end, on Ctrl+C and on errors)
over a throwaway registry with a no-op function (cost 1, a temp local plugins folder, as in
bench/metering.py), then drives metered calls through `POST /api/functions/noop/calls`:

- setup through the CLI before the servers start (one process owns a DuckDB file):
  `users add`, `tokens grant` and `keys create` for --users users; the servers run with
  $TOKENWORKS_API_RATE and $TOKENWORKS_API_BURST raised so the per-key rate limit
  (core/api/ratelimit.py, 5/s with bursts of 30 by default) never throttles the run;
- --concurrency threads, each with its own keep-alive connection to each replica (stdlib
  http.client: the generator shares the two cores with what it measures, and httpx2 cost
  about three times its CPU per request) and an Idempotency-Key per call, spread
  round-robin over the replicas, until --calls calls or --seconds seconds, whichever comes
  first (after a short warm-up that is not timed);
- the report: calls/s, p50/p99 latency, errors by HTTP status (anything but a 200 with a
  succeeded call is an error); then, with the servers stopped, `tokenworks ledger verify`
  and the books check: the tokens the bench users lost == successful calls x cost == the
  sum of the responses' `charged`;
- the cost per call: the servers' CPU ms per call (/proc/PID/stat utime+stime, with the
  reaped children's cutime+cstime, summed over each server's process group), the
  generator's own CPU ms per call (time.process_time) and how much of one core it used
  (a Python generator tops out near one core: near 100 %, the generator is the limit);
  on PostgreSQL also transactions per call (pg_stat_database xact_commit delta) and, when
  the PostgreSQL server runs on this machine, its CPU ms per call.

--suite runs DuckDB with 1 replica and, with --postgres URL (a server where the bench may
CREATE and DROP a throwaway DATABASE), PostgreSQL with 1 and with 2 replicas, and prints a
table. Target (issue 6): >= 300 metered calls/s on PostgreSQL.

Run: .venv/bin/python bench/load.py [--store PATH_OR_URL] [--replicas N] [--concurrency C]
     [--calls N] [--seconds S] [--users U] [--json]
     .venv/bin/python bench/load.py --suite [--postgres postgresql://USER@127.0.0.1:PORT/postgres]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import itertools
import json
import os
import platform
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from metering import NOOP_PLUGIN  # the same no-op function: the meter's and the API's cost

COST = 1
GRANT = 10_000_000  # tokens per bench user: never the limit
TARGET_RATE = 300.0  # metered calls/s on PostgreSQL (issue 6)
START_TIMEOUT = 90.0
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
# The per-key rate limit (core/api/settings.py) is configured by the server's environment.
UNLIMITED = {"TOKENWORKS_API_RATE": "1000000000", "TOKENWORKS_API_BURST": "1000000000"}
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    """The bench could not run (setup, a server, the store): one line for the user."""


@dataclass
class Options:
    store: str | None = None  # None: a DuckDB file in the temp dir
    replicas: int = 1
    concurrency: int = 8
    calls: int = 3000
    seconds: float = 30.0
    users: int = 4
    warmup: int = 5  # calls per thread before the timed run (charged, checked, not timed)
    label: str = ""
    per_function: int | None = None  # [workers] per_function; None: the server's default


def is_postgres(store: str | None) -> bool:
    return bool(store) and store.startswith(POSTGRES_SCHEMES)


def check_options(options: Options) -> None:
    if options.replicas < 1 or options.concurrency < 1 or options.users < 1:
        raise BenchError("--replicas, --concurrency and --users must be at least 1")
    if options.calls < 1 or options.seconds <= 0:
        raise BenchError("--calls must be at least 1 and --seconds more than 0")
    if options.replicas > 1 and not is_postgres(options.store):
        raise BenchError(
            f"--replicas {options.replicas} needs a PostgreSQL store (--store postgresql://...):"
            " one process owns a DuckDB file, so a second `tokenworks serve` on it cannot start")


# -- processes: CPU time from /proc ------------------------------------------------------

def _stat_fields(pid: int | str) -> list[str] | None:
    """/proc/PID/stat from field 3 (state) on; None if the process is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # the name (field 2) may hold spaces and ')'


def _own_and_reaped_ticks(fields: list[str]) -> int:
    # utime, stime (14, 15): the process, all its threads; cutime, cstime (16, 17): its
    # children that exited and were waited for (so their time is counted once, here).
    return sum(int(value) for value in fields[11:15])


def group_members(pgid: int) -> dict[int, list[str]]:
    """The live processes of a process group: {pid: their /proc/PID/stat fields}."""
    members = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat_fields(entry.name)
            if fields is not None and int(fields[2]) == pgid:  # field 5: pgrp
                members[int(entry.name)] = fields
    return members


def group_cpu_seconds(pgid: int) -> float:
    """CPU seconds of every live process in the process group, with their reaped children."""
    return sum(map(_own_and_reaped_ticks, group_members(pgid).values())) / CLK_TCK


def server_group(watchman: subprocess.Popen, timeout: float = 30.0) -> int:
    """The process group of the server `tokenworks serve` runs: serve stays as a small
    watchman (portals/watchman.py) and starts the server as a child leading a group of its
    own, with the worker processes in it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                fields = _stat_fields(entry.name)
                if fields is not None and int(fields[1]) == watchman.pid:  # field 4: ppid
                    return int(fields[2])  # field 5: pgrp
        if watchman.poll() is not None:
            break
        time.sleep(0.05)
    raise BenchError(f"tokenworks serve (pid {watchman.pid}) started no server")


def tree_cpu_seconds(root: int) -> float | None:
    """CPU seconds of a process and its live children (a postmaster and its backends)."""
    own = _stat_fields(root)
    if own is None:
        return None
    ticks = _own_and_reaped_ticks(own)
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and entry.name != str(root):
            fields = _stat_fields(entry.name)
            if fields is not None and int(fields[1]) == root:  # field 4: ppid
                ticks += sum(int(value) for value in fields[11:13])
    return ticks / CLK_TCK


# -- PostgreSQL: the hooks for queries per call and a throwaway database -----------------

def pg_query(url: str, sql: str) -> list[tuple[str, ...]]:
    """Rows of one statement, in autocommit (so CREATE/DROP DATABASE work): psycopg when it
    is installed (the PostgreSQL store brings it), else the psql client."""
    try:
        import psycopg
    except ImportError:
        psycopg = None
    if psycopg is not None:
        with psycopg.connect(url, autocommit=True) as conn:
            cursor = conn.execute(sql)
            rows = cursor.fetchall() if cursor.description else []
            return [tuple("" if v is None else str(v) for v in row) for row in rows]
    try:
        done = subprocess.run(["psql", "-X", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                               "-d", url, "-c", sql], capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise BenchError("PostgreSQL needs psycopg (pip) or the psql client (apt-get install "
                         "postgresql-client)") from None
    if done.returncode:
        raise BenchError(f"psql: {done.stderr.strip()}")
    return [tuple(line.split("\t")) for line in done.stdout.splitlines() if line]


PG_COUNTERS = ("xact_commit", "xact_rollback", "tup_returned", "tup_fetched", "tup_inserted",
               "tup_updated", "tup_deleted")


def pg_counters(url: str) -> dict[str, int]:
    """The database's cumulative counters. They include every session's work once that
    session flushed its statistics (at the latest about 1 s after it goes idle, or when it
    ends): read them after an idle pause, and after the servers stopped."""
    row = pg_query(url, f"SELECT {', '.join(PG_COUNTERS)} FROM pg_stat_database "
                        "WHERE datname = current_database()")[0]
    return dict(zip(PG_COUNTERS, map(int, row), strict=True))


def pg_postmaster(url: str) -> int | None:
    """The postmaster's pid when the PostgreSQL server runs on this machine and we may read
    its data directory (postmaster.pid); None otherwise (then no PostgreSQL CPU figure)."""
    try:
        data_dir = pg_query(url, "SELECT setting FROM pg_settings "
                                 "WHERE name = 'data_directory'")[0][0]
        pid = int(Path(data_dir, "postmaster.pid").read_text().split()[0])
        name = Path(f"/proc/{pid}/comm").read_text().strip()
    except (BenchError, OSError, IndexError, ValueError):
        return None
    return pid if name.startswith("postgres") else None


def with_database(url: str, name: str) -> str:
    return urlsplit(url)._replace(path="/" + name).geturl()


@contextlib.contextmanager
def throwaway_database(admin_url: str) -> Iterator[str]:
    """CREATE a fresh DATABASE on the server of admin_url, yield its URL, DROP it after."""
    name = f"tokenworks_load_{secrets.token_hex(4)}"
    pg_query(admin_url, f"CREATE DATABASE {name}")
    try:
        yield with_database(admin_url, name)
    finally:
        pg_query(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


# -- the registry, the CLI and the servers ----------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def base_env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("TOKENWORKS_STORE", "TOKENWORKS_REGISTRY", *UNLIMITED):
        env.pop(name, None)  # the bench names its registry and store itself
    return env


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path

    def stop(self) -> None:
        """SIGTERM to the server's process group (it leads it), SIGKILL if it lingers."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


class Workspace:
    """A temp registry with the no-op plugin, and the `tokenworks` CLI on a store."""

    def __init__(self, root: Path, store: str | None, per_function: int | None = None) -> None:
        self.root = root
        (root / "local_plugins").mkdir(exist_ok=True)
        (root / "local_plugins" / "noop.py").write_text(NOOP_PLUGIN)
        self.registry = root / "registry.toml"
        workers = f"[workers]\nper_function = {per_function}\n" if per_function else ""
        self.registry.write_text(
            '[store]\npath = "store.duckdb"\n'
            '[plugins]\nfolder = "local_plugins"\nentry_points = false\n'
            f'[users]\nstarting_grant = 0\n{workers}')
        self.store = store or str(root / "store.duckdb")

    def cli(self, *args: str, stdin: str | None = None, check: bool = True
            ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "tokenworks.cli", "--registry", str(self.registry),
             "--store", self.store, *args],
            input=stdin or "", capture_output=True, text=True, env=base_env(), timeout=300)
        if check and done.returncode:
            raise BenchError(f"tokenworks {' '.join(args[:2])} failed: "
                             f"{done.stderr.strip()[-1500:]}")
        return done

    def add_users(self, count: int) -> dict[str, str]:
        """Users with GRANT tokens and one API key each, through the CLI: {name: key}."""
        run = secrets.token_hex(3)  # fresh names, so a reused PostgreSQL database works too
        keys = {}
        for i in range(count):
            name = f"load{run}u{i}"
            self.cli("users", "add", name, stdin=secrets.token_urlsafe(16) + "\n")
            self.cli("tokens", "grant", name, str(GRANT), "--reason", "bench/load.py")
            key = self.cli("keys", "create", name, "--name", "bench/load.py").stdout.split()
            keys[name] = key[0]
        return keys

    def start_servers(self, replicas: int, servers: list[Server]) -> None:
        """Start the replicas (appended to `servers` as they start, so the caller can stop
        them whatever happens) and wait until each answers /api/health."""
        env = dict(base_env(), **UNLIMITED,
                   TOKENWORKS_ADMIN_PASSWORD=secrets.token_urlsafe(16))
        for index in range(replicas):
            port = free_port()
            log = self.root / f"server{index}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [sys.executable, "-m", "tokenworks.cli", "--registry", str(self.registry),
                     "--store", self.store, "serve", "--host", "127.0.0.1",
                     "--port", str(port)],
                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                    start_new_session=True)  # its own process group: stopped by its pid
            servers.append(Server(f"http://127.0.0.1:{port}", process, log))
        deadline = time.monotonic() + START_TIMEOUT
        with httpx2.Client(trust_env=False, timeout=5) as client:
            for server in servers:
                while True:
                    if server.process.poll() is not None:
                        raise BenchError(f"tokenworks serve exited: "
                                         f"{server.log.read_text()[-1500:]}")
                    with contextlib.suppress(httpx2.HTTPError):
                        if client.get(f"{server.url}/api/health").status_code == 200:
                            break
                    if time.monotonic() > deadline:
                        raise BenchError(f"tokenworks serve not healthy in {START_TIMEOUT:g} s: "
                                         f"{server.log.read_text()[-1500:]}")
                    time.sleep(0.2)

    def books(self, keys: dict[str, str]) -> dict[str, Any]:
        """`ledger verify` (servers stopped), and what the bench users were charged."""
        verify = self.cli("ledger", "verify", "--json", check=False)
        try:
            report = json.loads(verify.stdout)
        except json.JSONDecodeError:
            raise BenchError(f"tokenworks ledger verify failed: {verify.stderr.strip()}") from None
        users = json.loads(self.cli("users", "list", "--json").stdout)
        balances = {user["name"]: user["balance"] for user in users if user["name"] in keys}
        return {"verify_ok": bool(report["ok"]) and verify.returncode == 0,
                "verify_problems": report["problems"], "ledger_entries": report["ledger_entries"],
                "open_holds": report["open_holds"],
                "tokens_spent": sum(GRANT - balance for balance in balances.values())}


# -- the load ----------------------------------------------------------------------------

class KeepAlive:
    """One keep-alive HTTP/1.1 connection per server (host, port), reopened after an error."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._connections: dict[str, http.client.HTTPConnection] = {}

    def post_json(self, url: str, payload: dict[str, Any],
                  headers: dict[str, str]) -> tuple[int, bytes]:
        parts = urlsplit(url)
        connection = self._connections.get(parts.netloc)
        if connection is None:
            connection = http.client.HTTPConnection(parts.hostname, parts.port,
                                                    timeout=self._timeout)
            self._connections[parts.netloc] = connection
        try:
            connection.request("POST", parts.path, body=json.dumps(payload).encode(),
                               headers={**headers, "Content-Type": "application/json"})
            response = connection.getresponse()
            return response.status, response.read()
        except (http.client.HTTPException, OSError):
            connection.close()
            del self._connections[parts.netloc]
            raise

    def close(self) -> None:
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()


def one_call(client: KeepAlive, url: str, key: str) -> tuple[float, str, int]:
    """One metered call: (ms, outcome, charged); outcome "ok", an HTTP status, or an error."""
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": uuid.uuid4().hex}
    started = time.perf_counter()
    try:
        status, raw = client.post_json(url, {"n": 1}, headers)
        body = json.loads(raw) if status == 200 else None
    except (http.client.HTTPException, OSError, ValueError) as error:
        return (time.perf_counter() - started) * 1000, type(error).__name__, 0
    ms = (time.perf_counter() - started) * 1000
    if body is None:
        return ms, str(status), 0
    if body.get("status") != "succeeded":
        return ms, f"200 {body.get('status')}", int(body.get("charged") or 0)
    return ms, "ok", int(body.get("charged") or 0)


@dataclass
class Tally:
    latencies: list[float]
    outcomes: Counter
    charged: int = 0
    warm_ok: int = 0
    warm_errors: int = 0


def drive(urls: list[str], keys: list[str], options: Options, pgids: list[int],
          pg_url: str | None, postmaster: int | None) -> dict[str, Any]:
    """Warm up, then run the timed load on `options.concurrency` threads."""
    targets = [f"{url}/api/functions/noop/calls" for url in urls]
    tallies = [Tally([], Counter()) for _ in range(options.concurrency)]
    ticket = itertools.count()
    stop = threading.Event()
    clock: dict[str, Any] = {}
    failures: list[BaseException] = []

    def start_clock() -> None:  # runs once, when every thread has warmed up
        clock["servers_cpu"] = sum(group_cpu_seconds(pgid) for pgid in pgids)
        clock["generator_cpu"] = time.process_time()
        clock["started"] = time.perf_counter()
        clock["deadline"] = clock["started"] + options.seconds

    warmed = threading.Barrier(options.concurrency + 1)
    go = threading.Barrier(options.concurrency + 1, action=start_clock)

    def worker(index: int) -> None:
        tally, key = tallies[index], keys[index % len(keys)]
        client = KeepAlive(timeout=30)
        try:
            for i in range(options.warmup):
                _, outcome, charged = one_call(client, targets[(index + i) % len(urls)], key)
                tally.charged += charged
                tally.warm_ok += outcome == "ok"
                tally.warm_errors += outcome != "ok"
            warmed.wait()
            go.wait()
            while not stop.is_set():
                n = next(ticket)
                if n >= options.calls or time.perf_counter() >= clock["deadline"]:
                    break
                ms, outcome, charged = one_call(client, targets[n % len(urls)], key)
                tally.latencies.append(ms)
                tally.outcomes[outcome] += 1
                tally.charged += charged
        except threading.BrokenBarrierError:
            pass
        except BaseException as error:
            failures.append(error)
            warmed.abort()
            go.abort()
        finally:
            client.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True, name=f"load-{i}")
               for i in range(options.concurrency)]
    for thread in threads:
        thread.start()
    pg_before = pg_cpu_before = None
    try:
        warmed.wait()
        if pg_url:
            time.sleep(1.5)  # idle sessions flush their statistics within about 1 s
            pg_before = pg_counters(pg_url)
        pg_cpu_before = tree_cpu_seconds(postmaster) if postmaster else None
        go.wait()
        for thread in threads:
            thread.join()
    except threading.BrokenBarrierError:
        pass
    finally:
        stop.set()
        warmed.abort()
        go.abort()
    if failures:
        raise failures[0]
    if "started" not in clock:
        raise BenchError("the load threads stopped before the timed run")
    elapsed = time.perf_counter() - clock["started"]
    latencies = [ms for tally in tallies for ms in tally.latencies]
    outcomes: Counter = sum((tally.outcomes for tally in tallies), Counter())
    return {
        "elapsed_s": elapsed,
        "servers_cpu_s": sum(group_cpu_seconds(pgid) for pgid in pgids) - clock["servers_cpu"],
        "generator_cpu_s": time.process_time() - clock["generator_cpu"],
        "latencies": latencies, "outcomes": outcomes,
        "charged": sum(tally.charged for tally in tallies),
        "warm_ok": sum(tally.warm_ok for tally in tallies),
        "warm_errors": sum(tally.warm_errors for tally in tallies),
        "pg_before": pg_before, "pg_cpu_before": pg_cpu_before, "server_pids": pgids,
    }


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def run(options: Options, root: Path | None = None) -> dict[str, Any]:
    """One configuration, start to finish; returns the report (see report())."""
    check_options(options)
    with contextlib.ExitStack() as stack:
        if root is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tw-load-")))
        space = Workspace(root, options.store, options.per_function)
        pg_url = space.store if is_postgres(space.store) else None
        postmaster = pg_postmaster(pg_url) if pg_url else None
        started_at = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        load_before = os.getloadavg()
        keys = space.add_users(options.users)
        servers: list[Server] = []
        try:
            space.start_servers(options.replicas, servers)
            load = drive([s.url for s in servers], list(keys.values()), options,
                         [server_group(s.process) for s in servers], pg_url, postmaster)
        finally:
            for server in servers:
                server.stop()
        pg_after = pg_cpu_after = None
        if pg_url:
            time.sleep(1.0)  # the servers' sessions ended: their statistics are flushed
            pg_after = pg_counters(pg_url)
            pg_cpu_after = tree_cpu_seconds(postmaster) if postmaster else None
        books = space.books(keys)
    return summarize(options, space.store, load, books, started_at, load_before,
                     pg_after, pg_cpu_after)


def summarize(options: Options, store: str, load: dict[str, Any], books: dict[str, Any],
              started_at: str, load_before: tuple[float, ...], pg_after: dict | None,
              pg_cpu_after: float | None) -> dict[str, Any]:
    outcomes: Counter = load["outcomes"]
    calls = sum(outcomes.values())
    ok = outcomes.get("ok", 0)
    errors = {name: count for name, count in outcomes.items() if name != "ok"}
    successes = ok + load["warm_ok"]
    expected = successes * COST
    books_ok = (books["verify_ok"] and books["tokens_spent"] == expected == load["charged"])
    elapsed = load["elapsed_s"]
    per_call = max(calls, 1)
    postgres = is_postgres(store)
    result: dict[str, Any] = {
        "label": options.label or ("PostgreSQL" if postgres else "DuckDB"),
        "store": "postgresql" if postgres else "duckdb",
        "replicas": options.replicas, "concurrency": options.concurrency,
        "users": options.users, "calls_limit": options.calls, "seconds_limit": options.seconds,
        "calls": calls, "ok": ok, "elapsed_s": elapsed,
        "calls_per_s": calls / elapsed if elapsed else 0.0,
        "ok_per_s": ok / elapsed if elapsed else 0.0,
        "p50_ms": percentile(load["latencies"], 50), "p99_ms": percentile(load["latencies"], 99),
        "mean_ms": statistics.fmean(load["latencies"]) if load["latencies"] else float("nan"),
        "errors": errors, "error_count": sum(errors.values()),
        "warmup_calls": load["warm_ok"] + load["warm_errors"],
        "warmup_errors": load["warm_errors"],
        "servers_cpu_ms_per_call": load["servers_cpu_s"] * 1000 / per_call,
        "generator_cpu_ms_per_call": load["generator_cpu_s"] * 1000 / per_call,
        "servers_cores": load["servers_cpu_s"] / elapsed if elapsed else 0.0,
        "generator_cores": load["generator_cpu_s"] / elapsed if elapsed else 0.0,
        "books": {**books, "successful_calls": successes, "expected_tokens": expected,
                  "charged_in_responses": load["charged"], "ok": books_ok},
        "postgres": None,
        "started_at": started_at, "load_average_before": load_before,
        "load_average_after": os.getloadavg(), "cores": os.cpu_count(),
        "python": platform.python_version(), "server_pids": load["server_pids"],
    }
    if postgres:
        pg: dict[str, Any] = {"transactions_per_call": None, "cpu_ms_per_call": None}
        if load["pg_before"] and pg_after:
            delta = {k: pg_after[k] - load["pg_before"][k] for k in PG_COUNTERS}
            pg["counters_delta"] = delta
            pg["transactions_per_call"] = (delta["xact_commit"] + delta["xact_rollback"]) / per_call
            pg["rows_written_per_call"] = (delta["tup_inserted"] + delta["tup_updated"]
                                           + delta["tup_deleted"]) / per_call
        if load["pg_cpu_before"] is not None and pg_cpu_after is not None:
            pg["cpu_ms_per_call"] = (pg_cpu_after - load["pg_cpu_before"]) * 1000 / per_call
        result["postgres"] = pg
        result["target_met"] = result["ok_per_s"] >= TARGET_RATE and not errors and books_ok
    else:
        result["target_met"] = None  # the target is for PostgreSQL
    return result


# -- reports -----------------------------------------------------------------------------

def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def report(r: dict[str, Any]) -> str:
    books = r["books"]
    errors = ", ".join(f"{name}: {count}" for name, count in sorted(r["errors"].items()))
    gen = r["generator_cores"]
    lines = [
        f"{r['label']}: {r['replicas']} replica(s), {r['concurrency']} threads, "
        f"{r['users']} users; {r['calls']} calls in {r['elapsed_s']:.1f} s "
        f"(limits: {r['calls_limit']} calls, {r['seconds_limit']:g} s; "
        f"{r['warmup_calls']} warm-up calls before)",
        f"{'measure':<44} value",
        f"{'metered calls/s (succeeded)':<44} {r['ok_per_s']:.0f}",
        f"{'latency p50 / p99 / mean (ms)':<44} {r['p50_ms']:.1f} / {r['p99_ms']:.1f} / "
        f"{r['mean_ms']:.1f}",
        f"{'errors (by HTTP status)':<44} {r['error_count']}" + (f"  ({errors})" if errors else "")
        + (f"  + {r['warmup_errors']} in the warm-up" if r["warmup_errors"] else ""),
        f"{'ledger verify':<44} {'ok' if books['verify_ok'] else 'FAILED'}  "
        f"({books['ledger_entries']} ledger entries, {books['open_holds']} open holds)"
        + "".join(f"\n  DRIFT: {p}" for p in books["verify_problems"]),
        f"{'tokens spent == successful calls x cost':<44} "
        f"{'yes' if books['ok'] else 'NO'}  ({books['tokens_spent']} spent, "
        f"{books['successful_calls']} x {COST}, {books['charged_in_responses']} in responses)",
        f"{'servers CPU ms per call':<44} {r['servers_cpu_ms_per_call']:.2f}  "
        f"({r['servers_cores']:.2f} cores busy)",
        f"{'generator CPU ms per call':<44} {r['generator_cpu_ms_per_call']:.2f}  "
        f"({gen:.0%} of one core"
        + ("; near the GIL's one core: the generator may be the limit)" if gen >= 0.8 else ")"),
    ]
    pg = r["postgres"]
    if pg is not None:
        lines += [
            f"{'PostgreSQL transactions per call':<44} "
            f"{_fmt(pg['transactions_per_call'], '.2f')}"
            + (f"  ({pg['rows_written_per_call']:.1f} rows written)"
               if pg.get("rows_written_per_call") is not None else ""),
            f"{'PostgreSQL CPU ms per call':<44} {_fmt(pg['cpu_ms_per_call'], '.2f')}"
            + ("" if pg["cpu_ms_per_call"] is not None else
               "  (the server is not on this machine, or its data dir is not readable)"),
            f"{f'target >= {TARGET_RATE:g} calls/s on PostgreSQL':<44} "
            f"{'met' if r['target_met'] else 'MISSED'}",
        ]
    else:
        lines.append(f"{f'target >= {TARGET_RATE:g} calls/s':<44} for PostgreSQL; "
                     f"DuckDB here: {r['ok_per_s']:.0f}/s")
    lines.append(f"{'load average (1 min) before / after':<44} "
                 f"{r['load_average_before'][0]:.2f} / {r['load_average_after'][0]:.2f}  "
                 f"({r['cores']} cores)")
    return "\n".join(lines)


def suite_table(results: list[dict[str, Any]], postgres: bool) -> str:
    head = ["configuration", "calls/s", "p50 ms", "p99 ms", "errors", "books",
            "srv CPU ms/call", "gen CPU ms/call", "gen core", "PG xact/call", "PG CPU ms/call",
            ">= 300/s"]
    rows = []
    for r in results:
        pg = r["postgres"] or {}
        rows.append([
            f"{r['label']}, {r['replicas']} replica{'s' if r['replicas'] > 1 else ''}",
            f"{r['ok_per_s']:.0f}", f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}",
            str(r["error_count"]), "ok" if r["books"]["ok"] else "FAILED",
            f"{r['servers_cpu_ms_per_call']:.2f}", f"{r['generator_cpu_ms_per_call']:.2f}",
            f"{r['generator_cores']:.0%}", _fmt(pg.get("transactions_per_call"), ".2f"),
            _fmt(pg.get("cpu_ms_per_call"), ".2f"),
            "-" if r["target_met"] is None else ("met" if r["target_met"] else "MISSED")])
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
              for row in rows]
    if not postgres:
        lines.append("PostgreSQL, 1 and 2 replicas: not run (pass --postgres URL)")
    pg_runs = {r["replicas"]: r["ok_per_s"] for r in results if r["store"] == "postgresql"}
    if 1 in pg_runs and 2 in pg_runs and pg_runs[1]:
        lines.append(f"PostgreSQL, 2 replicas / 1 replica: {pg_runs[2] / pg_runs[1]:.2f}x")
    return "\n".join(lines)


def suite(options: Options, postgres: str | None) -> list[dict[str, Any]]:
    """DuckDB 1 replica; with a PostgreSQL server, 1 and 2 replicas, each on a fresh DATABASE."""
    base = asdict(options) | {"store": None}
    configs = [Options(**base | {"replicas": 1, "label": "DuckDB"})]
    if postgres:
        configs += [Options(**base | {"replicas": n, "label": "PostgreSQL"}) for n in (1, 2)]
    results = []
    for config in configs:
        print(f"-- {config.label}, {config.replicas} replica(s) ...", file=sys.stderr, flush=True)
        if config.label == "PostgreSQL":
            with throwaway_database(postgres) as url:
                config.store = url
                results.append(run(config))
        else:
            results.append(run(config))
        print(report(results[-1]), file=sys.stderr, flush=True)
    return results


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # so the finally blocks stop the servers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", metavar="PATH_OR_URL",
                        help="a DuckDB file (default: a new one in a temp dir) or a "
                             "postgresql:// URL (used as it is: the bench adds its own users)")
    parser.add_argument("--replicas", type=int, default=1,
                        help="servers on the one store (more than 1: PostgreSQL only)")
    parser.add_argument("--concurrency", type=int, default=Options.concurrency,
                        help="client threads (default: %(default)s)")
    parser.add_argument("--calls", type=int, default=Options.calls,
                        help="stop after this many timed calls (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=Options.seconds,
                        help="or after this many seconds (default: %(default)s)")
    parser.add_argument("--users", type=int, default=Options.users,
                        help="bench users, one API key each, shared by the threads "
                             "(default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=Options.warmup,
                        help="untimed calls per thread first (default: %(default)s)")
    parser.add_argument("--suite", action="store_true",
                        help="DuckDB 1 replica, and PostgreSQL 1 and 2 replicas with --postgres")
    parser.add_argument("--postgres", metavar="URL",
                        help="with --suite: a PostgreSQL server where the bench may CREATE and "
                             "DROP a throwaway DATABASE (e.g. postgresql://postgres@127.0.0.1"
                             ":5432/postgres)")
    parser.add_argument("--per-function", type=int, metavar="N",
                        help="calls of the no-op that may run at once on a server "
                             "([workers] per_function; default: the server's, half its "
                             "worker processes)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    if args.postgres and not args.suite:
        parser.error("--postgres goes with --suite (for one run, pass --store URL)")
    if args.suite and (args.store or args.replicas != 1):
        parser.error("--suite chooses the stores and replicas itself")
    if args.postgres and not is_postgres(args.postgres):
        parser.error("--postgres takes a postgresql:// URL")
    options = Options(store=args.store, replicas=args.replicas, concurrency=args.concurrency,
                      calls=args.calls, seconds=args.seconds, users=args.users,
                      warmup=args.warmup, per_function=args.per_function)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started ignoring it
    try:
        check_options(options)
        if args.suite:
            results = suite(options, args.postgres)
            print(json.dumps(results, indent=2) if args.json
                  else suite_table(results, bool(args.postgres)))
        else:
            result = run(options)
            print(json.dumps(result, indent=2) if args.json else report(result))
    except BenchError as error:
        sys.exit(f"bench/load.py: {error}")
    except KeyboardInterrupt:
        sys.exit("bench/load.py: interrupted; the servers were stopped")


if __name__ == "__main__":
    main()
