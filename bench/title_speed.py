"""Speed of the job-title plugin against the targets of issue 3, with a TF-IDF reference.

Measured, each with the load average of the machine (other work shares it: prefer medians):

- **host start**: in fresh processes (--starts of them), what a host pays before the first
  title call is fast: the plugin's `warm()` (data load plus the resolver's index, which
  overlap), its wall time, the data's alone (`get_data()` in another fresh process), and
  the RSS afterwards. Target <= 2 s and <= 300 MB.
- **analyze_job_title**, warm: p50/p95 per call, called directly and through `Host.call`
  (validation, metering, the ledger; a temporary DuckDB store), on distinct messy titles the
  resolver has not cached, and on one title repeated; and `Host.call` of a trivial function
  (text_tools' word_frequencies), the meter's own floor. Target p50 <= 5 ms.
- **bulk normalization** (`titles normalize`'s code path), --bulk distinct messy titles, with
  1 process and with the default worker count; wall-clock titles/s and, for 1 process, the
  rate by CPU time (less sensitive to other load). Target >= 2,000 titles/s.
- **generate_word_cloud** of 1,000 distinct titles, by title and by occupation (the resolver's
  cache cleared first). Target <= 0.5 s.
- **reference**: a character n-gram TF-IDF nearest neighbour (bench/title_accuracy.py's
  `CharTfidfNN`, over every title row) on the same titles as the resolver, side by side.

    .venv/bin/python bench/title_speed.py [--bulk 10000] [--runs 3] [--starts 3] [--json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from title_accuracy import CharTfidfNN, _bulk_titles, machine, split

# warm() alone, as a host calls it: it reads the index on a second thread while the data
# loads, so the two are not timed apart; data_s is a second fresh process's get_data().
START_SCRIPT = """
import json, sys, time, resource
t0 = time.perf_counter()
if sys.argv[1] == "data":
    from tokenworks.plugins.job_titles.data import get_data
    get_data()
    print(json.dumps({"data_s": time.perf_counter() - t0}))
    raise SystemExit
