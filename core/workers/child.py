"""The worker process: answers one call at a time, for as long as the host keeps it.

It is forked from the fork server (preload.py), so the plugins are usually loaded and
warmed already and their data is shared copy-on-write; otherwise it loads them itself from
the host's plan. Whatever a function does (raise, exit, return garbage or far too much) is
answered as that call's outcome; what the worker cannot answer (a crash, a hang) the host
sees as a dead or overdue worker and deals with from outside.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from ..blocks import blocks_to_json, check_kinds, coerce_blocks
from ..loader import warm
from ..spec import Function
from . import preload, protocol
from .plan import WorkerPlan

PR_SET_PDEATHSIG = 1  # prctl(2): a signal for this process when its parent exits


@dataclass(frozen=True)
class Limits:
    memory_mb: int  # extra address space the worker may take, 0: unlimited
    max_result_bytes: int


def main(connection: Connection, plan: WorkerPlan, limits: Limits) -> None:
    """A worker's whole life; never returns (os._exit skips the exit handlers that plugin
    code or the fork server may have registered)."""
    try:
        _contain()
        functions, preloaded, failed, warm_failed = _functions(plan)
        _limit_memory(limits.memory_mb)
        connection.send_bytes(protocol.encode(
            {"pid": os.getpid(), "preloaded": preloaded, "failed": failed,
             "warm_failed": warm_failed}))
        while True:
            request = protocol.decode(connection.recv_bytes())
            header, result = answer(functions, request, limits)
            connection.send_bytes(protocol.encode(header))
            if result is not None:
                connection.send_bytes(result)
    except (EOFError, OSError):
        os._exit(0)  # the host closed the pipe or went away
    except BaseException:
        traceback.print_exc()
        os._exit(1)


def answer(functions: dict[str, Function], request: dict[str, Any],
           limits: Limits) -> tuple[dict[str, Any], bytes | None]:
    """Run one call; returns the answer's header and, if it succeeded, the result JSON."""
    name = request.get("function")
    function = functions.get(name) if isinstance(name, str) else None
    if function is None:
        return {"status": "failed", "error": f"no function {name!r} in this worker (its plugin "
                                             "did not load here)", "traceback": ""}, None
    try:
        model = function.spec.input_model.model_validate_json(request["input"])
        raw = function.run(model)
    except BaseException as error:  # SystemExit and KeyboardInterrupt are its failures too
        return _failure(error), None
    try:
        blocks = coerce_blocks(raw)
        check_kinds(blocks, function.spec.returns)
        result = blocks_to_json(blocks).encode()
    except (TypeError, ValueError) as error:  # coerce_blocks says what is wrong in a line
        return {"status": "invalid_result",
                "error": protocol.clip(str(error), protocol.ERROR_LIMIT)}, None
    except BaseException as error:  # a block whose serialization raised something odd
        return {"status": "invalid_result",
                "error": protocol.clip(f"{type(error).__name__}: {error}",
                                       protocol.ERROR_LIMIT)}, None
    if len(result) > limits.max_result_bytes:
        return {"status": "invalid_result",
                "error": f"the result is {_mib(len(result))}, over the limit of "
                         f"{_mib(limits.max_result_bytes)}"}, None
    return {"status": "succeeded"}, result


def _failure(error: BaseException) -> dict[str, Any]:
    try:
        text = f"{type(error).__name__}: {error}"
    except BaseException:  # an exception whose __str__ raises
        text = type(error).__name__
    try:
        trace = "".join(traceback.format_exception(error))
    except BaseException:
        trace = ""
    return {"status": "failed", "error": protocol.clip(text, protocol.ERROR_LIMIT),
            "traceback": protocol.clip(trace, protocol.TRACEBACK_LIMIT)}


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def _functions(plan: WorkerPlan) -> tuple[dict[str, Function], bool, dict[str, str], list[str]]:
    """The plan's functions: preloaded by the fork server, or loaded (and warmed) here."""
    discovery = preload.discovery_for(plan)
    if discovery is not None and all(r.status == "loaded" for r in discovery.plugins):
        preloaded, warm_failed = True, list(preload.warm_failed)
    else:  # another host's preload, or one that could not load what the host did
        preloaded = False
        discovery = plan.discover()
        warm_failed = warm(discovery, plan.config.plugins.import_timeout) if plan.warm else []
    failed = {r.name: r.error or "" for r in discovery.plugins if r.status == "failed"}
    return dict(discovery.functions), preloaded, failed, warm_failed


def _contain() -> None:
    # Ctrl+C reaches the whole process group; the host decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # Die with the fork server, which dies with the host: no orphan keeps running. (Not on
    # Linux: the worker still ends when the host closes its pipe.)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _limit_memory(megabytes: int) -> None:
    """Cap the address space at what the worker has now plus ``megabytes``: a function that
    allocates past it gets a MemoryError (its call fails) instead of the machine's memory."""
    if megabytes <= 0:
        return
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[0])
    limit = pages * resource.getpagesize() + megabytes * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
