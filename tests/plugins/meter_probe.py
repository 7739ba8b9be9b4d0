"""Meter probe: a test plugin whose functions drive every path of the metered invocation.

Each function is a controlled way for a call to end: succeed, raise, overrun its timeout,
return a block kind it did not declare, return something that is not a block at all, raise
SystemExit, or cost nothing. ``probe_maybe`` succeeds or fails by its input, so property,
concurrency and crash tests can mix outcomes freely.

Each body appends its function's name to ``meter_probe.runs`` beside this file when it
starts, whichever worker process runs it; tests count the lines (conftest.plugin_runs) to
prove that a refused call never ran and that a replayed call did not run twice.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from pydantic import BaseModel, Field

from tokenworks import blocks, hookimpl

RUN_LOG = Path(__file__).with_suffix(".runs")


def _ran(name: str) -> None:
    # One write of one line in append mode: lines from several workers never interleave.
    descriptor = os.open(RUN_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(descriptor, f"{name}\n".encode())
    finally:
        os.close(descriptor)


class EchoInput(BaseModel):
    text: str = Field(min_length=1, max_length=200, description="Echoed back.")


class SleepInput(BaseModel):
    seconds: float = Field(ge=0, le=5, description="How long to sleep.")


class MaybeInput(BaseModel):
    fail: bool = Field(default=False, description="Raise instead of answering.")
    seconds: float = Field(default=0.0, ge=0, le=2, description="Sleep first (calls in flight).")
    tag: str = Field(default="", max_length=64, description="Free text: makes inputs distinct.")


def probe_ok(request: EchoInput) -> list[blocks.Block]:
    """Echo the input as markdown."""
    _ran("probe_ok")
    return [blocks.Markdown(text=f"echo: {request.text}")]


def probe_fail(request: EchoInput) -> list[blocks.Block]:
    """Always raise."""
    _ran("probe_fail")
    raise RuntimeError(f"probe failure for {request.text!r}")


def probe_slow(request: SleepInput) -> list[blocks.Block]:
    """Sleep, then answer; its timeout is 0.3 s."""
    _ran("probe_slow")
    time.sleep(request.seconds)
    return [blocks.Markdown(text=f"slept {request.seconds:g} s")]


def probe_blink(request: SleepInput) -> list[blocks.Block]:
    """Like probe_slow with a 0.02 s timeout, so tests can time out by the dozen cheaply."""
    _ran("probe_blink")
    time.sleep(request.seconds)
    return [blocks.Markdown(text=f"slept {request.seconds:g} s")]


def probe_bad_result(request: EchoInput) -> list[blocks.Block]:
    """Declares markdown but returns a json block."""
    _ran("probe_bad_result")
    return [blocks.Json(data={"text": request.text})]


def probe_garbage(request: EchoInput) -> object:
    """Returns an object that is not a block."""
    _ran("probe_garbage")
    return object()


def probe_exit(request: EchoInput) -> list[blocks.Block]:
    """Raises SystemExit, which must not stop the host."""
    _ran("probe_exit")
    raise SystemExit(f"probe_exit asked to exit for {request.text!r}")


def probe_free(request: EchoInput) -> list[blocks.Block]:
    """Costs nothing."""
    _ran("probe_free")
    return [blocks.Markdown(text=f"free: {request.text}")]


def probe_maybe(request: MaybeInput) -> list[blocks.Block]:
    """Sleep for the given seconds, then fail or answer as the input says."""
    _ran("probe_maybe")
    if request.seconds:
        time.sleep(request.seconds)
    if request.fail:
        raise ValueError(f"asked to fail ({request.tag})")
    return [blocks.Markdown(text=f"maybe: {request.tag}")]


@hookimpl
def register_functions(register):
    text_example = [{"text": "hello"}]
    markdown = ("markdown",)
    register(probe_ok, title="Probe: succeeds", cost=3, returns=markdown,
             examples=text_example)
    register(probe_fail, title="Probe: raises", cost=3, returns=markdown,
             examples=text_example)
    register(probe_slow, title="Probe: sleeps", cost=3, returns=markdown,
             examples=[{"seconds": 0}], timeout=0.3)
    register(probe_blink, title="Probe: times out fast", cost=1, returns=markdown,
             examples=[{"seconds": 0}], timeout=0.02)
    register(probe_bad_result, title="Probe: undeclared block", cost=3, returns=markdown,
             examples=text_example)
    register(probe_garbage, title="Probe: not a block", cost=3, returns=markdown,
             examples=text_example, input_model=EchoInput)
    register(probe_exit, title="Probe: SystemExit", cost=3, returns=markdown,
             examples=text_example)
    register(probe_free, title="Probe: free", cost=0, returns=markdown,
             examples=text_example)
    register(probe_maybe, title="Probe: fails on request", cost=2, returns=markdown,
             examples=[{"fail": False}], timeout=5)
