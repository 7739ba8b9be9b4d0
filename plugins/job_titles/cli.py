"""`tokenworks titles normalize FILE|-`: bulk title normalization as JSON lines.

`register_commands(cli)` is called by the plugin's `register_commands` hook implementation.
Output is streamed: titles are resolved in chunks (in worker processes when `--jobs` > 1,
forked from the process that built the resolver) and written in input order; a title seen
before is answered from a cache.
"""

from __future__ import annotations

import contextlib
import functools
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import IO, Any

import click

from .resolver import Resolution, TitleResolver, get_resolver

CHUNK = 256  # titles per unit of work
CACHE_MAX = 100_000  # distinct titles remembered

_worker_resolver: TitleResolver | None = None  # set before forking workers


def resolution_record(title: str, res: Resolution) -> dict[str, Any]:
    """The JSON-lines record of one title."""
    return {
        "title": title,
        "cleaned": res.cleaned,
        "seniority": res.seniority,
        "confident": res.confident,
        "ambiguous": res.ambiguous,
        "candidates": [
            {"code": c.code, "occupation": c.occupation, "soc": c.soc,
             "confidence": c.confidence, "matched": c.matched}
            for c in res.candidates
        ],
    }


_string = json.encoder.py_encode_basestring  # replaced by the C one below when present
_string = getattr(json.encoder, "c_encode_basestring", None) or _string
_BOOL = {True: "true", False: "false"}


@functools.lru_cache(maxsize=4096)
def _occupation_json(code: str, occupation: str, soc: str) -> str:
    return f'{{"code": {_string(code)}, "occupation": {_string(occupation)}, "soc": {_string(soc)}'


def record_json(title: str, res: Resolution) -> str:
    """`json.dumps(resolution_record(title, res), ensure_ascii=False)`, the same text, built
    directly: a record's candidates repeat their occupation's fields, and the generic encoder
    cost a tenth of a bulk run."""
    cands = ", ".join(
        f'{_occupation_json(c.code, c.occupation, c.soc)}, "confidence": '
        f'{float(c.confidence)!r}, "matched": {_string(c.matched)}}}'
        for c in res.candidates)
    seniority = "null" if res.seniority is None else _string(res.seniority)
    return (f'{{"title": {_string(title)}, "cleaned": {_string(res.cleaned)}, '
            f'"seniority": {seniority}, "confident": {_BOOL[bool(res.confident)]}, '
            f'"ambiguous": {_BOOL[bool(res.ambiguous)]}, "candidates": [{cands}]}}')


def _resolve_chunk(args: tuple[list[str], int]) -> list[str]:
    titles, top = args
    resolver = _worker_resolver or get_resolver()
    return [record_json(t, res)
            for t, res in zip(titles, resolver.resolve_many(titles, top_k=top), strict=True)]


def _chunks(lines: Iterable[str]) -> Iterator[list[str]]:
    it = (line.rstrip("\r\n") for line in lines)
    it = (t for t in it if t.strip())
    while True:
        chunk = list(islice(it, CHUNK))
        if not chunk:
            return
        yield chunk


def default_jobs() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def normalize_lines(lines: Iterable[str], top: int = 5, resolver: TitleResolver | None = None,
                    jobs: int = 1) -> Iterator[str]:
    """One JSON line per non-blank input line, in input order, streamed."""
    global _worker_resolver
    resolver = resolver or get_resolver()
    cache: dict[str, str] = {}

    def todo(chunk: list[str]) -> tuple[list[str], int]:
        return [t for t in dict.fromkeys(chunk) if t not in cache], top

    def emit(chunk: list[str], done: list[str], records: list[str]) -> Iterator[str]:
        fresh = dict(zip(done, records, strict=True))
        for t in chunk:
            rec = cache.get(t) or fresh[t]
            if len(cache) < CACHE_MAX:
                cache[t] = rec
            yield rec

    if jobs > 1 and "fork" in multiprocessing.get_all_start_methods():
        _worker_resolver = resolver
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(jobs) as pool:
            pending: list[tuple[list[str], list[str], Any]] = []
            for chunk in _chunks(lines):
                work = todo(chunk)
                pending.append((chunk, work[0], pool.apply_async(_resolve_chunk, (work,))))
                if len(pending) >= 2 * jobs:
                    chunk0, done0, res0 = pending.pop(0)
                    yield from emit(chunk0, done0, res0.get())
            for chunk0, done0, res0 in pending:
                yield from emit(chunk0, done0, res0.get())
        _worker_resolver = None
        return
    for chunk in _chunks(lines):
        work = todo(chunk)
        _worker_resolver = resolver
        try:
            records = _resolve_chunk(work)
        finally:
            _worker_resolver = None
        yield from emit(chunk, work[0], records)


def register_commands(cli: click.Group) -> None:
    """Add the `titles` group (`titles normalize`) to the command line."""

    @cli.group("titles")
    def titles() -> None:
        """Job-title tools: normalize titles to O*NET occupations."""

    @titles.command("normalize")
    @click.argument("file", type=click.File("r", encoding="utf-8", errors="replace"))
    @click.option("--top", "top", type=click.IntRange(1, 50), default=5, show_default=True,
                  help="Candidates per title.")
    @click.option("--jobs", type=click.IntRange(1, 64), default=None,
                  help="Worker processes (default: the CPU count, at most 4).")
    def normalize(file: IO[str], top: int, jobs: int | None) -> None:
        """Read one title per line from FILE (or - for standard input) and write one JSON
        line per title: {"title", "cleaned", "seniority", "confident", "ambiguous",
        "candidates": [{"code", "occupation", "soc", "confidence", "matched"}]}."""
        buf: list[str] = []
        records = normalize_lines(file, top=top, jobs=jobs or default_jobs())
        with _progress(records, _lines_in(file)) as shown:
            for rec in shown:
                buf.append(rec)
                if len(buf) >= CHUNK:
                    click.echo("\n".join(buf))
                    buf.clear()
        if buf:
            click.echo("\n".join(buf))


def _lines_in(file: IO[str]) -> int | None:
    """How many titles a seekable file holds (for the time left), read ahead and rewound;
    None for a stream, which can be read once only. Only counted when a bar is drawn."""
    if not sys.stderr.isatty() or not file.seekable():
        return None
    start = file.tell()
    count = sum(1 for line in file if line.strip())
    file.seek(start)
    return count


def _progress(records: Iterator[str], total: int | None) -> Any:
    """A progress bar on stderr (titles done, titles/s, time left when the total is known),
    drawn only when stderr is a terminal, so a pipe or a log file gets nothing."""
    if not sys.stderr.isatty():
        return contextlib.nullcontext(records)
    started = time.monotonic()
    done = 0

    def counted() -> Iterator[str]:
        nonlocal done
        for record in records:
            done += 1
            yield record

    def rate(_: object) -> str:  # called when the bar is drawn, not for every title
        elapsed = time.monotonic() - started
        return f"{done / elapsed:,.0f} titles/s" if elapsed > 0 else ""

    return click.progressbar(counted(), length=total, label="Titles", file=sys.stderr,
                             show_pos=True, show_eta=total is not None,
                             item_show_func=rate, update_min_steps=CHUNK)