from tokenworks.plugins import job_titles
job_titles.warm()
t2 = time.perf_counter()
rss = 0.0
with open("/proc/self/status") as f:
    for line in f:
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"total_s": t2 - t0, "rss_mb": rss, "peak_mb": peak}))
"""


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def host_start(starts: int) -> dict[str, Any]:
    runs = []
    for _ in range(starts):
        run = {}
        for what in ("warm", "data"):
            out = subprocess.run([sys.executable, "-c", START_SCRIPT, what],
                                 capture_output=True, text=True, check=True)
            run.update(json.loads(out.stdout.strip().splitlines()[-1]))
        run["index_s"] = run["total_s"] - run["data_s"]  # what the index adds after the data
        runs.append(run)
    med = {k: round(statistics.median(r[k] for r in runs), 3) for k in runs[0]}
    return {"median": med, "runs": runs, "load": load()}


def make_host(root: Path) -> Any:
    from tokenworks.config import load_registry
    from tokenworks.host import Host

    registry = root / "registry.toml"
    registry.write_text('[store]\npath = "store.duckdb"\n'
                        '[plugins]\nbuiltin = ["text_tools", "job_titles"]\nfolder = ""\n'
                        'entry_points = false\n[users]\nstarting_grant = 100000000\n')
    return Host(load_registry(registry), strict=True, sweep=False)


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def latencies(titles: list[str], call: Callable[[str], Any]) -> dict[str, float]:
    from tokenworks.plugins.job_titles.functions.common import resolver

    resolver().clear_cache()
    distinct = [1000 * timed(lambda t=t: call(t)) for t in titles]
    same = [1000 * timed(lambda: call(titles[0])) for _ in range(len(titles))]
    return {"p50_ms": round(statistics.median(distinct), 3),
            "p95_ms": round(pct(distinct, 0.95), 3),
            "same_title_p50_ms": round(statistics.median(same), 3), "calls": len(titles)}


def analyze_latency(titles: list[str]) -> dict[str, Any]:
    from tokenworks.plugins.job_titles.functions.analyze import AnalyzeInput, analyze_job_title

    def direct(t: str) -> Any:
        return analyze_job_title(AnalyzeInput(title=t))

    for t in titles[:50]:  # first calls import and warm the code paths
        direct(t)
    out: dict[str, Any] = {"direct": latencies(titles, direct), "load_direct": load()}
    with tempfile.TemporaryDirectory() as tmp:
        host = make_host(Path(tmp))
        try:
            host.add_user("bench", actor="bench")

            def via_host(t: str) -> Any:
                outcome = host.call("analyze_job_title", "bench", {"title": t})
                if not outcome.ok:
                    raise RuntimeError(outcome.to_dict())
                return outcome

            for t in titles[:50]:
                via_host(t)
            out["host_call"] = latencies(titles, via_host)
            # The meter's own floor, for comparison: a trivial function through Host.call.
            floor = [1000 * timed(lambda: host.call("word_frequencies", "bench",
                                                    {"text": "data engineer"}))
                     for _ in range(300)]
            out["host_call_floor_p50_ms"] = round(statistics.median(floor), 3)
            out["load_host_call"] = load()
        finally:
            host._meter.shutdown()
    return out


def bulk(titles: list[str], runs: int) -> dict[str, Any]:
    from tokenworks.plugins.job_titles.cli import default_jobs, normalize_lines
    from tokenworks.plugins.job_titles.functions.common import resolver

    res = resolver()
    out: dict[str, Any] = {"titles": len(titles), "jobs": default_jobs()}
    for jobs in sorted({1, default_jobs()}):
        rates, cpu_rates, loads = [], [], []
        for _ in range(runs):
            res.clear_cache()  # workers fork from this process: they start empty too
            sink = io.StringIO()
            c0, t0 = time.process_time(), time.perf_counter()
            for line in normalize_lines(titles, top=5, resolver=res, jobs=jobs):
                sink.write(line + "\n")
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            rates.append(round(len(titles) / wall))
            cpu_rates.append(round(len(titles) / cpu) if cpu else None)
            loads.append(load())
        out[f"jobs{jobs}"] = {"titles_per_s": statistics.median(rates), "runs": rates,
                              "loads": loads}
        if jobs == 1:
            out["jobs1"]["cpu_titles_per_s"] = statistics.median(cpu_rates)
    return out


def cloud(titles: list[str], runs: int) -> dict[str, Any]:
    from tokenworks.plugins.job_titles.functions.cloud import WordCloudInput, generate_word_cloud
    from tokenworks.plugins.job_titles.functions.common import resolver

    out: dict[str, Any] = {"titles": len(titles)}
    generate_word_cloud(WordCloudInput(job_titles=titles[:20]))  # imports wordcloud, fonts
    for count_by in ("title", "occupation"):
        times = []
        for _ in range(runs):
            resolver().clear_cache()
            req = WordCloudInput(job_titles=titles, count_by=count_by)
            times.append(round(timed(lambda r=req: generate_word_cloud(r)), 3))
        out[count_by] = {"median_s": statistics.median(times), "runs": times, "load": load()}
    return out


def reference(data: Any, titles: list[str]) -> dict[str, Any]:
    """The resolver and the char TF-IDF reference on the same titles, one process each."""
    from tokenworks.plugins.job_titles.functions.common import resolver

    res = resolver()
    res.clear_cache()
    t_res = timed(lambda: [res.resolve(t) for t in titles])
    t0 = time.perf_counter()
    ref = CharTfidfNN([t.title for t in data.titles], [t.onet_code for t in data.titles])
    build = time.perf_counter() - t0
    t_ref = timed(lambda: [ref.top(t, k=5) for t in titles])
    return {"titles": len(titles), "resolver_titles_per_s": round(len(titles) / t_res),
            "reference_titles_per_s": round(len(titles) / t_ref),
            "reference_build_s": round(build, 2), "load": load()}


def run(n_bulk: int, runs: int, starts: int, n_ref: int) -> dict[str, Any]:
    result: dict[str, Any] = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(), "load_at_start": load(),
    }
    result["host_start"] = host_start(starts)
    from tokenworks.plugins import job_titles
    from tokenworks.plugins.job_titles.data import get_data

    job_titles.warm()
    data = get_data()
    test, _ = split(data)
    titles = _bulk_titles(data, test, n_bulk)
    result["analyze"] = analyze_latency(titles[:1000])
    result["bulk"] = bulk(titles, runs)
    result["word_cloud"] = cloud(titles[:1000], runs=max(runs, 5))
    result["reference"] = reference(data, titles[:n_ref])
    result["load_at_end"] = load()
    return result


def table(r: dict[str, Any]) -> str:
    hs, an, bk, wc, ref = (r["host_start"]["median"], r["analyze"], r["bulk"], r["word_cloud"],
                           r["reference"])
    d, h = an["direct"], an["host_call"]
    j1, jn = bk["jobs1"], bk[f"jobs{bk['jobs']}"]
    rows = [
        ("host start: `warm()` in a fresh process (data alone + what the index adds), median of "
         f"{len(r['host_start']['runs'])}", f"{hs['total_s']:.2f} s "
         f"({hs['data_s']:.2f} + {hs['index_s']:.2f})", "<= 2 s"),
        ("RSS after the start (peak)", f"{hs['rss_mb']:.0f} MB ({hs['peak_mb']:.0f})",
         "<= 300 MB"),
        ("analyze_job_title p50 / p95, direct, distinct titles",
         f"{d['p50_ms']} / {d['p95_ms']} ms", "p50 <= 5 ms"),
        ("analyze_job_title p50 / p95 through `Host.call`, distinct titles",
         f"{h['p50_ms']} / {h['p95_ms']} ms", "p50 <= 5 ms"),
        ("analyze_job_title p50, one title repeated: direct / `Host.call`",
         f"{d['same_title_p50_ms']} / {h['same_title_p50_ms']} ms", ""),
        ("`Host.call` p50 of a trivial function (text_tools word_frequencies): the meter",
         f"{an['host_call_floor_p50_ms']} ms", ""),
        (f"bulk normalize, {bk['titles']:,} distinct titles, 1 process (by CPU time)",
         f"{j1['titles_per_s']:,} titles/s ({j1['cpu_titles_per_s']:,})", ">= 2,000 titles/s"),
        (f"bulk normalize, the same, {bk['jobs']} worker processes",
         f"{jn['titles_per_s']:,} titles/s", ">= 2,000 titles/s"),
        (f"generate_word_cloud, {wc['titles']:,} distinct titles, by title",
         f"{wc['title']['median_s']} s", "<= 0.5 s"),
        ("generate_word_cloud, the same, by occupation", f"{wc['occupation']['median_s']} s",
         "<= 0.5 s"),
        (f"resolver vs char TF-IDF reference, {ref['titles']:,} titles, 1 process",
         f"{ref['resolver_titles_per_s']:,} vs {ref['reference_titles_per_s']:,} titles/s "
         f"(reference index build {ref['reference_build_s']} s)", ""),
    ]
    lines = [f"date: {r['date']}", f"machine: {r['machine']}",
             f"load average (1, 5, 15 min): {r['load_at_start']} at start, "
             f"{r['load_at_end']} at end; bulk runs: {', '.join(j1['loads'])}", "",
             "| measure | value | target |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bulk", type=int, default=10_000, help="distinct titles for bulk runs")
    ap.add_argument("--runs", type=int, default=3, help="repeats of each bulk run")
    ap.add_argument("--starts", type=int, default=3, help="fresh processes for host start")
    ap.add_argument("--reference", type=int, default=2000,
                    help="titles for the resolver-vs-reference comparison")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    result = run(args.bulk, args.runs, args.starts, args.reference)
    print(json.dumps(result, indent=2) if args.json else table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
