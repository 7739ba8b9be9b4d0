"""Cache probe: a cacheable test plugin whose function counts how often it really ran.

``cache_count`` is cacheable (60 s) and fails when asked to, so tests can tell a cached
answer (the count does not move) from a run, and check that a failure is never cached.
``cache_other`` is cacheable too, so clearing one function can be seen to spare the other.
Each run appends the function's name to ``cache_probe.runs`` beside this file, whichever
worker process runs it (tests count the lines: conftest.plugin_runs). ``__version__`` is
the plugin version the cache key holds.
"""

from __future__ import annotations

import fcntl
from pathlib import Path

from pydantic import BaseModel, Field

from tokenworks import blocks, hookimpl

__version__ = "1.0"
TTL = 60.0
RUN_LOG = Path(__file__).with_suffix(".runs")


class CountInput(BaseModel):
    text: str = Field(min_length=1, max_length=100, description="Echoed back.")
    fail: bool = Field(default=False, description="Raise instead of answering.")


def _ran(name: str) -> int:
    """Log a run; returns how many runs of ``name`` there have been, this one included."""
    with RUN_LOG.open("a+") as log:
        fcntl.flock(log, fcntl.LOCK_EX)  # workers in other processes count too
        log.write(f"{name}\n")
        log.flush()
        log.seek(0)
        return log.read().split().count(name)


def cache_count(request: CountInput) -> list[blocks.Block]:
    """Echo the text with how many times this function has run."""
    run = _ran("cache_count")
    if request.fail:
        raise RuntimeError(f"asked to fail ({request.text})")
    return [blocks.Markdown(text=f"{request.text}: run {run}")]


def cache_other(request: CountInput) -> list[blocks.Block]:
    """Another cacheable function."""
    run = _ran("cache_other")
    return [blocks.Markdown(text=f"other {request.text}: run {run}")]


@hookimpl
def register_functions(register):
    example = [{"text": "hello"}]
    register(cache_count, title="Cache probe: counts its runs", cost=2, returns=["markdown"],
             examples=example, cache_ttl=TTL)
    register(cache_other, title="Cache probe: another", cost=1, returns=["markdown"],
             examples=example, cache_ttl=TTL)
