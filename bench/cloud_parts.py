"""Where the time of `generate_word_cloud(count_by="occupation")` goes, and what a second
resolver process would buy (issue 3's 0.5 s target for 1,000 titles).

On the same 1,000 distinct titles as bench/title_speed.py (the resolver's cache cleared
before each run), per run:

- **parts**, one thread, CPU time: cleaning the raw titles (to merge variants), cleaning the
  merged titles' cores again (inside `resolve_many`), the evidence (`evidence.gather`), the
  ranker and answers (`_answer_many`), and drawing the cloud (`_render`, the top 150);
- **whole**: the function as the portal calls it (two threads) and `resolve_many` alone on
  one and on two threads, wall clock;
- **two processes**: `resolve_many` of half the titles here while a second process, forked
  before the runs with the resolver loaded and waiting on a pipe, resolves the other half:
  the wall clock of the split, the best a second resolver process could do (without its
  start-up, memory or the cleaning and drawing that stay in the server).

This script forks only before it starts any thread. The product does not: the portal's
server is threaded, where forking is unsafe, and a spawned helper would load its own copy of
the index (another ~270 MB and ~1.5 s).

    .venv/bin/python bench/cloud_parts.py [--runs 5] [--json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from title_accuracy import _bulk_titles, machine, split
from title_speed import load, timed


def cpu(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.process_time()
    out = fn()
    return time.process_time() - t0, out


def _serve(conn: Connection) -> None:
    """The second process: resolve each list of titles it is sent, answer with the codes."""
    from tokenworks.plugins.job_titles.functions.common import resolver

    res = resolver()
    while (titles := conn.recv()) is not None:
        res.clear_cache()
        conn.send([r.best.code if r.best else None for r in res.resolve_many(titles, 1)])


def run(runs: int) -> dict[str, Any]:
    from tokenworks.plugins import job_titles
    from tokenworks.plugins.job_titles.clean import clean_title
    from tokenworks.plugins.job_titles.data import get_data
    from tokenworks.plugins.job_titles.evidence import gather
    from tokenworks.plugins.job_titles.functions import cloud
    from tokenworks.plugins.job_titles.functions.common import resolver

    job_titles.warm()
    data = get_data()
    test, _ = split(data)
    titles = _bulk_titles(data, test, 1000)
    res = resolver()
    res.resolve_many(titles[:64], top_k=1)  # first-use lookups, before the fork
    cloud.generate_word_cloud(cloud.WordCloudInput(job_titles=titles[:20]))  # imports, fonts
    request = cloud.WordCloudInput(job_titles=titles, count_by="occupation")

    here, there = multiprocessing.get_context("fork").Pipe()
    helper = multiprocessing.get_context("fork").Process(target=_serve, args=(there,),
                                                         daemon=True)
    helper.start()
    here.send(titles[:8])
    here.recv()

    rows: list[dict[str, float]] = []
    try:
        for _ in range(runs):
            row: dict[str, float] = {}
            row["clean_raw"], keys = cpu(lambda: [cloud._merge_key(t, False) for t in titles])
            cores = [cloud._core(key) for key in keys]
            row["clean_cores"], again = cpu(lambda cores=cores: [clean_title(t, res.gazetteer)
                                                                 for t in cores])
            tokens = list(dict.fromkeys(c.tokens for c in again))
            row["evidence"], evs = cpu(lambda tokens=tokens: gather(res, tokens))
            row["answers"], _ = cpu(lambda evs=evs: res._answer_many(evs, 1))
            res.clear_cache()
            counts, _, _ = cloud._by_occupation(Counter(titles), False)
            drawn = dict([kv for kv in counts.most_common() if kv[0] != cloud.UNMATCHED][:150])
            row["render"], _ = cpu(lambda drawn=drawn: cloud._render(drawn, request))
            res.clear_cache()
            row["function_wall"] = timed(lambda: cloud.generate_word_cloud(request))
            res.clear_cache()
            row["resolve_1_thread_wall"] = timed(lambda: res.resolve_many(titles, 1))
            res.clear_cache()
            row["resolve_2_threads_wall"] = timed(lambda: res.resolve_many(titles, 1, threads=2))
            res.clear_cache()

            def split_two() -> None:
                half = len(titles) // 2
                here.send(titles[half:])
                res.resolve_many(titles[:half], 1)
                here.recv()

            row["resolve_2_processes_wall"] = timed(split_two)
            rows.append({k: round(v, 3) for k, v in row.items()})
    finally:
        here.send(None)
        helper.join(timeout=10)
    return {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(), "titles": len(titles), "distinct_cores": len(tokens),
        "load": load(),
        "median": {k: round(statistics.median(r[k] for r in rows), 3) for k in rows[0]},
        "runs": rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print everything as JSON")
    args = parser.parse_args(argv)
    result = run(max(1, args.runs))
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"date: {result['date']}\nmachine: {result['machine']}\nload at the end: "
          f"{result['load']}\n{result['titles']:,} titles, {result['distinct_cores']:,} "
          f"distinct cores; medians of {len(result['runs'])} runs (s)\n")
    print("| part | median s | runs |\n|---|---|---|")
    for key, value in result["median"].items():
        runs = ", ".join(str(r[key]) for r in result["runs"])
        print(f"| {key.replace('_', ' ')} | {value} | {runs} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
