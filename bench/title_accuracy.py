"""Title-matching accuracy and speed of the job-title resolver, with a TF-IDF reference.

Method (issue 3): the test titles are the O*NET alternate titles whose only sources are
employer job postings (10) or user input (09), i.e. `alt_sources` in {"09", "10", "09,10"},
and whose lower-cased string points to exactly one O*NET occupation in the whole title table.
A seeded random 10% of them are held out; every title row whose lower-cased string is a
held-out string is removed from the index, and the resolver indexes everything else. Reported:
top-1 at the O*NET code, at the 6-digit SOC and at the SOC major group; top-5 at the 6-digit
SOC, counted in the first five candidates and in the first five distinct SOC codes (and at
the code); accuracy (6-digit SOC) above confidence thresholds with the share of
titles above each. The reference, a character n-gram TF-IDF nearest neighbour (char 2-4-grams
within word boundaries, sublinear tf, cosine; top-5 = the occupations of the nearest titles),
runs on the same split. Speed: data load time and RSS (measured first, in this process),
index build, resolve p50/p95 warm, bulk normalization through the CLI's code path.

    .venv/bin/python bench/title_accuracy.py [--seed 3] [--share 0.1] [--limit N] [--json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import math
import os
import platform
import random
import resource
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

LAY_SOURCES = frozenset({"09", "10", "09,10"})
THRESHOLDS = (0.3, 0.5, 0.7, 0.9)


def _rss_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}")


def split(data: Any, seed: int = 3, share: float = 0.1,
          strict: bool = False) -> tuple[list[tuple[str, str]], list]:
    """(held-out (title, code) pairs, index rows) as the method above describes.

    `strict` also leaves out every row with the same match words as a held-out title (its
    words, or those of its parenthesised part, cleaned as the resolver cleans them): O*NET
    lists a lay title such as "Bindery Technician (Bindery Tech)" beside "Bindery
    Technician" from another source, and the default split keeps the latter. The test titles
    are the same; only the index differs."""
    codes_by_string: dict[str, set[str]] = defaultdict(set)
    for t in data.titles:
        codes_by_string[t.title.lower()].add(t.onet_code)
    lay: dict[str, str] = {}
    for t in data.titles:
        if (t.source == "alternate" and t.alt_sources in LAY_SOURCES
                and len(codes_by_string[t.title.lower()]) == 1):
            lay.setdefault(t.title.lower(), t.title)
    eligible = sorted(lay.values())
    rng = random.Random(seed)
    held = sorted(rng.sample(eligible, max(1, round(share * len(eligible)))))
    held_lower = {h.lower() for h in held}
    test = [(h, next(iter(codes_by_string[h.lower()]))) for h in held]
    index_rows = [t for t in data.titles if t.title.lower() not in held_lower]
    if strict:
        from tokenworks.plugins.job_titles.clean import index_keys

        held_keys = {k for h in held for k in index_keys(h)}
        index_rows = [t for t in index_rows if held_keys.isdisjoint(index_keys(t.title))]
    return test, index_rows


# -- the reference: character n-gram TF-IDF nearest neighbour -------------------------------
class CharTfidfNN:
    """char_wb 2-4-grams, sublinear tf, smooth idf, L2 norm; cosine nearest neighbours."""

    def __init__(self, titles: Sequence[str], codes: Sequence[str]):
        self.codes = list(codes)
        fid: dict[str, int] = {}
        rows, cols, tfs = [], [], []
        for i, t in enumerate(titles):
            for g, c in self._grams(t).items():
                j = fid.setdefault(g, len(fid))
                rows.append(i)
                cols.append(j)
                tfs.append(c)
        n = len(titles)
        cols_a = np.asarray(cols)
        rows_a = np.asarray(rows)
        df = np.bincount(cols_a, minlength=len(fid))
        self.idf = np.log((1 + n) / (1 + df)) + 1
        val = (1 + np.log(np.asarray(tfs, dtype=float))) * self.idf[cols_a]
        norm = np.sqrt(np.bincount(rows_a, weights=val * val, minlength=n))
        val /= norm[rows_a]
        order = np.argsort(cols_a, kind="stable")
        self.rows, self.vals = rows_a[order], val[order]
        self.indptr = np.concatenate(([0], np.cumsum(df)))
        self.fid, self.n = fid, n

    @staticmethod
    def _grams(title: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for w in title.lower().split():
            w = f" {w} "
            for k in (2, 3, 4):
                for i in range(len(w) - k + 1):
                    g = w[i:i + k]
                    out[g] = out.get(g, 0) + 1
        return out

    def top(self, title: str, k: int = 5) -> list[str]:
        q = {self.fid[g]: c for g, c in self._grams(title).items() if g in self.fid}
        if not q:
            return []
        w = {j: (1 + math.log(c)) * self.idf[j] for j, c in q.items()}
        norm = math.sqrt(sum(v * v for v in w.values()))
        ip = self.indptr
        idx = np.concatenate([self.rows[ip[j]:ip[j + 1]] for j in w])
        val = np.concatenate([self.vals[ip[j]:ip[j + 1]] * (v / norm) for j, v in w.items()])
        scores = np.bincount(idx, weights=val, minlength=self.n)
        best = np.argsort(-scores)[: k * 20]
        out: list[str] = []
        for i in best.tolist():
            c = self.codes[i]
            if c not in out:
                out.append(c)
            if len(out) == k:
                break
        return out


def _metrics(test: Sequence[tuple[str, str]], predicted: Sequence[list[str]],
             confidences: Sequence[float] | None = None) -> dict[str, Any]:
    n = len(test)
    m = {"n": n, "top1_code": 0, "top1_soc": 0, "top1_major": 0, "top5_soc": 0, "top5_code": 0,
         "top5_soc_distinct": 0}
    correct_soc: list[bool] = []
    for (_, code), pred in zip(test, predicted, strict=True):
        soc, major = code[:7], code[:2]
        ok = bool(pred) and pred[0][:7] == soc
        correct_soc.append(ok)
        m["top1_code"] += bool(pred) and pred[0] == code
        m["top1_soc"] += ok
        m["top1_major"] += bool(pred) and pred[0][:2] == major
        m["top5_soc"] += any(p[:7] == soc for p in pred[:5])
        m["top5_code"] += code in pred[:5]
        m["top5_soc_distinct"] += soc in list(dict.fromkeys(p[:7] for p in pred))[:5]
    out: dict[str, Any] = {"n": n}
    for k in ("top1_code", "top1_soc", "top1_major", "top5_soc", "top5_soc_distinct",
              "top5_code"):
        out[k] = round(100 * m[k] / n, 1) if n else 0.0
    if confidences is not None:
        out["by_confidence"] = []
        for th in THRESHOLDS:
            above = [ok for ok, c in zip(correct_soc, confidences, strict=True) if c >= th]
            out["by_confidence"].append({
                "threshold": th, "share": round(100 * len(above) / n, 1) if n else 0.0,
                "top1_soc": round(100 * sum(above) / len(above), 1) if above else None,
            })
    return out


def run(seed: int = 3, share: float = 0.1, limit: int | None = None,
        reference: bool = True, speed: bool = True, data: Any = None,
        strict: bool = False) -> dict[str, Any]:
    """Measure everything; `limit` caps the number of test titles (for a quick check) and
    `data` reuses a loaded `JobData` (the load is then not timed)."""
    from tokenworks.plugins.job_titles.cli import default_jobs, normalize_lines
    from tokenworks.plugins.job_titles.data import JobData
    from tokenworks.plugins.job_titles.resolver import TitleResolver

    rss0 = _rss_mb()
    t0 = time.perf_counter()
    data = data if data is not None else JobData.load()
    load_s = time.perf_counter() - t0
    rss_data = _rss_mb()
    test, index_rows = split(data, seed=seed, share=share, strict=strict)
    if limit is not None:
        test = test[:limit]
    t0 = time.perf_counter()
    resolver = TitleResolver(data, index_rows)
    build_s = time.perf_counter() - t0
    rss_index = _rss_mb()
    peak_index = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    preds: list[list[str]] = []
    confs: list[float] = []
    lat: list[float] = []
    for title, _ in test:
        t0 = time.perf_counter()
        res = resolver.resolve(title, top_k=15)  # 15: enough for five distinct SOC codes
        lat.append(time.perf_counter() - t0)
        preds.append([c.code for c in res.candidates])
        confs.append(res.best.confidence if res.best else 0.0)
    resolver.clear_cache()
    result: dict[str, Any] = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "seed": seed, "share": share, "strict": strict,
        "index_titles": len(index_rows), "index_aliases": len(resolver.keys),
        "resolver": _metrics(test, preds, confs),
    }
    if speed:
        warm = [title for title, _ in test][:2000]
        for title in warm:  # a first pass warms the code paths, as in a running host
            resolver.resolve(title)
        resolver.clear_cache()
        lat_warm = []
        for title in warm:  # timed: the resolutions themselves, not the cache
            t0 = time.perf_counter()
            resolver.resolve(title)
            lat_warm.append(time.perf_counter() - t0)
        lat_cached = []
        for title in warm:  # the same titles again: answered from the resolver's cache
            t0 = time.perf_counter()
            resolver.resolve(title)
            lat_cached.append(time.perf_counter() - t0)
        bulk = _bulk_titles(data, test)
        bulk_rate = {}
        for jobs in sorted({1, default_jobs()}):
            resolver.clear_cache()  # workers fork from this process: start them empty too
            t0 = time.perf_counter()
            sink = io.StringIO()
            for line in normalize_lines(bulk, top=5, resolver=resolver, jobs=jobs):
                sink.write(line + "\n")
            bulk_rate[jobs] = round(len(bulk) / (time.perf_counter() - t0))
        # a file as job postings give it: 20,000 lines, 2,000 distinct titles, Zipf-like
        rng = random.Random(11)
        repeated = rng.choices(bulk[:2000], weights=[1 / (i + 1) for i in range(2000)],
                               k=20_000)
        resolver.clear_cache()
        t0 = time.perf_counter()
        for _ in normalize_lines(repeated, top=5, resolver=resolver, jobs=1):
            pass
        repeated_rate = round(len(repeated) / (time.perf_counter() - t0))
        result["speed"] = {
            "data_load_s": round(load_s, 3),
            "rss_before_mb": round(rss0, 1), "rss_after_data_mb": round(rss_data, 1),
            "index_build_s": round(build_s, 2), "rss_after_index_mb": round(rss_index, 1),
            "peak_rss_mb": round(peak_index, 1),
            "resolve_p50_ms": round(1000 * statistics.median(lat_warm), 3),
            "resolve_p95_ms": round(1000 * sorted(lat_warm)[int(0.95 * len(lat_warm))], 3),
            "resolve_cached_p50_ms": round(1000 * statistics.median(lat_cached), 3),
            "bulk_titles": len(bulk),
            "bulk_titles_per_s": bulk_rate[1],
            "bulk_jobs": default_jobs(),
            "bulk_titles_per_s_jobs": bulk_rate[default_jobs()],
            "bulk_repeated_lines": len(repeated),
            "bulk_repeated_distinct": len(set(repeated)),
            "bulk_repeated_titles_per_s": repeated_rate,
        }
    if reference:
        t0 = time.perf_counter()
        ref = CharTfidfNN([t.title for t in index_rows], [t.onet_code for t in index_rows])
        ref_build = time.perf_counter() - t0
        t0 = time.perf_counter()
        ref_preds = [ref.top(title, k=15) for title, _ in test]
        ref_s = time.perf_counter() - t0
        result["reference"] = _metrics(test, ref_preds)
        result["reference"]["build_s"] = round(ref_build, 2)
        result["reference"]["titles_per_s"] = round(len(test) / ref_s) if ref_s else None
        if "speed" in result:
            result["speed"]["reference_titles_per_s"] = result["reference"]["titles_per_s"]
    return result


def _bulk_titles(data: Any, test: Sequence[tuple[str, str]], n: int = 10_000) -> list[str]:
    """Distinct messy titles: held-out ones plus indexed ones with typical noise added."""
    rng = random.Random(7)
    noise = ["", "Sr. ", "Senior ", "Jr. ", "Lead ", "", ""]
    tail = ["", " - Remote", " (Night Shift)", ", Austin, TX", " II", " - Req #48213",
            " $25/hr", ""]
    pool = [t.title for t in data.titles]
    out = [t for t, _ in test]
    seen = set(out)
    while len(out) < n:
        t = rng.choice(noise) + rng.choice(pool) + rng.choice(tail)
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out[:n]


def table(result: dict[str, Any]) -> str:
    r, lines = result["resolver"], []
    ref = result.get("reference")
    lines.append(f"date: {result['date']}")
    lines.append(f"machine: {result['machine']}")
    lines.append(f"test titles: {r['n']} (seed {result['seed']}, {100 * result['share']:g}% of "
                 f"eligible); index: {result['index_titles']} title rows, "
                 f"{result['index_aliases']} distinct match keys"
                 + ("; strict split (no row with a test title's match words)"
                    if result.get("strict") else ""))
    lines.append("")
    lines.append("| measure | resolver | char TF-IDF reference | target |")
    lines.append("|---|---|---|---|")
    targets = {"top1_soc": ">= 70", "top1_major": ">= 88", "top5_soc": ">= 90",
               "top5_soc_distinct": ">= 90"}
    names = {"top1_code": "top-1 O*NET code", "top1_soc": "top-1 6-digit SOC",
             "top1_major": "top-1 SOC major group",
             "top5_soc": "top-5 6-digit SOC (in the first 5 candidates)",
             "top5_soc_distinct": "top-5 6-digit SOC (5 distinct SOC codes)",
             "top5_code": "top-5 O*NET code"}
    for k, name in names.items():
        refv = f"{ref[k]}%" if ref else "-"
        lines.append(f"| {name} | {r[k]}% | {refv} | {targets.get(k, '')} |")
    lines.append("")
    lines.append("| confidence >= | share of titles | top-1 6-digit SOC among them |")
    lines.append("|---|---|---|")
    for b in r.get("by_confidence", []):
        acc = f"{b['top1_soc']}%" if b["top1_soc"] is not None else "-"
        lines.append(f"| {b['threshold']} | {b['share']}% | {acc} |")
    s = result.get("speed")
    if s:
        lines.append("")
        lines.append("| speed | value | target |")
        lines.append("|---|---|---|")
        lines.append(f"| data load (JobData.load) | {s['data_load_s']} s | <= 2 s |")
        lines.append(f"| RSS after data load | {s['rss_after_data_mb']} MB | <= 300 MB |")
        lines.append(f"| resolver index build | {s['index_build_s']} s | |")
        lines.append(f"| RSS after index build (peak so far {s['peak_rss_mb']} MB) | "
                     f"{s['rss_after_index_mb']} MB | <= 300 MB |")
        lines.append(f"| resolve p50 / p95 warm (not cached) | {s['resolve_p50_ms']} / "
                     f"{s['resolve_p95_ms']} ms | |")
        lines.append(f"| resolve p50, same cleaned title again (cached) | "
                     f"{s['resolve_cached_p50_ms']} ms | |")
        lines.append(f"| bulk normalize ({s['bulk_titles']} distinct titles), 1 process | "
                     f"{s['bulk_titles_per_s']} titles/s | >= 2,000 titles/s |")
        lines.append(f"| bulk normalize, {s['bulk_jobs']} worker processes (`--jobs`) | "
                     f"{s['bulk_titles_per_s_jobs']} titles/s | >= 2,000 titles/s |")
        lines.append(f"| bulk normalize, {s['bulk_repeated_lines']} lines with "
                     f"{s['bulk_repeated_distinct']} distinct titles, 1 process | "
                     f"{s['bulk_repeated_titles_per_s']} titles/s | >= 2,000 titles/s |")
        if ref:
            lines.append(f"| reference: index build / query | {ref['build_s']} s / "
                         f"{ref['titles_per_s']} titles/s | |")
    return "\n".join(lines)


# -- fitting the ranker (--fit) --------------------------------------------------------------
def collect(data: Any, report_seed: int = 3, share: float = 0.1, folds: int = 10,
            seed: int = 0, nonsense: int = 200, extra: int = 3000,
            known: int = 1500) -> list[tuple[int, Any, int, Any, Any]]:
    """Training samples for the ranker, never using the report split's test titles: the other
    eligible lay titles, in `folds` folds, each resolved against an index without its fold
    (and without the report split's test titles). Plus `nonsense` random strings (fold -1),
    whose answer is "none of these", and `extra` other alternate titles (fold -2), held out
    the same way, as more (if less typical) examples, and `known` indexed titles of one
    occupation resolved against an index that holds them (fold -3): in use, most titles are
    found as typed. Each sample: (fold, features, label or -1, SOC-match and major-group-match
    masks over the candidates)."""
    from tokenworks.plugins.job_titles.clean import clean_title
    from tokenworks.plugins.job_titles.resolver import TitleResolver

    report_test, _ = split(data, seed=report_seed, share=share)
    report = {t.lower() for t, _ in report_test}
    codes_by_string: dict[str, set[str]] = defaultdict(set)
    for t in data.titles:
        codes_by_string[t.title.lower()].add(t.onet_code)
    pool = sorted({t.title for t in data.titles if t.source == "alternate"
                   and t.alt_sources in LAY_SOURCES and t.title.lower() not in report
                   and len(codes_by_string[t.title.lower()]) == 1})
    rng = random.Random(seed)
    rng.shuffle(pool)
    others = sorted({t.title for t in data.titles if t.source == "alternate"
                     and t.alt_sources not in LAY_SOURCES
                     and len(codes_by_string[t.title.lower()]) == 1})
    others = rng.sample(others, min(extra, len(others)))
    lay_count = len(pool)
    samples: list[tuple[int, Any, int, Any, Any]] = []
    for f in range(folds):
        fold = pool[f::folds] + others[f::folds]
        out = report | {t.lower() for t in fold}
        resolver = TitleResolver(data, [t for t in data.titles if t.title.lower() not in out])
        for n, title in enumerate(fold):
            code = next(iter(codes_by_string[title.lower()]))
            tag = f if n < len(pool[f::folds]) else -2
            sample = _sample(resolver, tag, title, code)
            if sample is not None:
                samples.append(sample)
        if f == 0:
            indexed = sorted({t.title for t in data.titles if t.title.lower() not in out
                              and len(codes_by_string[t.title.lower()]) == 1})
            for title in rng.sample(indexed, min(known, len(indexed))):
                code = next(iter(codes_by_string[title.lower()]))
                sample = _sample(resolver, -3, title, code)
                if sample is not None:
                    samples.append(sample)
            letters = "bcdfghjklmnpqrstvwxzaeiou"
            for _ in range(nonsense):
                junk = "".join(rng.choice(letters) for _ in range(rng.randint(3, 12)))
                ev = resolver.evidence(clean_title(junk).tokens)
                if ev is not None and len(ev.cand):
                    none = np.zeros(len(ev.cand), dtype=bool)
                    samples.append((-1, ev.X, -1, none, none))
        print(f"fold {f}: {len(samples)} samples ({lay_count} lay titles in all)",
              file=sys.stderr)
    return samples


def _sample(resolver: Any, tag: int, title: str,
            code: str) -> tuple[int, Any, int, Any, Any] | None:
    """One training sample: the title's candidates' features, the right code's place among
    them (-1: absent), and which candidates have the right SOC code and major group."""
    from tokenworks.plugins.job_titles.clean import clean_title

    ev = resolver.evidence(clean_title(title).tokens)
    if ev is None or not len(ev.cand):
        return None
    codes = [resolver.codes[i] for i in ev.cand.tolist()]
    label = codes.index(code) if code in codes else -1
    return (tag, ev.X, label, np.array([c[:7] == code[:7] for c in codes]),
            np.array([c[:2] == code[:2] for c in codes]))


def fit_ranker(samples: Sequence[tuple[int, Any, int, Any, Any]], hidden: int = 16,
               lam: float = 1e-2, iters: int = 400, lr: float = 0.01,
               seed: int = 0) -> dict[str, Any]:
    """A one-hidden-layer ranker with a "none of these" logit, fitted by full-batch Adam on
    the softmax cross-entropy over each sample's candidates."""
    allX = np.vstack([s[1] for s in samples])
    mean, scale = allX.mean(0), allX.std(0) + 1e-9
    Z = (allX - mean) / scale
    sizes = np.array([len(s[1]) for s in samples])
    offs = np.concatenate(([0], np.cumsum(sizes)))
    grp = np.repeat(np.arange(len(samples)), sizes)
    labels = np.array([s[2] for s in samples])
    has = labels >= 0
    lab_pos = offs[:-1][has] + labels[has]
    rng = np.random.default_rng(seed)
    d = Z.shape[1]
    P = {"W1": rng.normal(0, 1 / np.sqrt(d), (d, hidden)), "b1": np.zeros(hidden),
         "w2": rng.normal(0, 1 / np.sqrt(hidden), hidden), "v": np.zeros(d),
         "null": np.zeros(1)}
    M = {k: np.zeros_like(v) for k, v in P.items()}
    V = {k: np.zeros_like(v) for k, v in P.items()}
    for it in range(iters):
        H = np.tanh(Z @ P["W1"] + P["b1"])
        s = H @ P["w2"] + Z @ P["v"]
        mx = np.maximum(np.maximum.reduceat(s, offs[:-1]), P["null"][0])
        e = np.exp(s - mx[grp])
        en = np.exp(P["null"][0] - mx)
        den = np.add.reduceat(e, offs[:-1]) + en
        p = e / den[grp]
        pn = en / den
        ds = p.copy()
        ds[lab_pos] -= 1.0
        ds /= len(samples)
        g_null = (pn - (~has)).sum() / len(samples)
        dH = np.outer(ds, P["w2"]) * (1 - H ** 2)
        G = {"W1": Z.T @ dH, "b1": dH.sum(0), "w2": H.T @ ds, "v": Z.T @ ds,
             "null": np.array([g_null])}
        for k in P:
            g = G[k] + (lam * P[k] if k != "null" else 0.0)
            M[k] = 0.9 * M[k] + 0.1 * g
            V[k] = 0.999 * V[k] + 0.001 * g * g
            P[k] = P[k] - lr * (M[k] / (1 - 0.9 ** (it + 1))) / (
                np.sqrt(V[k] / (1 - 0.999 ** (it + 1))) + 1e-8)
    from tokenworks.plugins.job_titles.resolver import FEATURES

    return {"features": FEATURES, "mean": mean.tolist(), "scale": scale.tolist(),
            "W1": P["W1"].tolist(), "b1": P["b1"].tolist(), "w2": P["w2"].tolist(),
            "v": P["v"].tolist(), "null": float(P["null"][0])}


def score_samples(weights: dict[str, Any],
                  samples: Sequence[tuple[int, Any, int, Any, Any]]) -> dict[str, float]:
    from tokenworks.plugins.job_titles.resolver import _Ranker

    ranker = _Ranker(weights)
    n = ok = ok5 = code = major = 0
    for fold, x, label, socm, majm in samples:
        if fold < 0:  # nonsense
            continue
        n += 1
        order = np.argsort(-ranker.logits(x), kind="stable")
        code += label >= 0 and int(order[0]) == label
        ok += bool(socm[order[0]])
        major += bool(majm[order[0]])
        ok5 += bool(socm[order[:5]].any())
    return {"top1_code": round(100 * code / n, 1), "top1_soc": round(100 * ok / n, 1),
            "top1_major": round(100 * major / n, 1), "top5_soc": round(100 * ok5 / n, 1),
            "n": n}


def write_weights(weights: dict[str, Any], path: str) -> None:
    def r(x: Any) -> Any:
        if isinstance(x, list):
            return [r(v) for v in x]
        return float(f"{x:.6g}") if isinstance(x, float) else x

    body = {k: (r(v) if k != "features" else list(v)) for k, v in weights.items()}
    with open(path, "w") as f:
        f.write('"""Fitted ranker weights for resolver.py. Generated by '
                '`bench/title_accuracy.py --fit`: do not edit."""\n\n')
        f.write("# ruff: noqa: E501\n")
        f.write(f"WEIGHTS = {json.dumps(body)}\n")


def fit_main(out: str, report_seed: int, folds: int, hidden: int, lam: float,
             iters: int) -> None:
    from tokenworks.plugins.job_titles.data import JobData

    data = JobData.load()
    samples = collect(data, report_seed=report_seed, folds=folds)
    cut = max(1, folds // 5)
    train = [x for x in samples if x[0] >= cut or x[0] < 0]  # nonsense and extra too
    valid = [x for x in samples if 0 <= x[0] < cut]
    w = fit_ranker(train, hidden=hidden, lam=lam, iters=iters)
    print(f"cross-check (fit on folds >= {cut}, scored on the rest): "
          f"{score_samples(w, valid)}", file=sys.stderr)
    w = fit_ranker(samples, hidden=hidden, lam=lam, iters=iters)
    write_weights(w, out)
    print(f"wrote {out}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--share", type=float, default=0.1)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--strict", action="store_true", help="also leave out of the index every "
                    "row with the same match words as a test title (see split())")
    ap.add_argument("--no-reference", action="store_true")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--json", action="store_true", help="print JSON instead of tables")
    ap.add_argument("--fit", metavar="OUT", help="fit the ranker (never on the --seed "
                    "split's test titles) and write its weights module, e.g. "
                    "plugins/job_titles/ranker_weights.py")
    ap.add_argument("--folds", type=int, default=10)
    ap.add_argument("--hidden", type=int, default=16)
    ap.add_argument("--lam", type=float, default=1e-2)
    ap.add_argument("--iters", type=int, default=400)
    args = ap.parse_args(argv)
    if args.fit:
        fit_main(args.fit, args.seed, args.folds, args.hidden, args.lam, args.iters)
        return 0
    result = run(seed=args.seed, share=args.share, limit=args.limit,
                 reference=not args.no_reference, speed=not args.no_speed,
                 strict=args.strict)
    print(json.dumps(result, indent=2) if args.json else table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
