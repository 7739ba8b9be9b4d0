"""bench/load.py works end to end (not its speed): a tiny bounded run against real servers
on DuckDB must have no errors and balanced books; the option checks refuse what cannot run."""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "load.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_load", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


bench = load_bench()


def test_replicas_on_duckdb_are_refused():
    with pytest.raises(bench.BenchError, match="PostgreSQL"):
        bench.check_options(bench.Options(replicas=2))
    bench.check_options(bench.Options(replicas=2, store="postgresql://u@127.0.0.1/db"))


def test_cpu_time_of_a_process_group_is_read_from_proc():
    assert bench.group_cpu_seconds(os.getpgid(0)) > 0


@pytest.mark.slow
def test_a_small_run_on_duckdb_keeps_the_books(tmp_path):
    result = bench.run(bench.Options(calls=40, seconds=120, concurrency=2, users=2, warmup=2),
                       root=tmp_path)
    assert result["errors"] == {}
    assert result["warmup_errors"] == 0
    assert result["calls"] == 40
    assert result["books"]["verify_ok"]
    assert result["books"]["tokens_spent"] == (40 + 2 * 2) * bench.COST
    assert result["books"]["ok"]
    assert result["servers_cpu_ms_per_call"] > 0
    for pid in result["server_pids"]:  # stopped: nothing left alive in the servers' groups
        assert live_members(pid) == []


def live_members(pgid: int, wait: float = 10.0) -> list[int]:
    """The group's processes still running (its workers end a moment after the server:
    dead ones may show as zombies until they are reaped)."""
    deadline = time.monotonic() + wait
    while True:
        live = [pid for pid, fields in bench.group_members(pgid).items() if fields[0] != "Z"]
        if not live or time.monotonic() > deadline:
            return live
        time.sleep(0.1)
