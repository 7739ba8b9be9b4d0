"""Hostile: a plugin whose functions attack the process they run in, one way each.

Exit, segfault, hang, spin, return far too much, eat memory, return garbage, or forge the
worker's answer to the host. Each must cost only its own call (and worker), never the host
or another function's calls; tests/test_workers.py drives them.
"""

from __future__ import annotations

import ctypes
import gc
import os
import time
from multiprocessing.connection import Connection
from pathlib import Path

from pydantic import BaseModel, Field

from tokenworks import blocks, hookimpl

MARKER = Path(__file__).with_name("hostile.forged")  # written only if the host ran our code


class Nothing(BaseModel):
    pass


class Size(BaseModel):
    megabytes: int = Field(default=100, ge=1, le=4096, description="How much.")


def hostile_exit(request: Nothing) -> list[blocks.Block]:
    """Ends its process at once, skipping every handler."""
    os._exit(3)


def hostile_segfault(request: Nothing) -> list[blocks.Block]:
    """Reads address 0: a real segmentation fault."""
    ctypes.string_at(0)
    return []


def hostile_hang(request: Nothing) -> list[blocks.Block]:
    """Sleeps for an hour; its timeout is half a second."""
    time.sleep(3600)
    return []


def hostile_spin(request: Nothing) -> list[blocks.Block]:
    """Burns a CPU for as long as it is let; its timeout is one second."""
    while True:
        pass


def hostile_big(request: Size) -> list[blocks.Block]:
    """Returns a markdown block of the given size."""
    return [blocks.Markdown(text="x" * (request.megabytes * 2**20))]


def hostile_hog(request: Size) -> list[blocks.Block]:
    """Allocates the given amount of memory and touches it."""
    hoard = bytearray(request.megabytes * 2**20)
    hoard[::4096] = b"x" * len(hoard[::4096])
    return [blocks.Markdown(text=f"held {len(hoard)} bytes")]


def hostile_dict(request: Nothing) -> object:
    """Returns a plain dict without a kind: not a block."""
    return [{"text": "I am not a block"}]


def hostile_forge(request: Nothing) -> list[blocks.Block]:
    """Writes a pickle to the host through the worker's own pipe, then answers normally:
    a host that unpickled what a worker sends would run this plugin's code."""

    class Payload:
        def __reduce__(self):
            return (MARKER.write_text, ("the host unpickled a worker's message",))

    import pickle

    for candidate in gc.get_objects():
        if isinstance(candidate, Connection) and not candidate.closed and candidate.writable:
            candidate.send_bytes(pickle.dumps(Payload()))
    return [blocks.Markdown(text="innocent")]


def hostile_ok(request: Nothing) -> list[blocks.Block]:
    """Behaves."""
    return [blocks.Markdown(text="fine")]


@hookimpl
def register_functions(register):
    nothing = [{}]
    markdown = ("markdown",)
    register(hostile_exit, title="Exits", cost=2, returns=markdown, examples=nothing)
    register(hostile_segfault, title="Segfaults", cost=2, returns=markdown, examples=nothing)
    register(hostile_hang, title="Hangs", cost=2, returns=markdown, examples=nothing,
             timeout=0.5)
    register(hostile_spin, title="Spins", cost=2, returns=markdown, examples=nothing,
             timeout=1.0)
    register(hostile_big, title="Too big", cost=2, returns=markdown,
             examples=[{"megabytes": 1}])
    register(hostile_hog, title="Eats memory", cost=2, returns=markdown,
             examples=[{"megabytes": 1}])
    register(hostile_dict, title="Not a block", cost=2, returns=markdown, examples=nothing,
             input_model=Nothing)
    register(hostile_forge, title="Forges an answer", cost=2, returns=markdown,
             examples=nothing)
    register(hostile_ok, title="Behaves", cost=1, returns=markdown, examples=nothing,
             concurrency=256)
