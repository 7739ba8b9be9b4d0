"""The worker processes every function call runs in, seen from the host.

The host runs no plugin function code. Each call borrows a worker process (a lease), sends
it the function's name and input over the worker's own pipe and waits at most the
function's timeout for the answer. A worker past the timeout is killed and replaced; one
that dies (os._exit, a segfault, the kernel's OOM killer) fails only the call it was
running. A function may hold at most its concurrency limit of workers, and at most
``queue`` of its calls wait for one, each for at most ``queue_wait`` seconds: beyond that a
call is refused at once as busy, before anything is held or charged.

Workers are forked by the standard library's fork server, started here with the host's
plugins preloaded (preload.py): the fork server is single-threaded when it forks, so forking
is safe however many threads the host runs, and the plugins' data is loaded once and shared
copy-on-write. Why not pebble or loky: both return results by pickle, and a worker runs
untrusted plugin code, which could then send a pickle that runs code in the host; here a
worker's answers are JSON of a bounded size (protocol.py). A dedicated pipe per worker also
makes a timeout exact and leaves no lock shared between workers for a killed one to hold.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import math
import multiprocessing
import os
import signal
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Literal

from ..config import WorkerSettings
from ..errors import BusyError
from . import child, protocol
from .plan import WorkerPlan, remove_plan
from .preload import PLAN_ENV

log = logging.getLogger("tokenworks.workers")
WORKER_NAME = "tokenworks-worker"
PRELOAD_MODULE = "tokenworks.workers.preload"
# One thread per worker process: the workers are the parallelism, not the libraries in them.
THREAD_LIMITS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
SPARE_IDLE = 10.0  # seconds a spare worker may sit idle before it is stopped
REFUSAL_WINDOW = 60.0  # seconds of busy refusals /health reports
RunStatus = Literal["succeeded", "failed", "timeout", "invalid_result"]


@dataclass(frozen=True)
class RunResult:
    status: RunStatus
    result_json: str | None = None
    error: str | None = None  # what went wrong (an exception's text: for admins)
    detail: str | None = None  # a traceback or how the worker ended (for admins)
    worker_died: bool = False
    reusable: bool = True  # False: the worker is dead, overdue or lied; it is stopped


class _Worker:
    def __init__(self, process: Any, connection: Connection, spare: bool) -> None:
        self.process, self.connection, self.spare = process, connection, spare
        self.pid: int = process.pid
        self.last_used = time.monotonic()


@dataclass
class _Load:
    """One function's calls in the pool; its waiters sleep on ``ready`` (sharing the pool's
    lock), so a worker coming free wakes one caller that can use it, not every waiter."""

    ready: threading.Condition
    running: int = 0
    waiting: int = 0
    limit: int = 1  # as the latest lease asked

    def can_run(self) -> bool:
        return self.running < self.limit


class Lease:
    """A worker lent to one call of one function; give it back with ``release``."""

    def __init__(self, pool: WorkerPool, function: str, worker: _Worker) -> None:
        self._pool, self.function, self.worker = pool, function, worker
        self._broken = False
        self._released = False

    def run(self, input_json: str, timeout: float) -> RunResult:
        result = self._pool._run(self.worker, self.function, input_json, timeout)
        self._broken = not result.reusable
        return result

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._pool._give_back(self.function, self.worker, broken=self._broken)


class WorkerPool:
    def __init__(self, plan: Callable[[bool], WorkerPlan], settings: WorkerSettings) -> None:
        self._make_plan = plan
        self.settings = settings
        self._limits = child.Limits(settings.memory_mb,
                                    int(settings.max_result_mb * 2**20))
        self._context = multiprocessing.get_context("forkserver")
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # the pool's state (wait_ready)
        self._workers: list[_Worker] = []
        self._idle: list[_Worker] = []
        self._starting = 0
        self._loads: dict[str, _Load] = {}
        self._plan: WorkerPlan | None = None
        self._plan_file: Path | None = None
        self._state: Literal["new", "starting", "ready", "closed"] = "new"
        self._problem: str | None = None  # why workers cannot start, while they cannot
        self._refusals: deque[float] = deque()
        self.warm_failed: list[str] = []  # plugins whose warm-up failed, as workers report
        atexit.register(_close_at_exit, weakref.ref(self))

    # -- starting -------------------------------------------------------------------------

    def start(self, warm: bool = False) -> None:
        """Start the fork server and the workers in the background (once; later calls and
        the first lease find them starting or running)."""
        with self._changed:
            if self._state != "new":
                return
            self._state = "starting"
            self._plan = self._make_plan(warm)
        threading.Thread(target=self._start_all, name="tokenworks-workers-start",
                         daemon=True).start()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait until the workers have started (or failed to); True if they are running."""
        limit = self.settings.start_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        with self._changed:
            while self._state in ("new", "starting") and self._problem is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
            return self._state == "ready"

    def _start_all(self) -> None:
        assert self._plan is not None
        try:
            self._start_fork_server(self._plan)
        except Exception as error:
            self._failed_to_start(f"the fork server did not start: {error}")
            return
        threads = [threading.Thread(target=self._add_worker, args=(False,), daemon=True)
                   for _ in range(self.settings.count)]
        with self._changed:
            self._starting += len(threads)
        for thread in threads:
            thread.start()

    def _start_fork_server(self, plan: WorkerPlan) -> None:
        """Ask for this plan's preload; a fork server already running keeps its own."""
        from multiprocessing import forkserver

        self._plan_file = plan.write()
        saved = {name: os.environ.get(name) for name in (PLAN_ENV, *THREAD_LIMITS)}
        os.environ.update({PLAN_ENV: str(self._plan_file), **THREAD_LIMITS})
        try:
            self._context.set_forkserver_preload([PRELOAD_MODULE])
            forkserver.ensure_running()
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def _add_worker(self, spare: bool) -> None:
        """Start one worker and put it in the idle list (a thread of its own, or the caller
        that needs a spare)."""
        try:
            worker = self._start_worker(spare)
        except Exception as error:
            with self._changed:
                self._starting -= 1
            self._failed_to_start(f"a worker process did not start: {error}")
            return
        with self._changed:
            self._starting -= 1
            if self._state == "closed":
                _stop_worker(worker)
                return
            self._workers.append(worker)
            self._idle.append(worker)
            self._problem = None
            if self._state == "starting":
                self._state = "ready"
                if self._plan_file is not None:  # the fork server has read it by now
                    remove_plan(self._plan_file)
                    self._plan_file = None
            self._changed.notify_all()  # wait_ready
            self._wake()

    def _start_worker(self, spare: bool) -> _Worker:
        assert self._plan is not None
        ours, theirs = self._context.Pipe(duplex=True)
        process = self._context.Process(target=child.main, args=(theirs, self._plan,
                                                                  self._limits),
                                        name=WORKER_NAME, daemon=False)
        try:
            process.start()
        finally:
            theirs.close()
        try:
            if not ours.poll(self.settings.start_timeout):
                raise TimeoutError(f"no answer in {self.settings.start_timeout:g} s")
            hello = protocol.decode(ours.recv_bytes(protocol.HEADER_LIMIT))
        except BaseException:
            process.kill()
            process.join(1)
            ours.close()
            raise
        failed = hello.get("failed")
        if isinstance(failed, dict) and failed:
            log.warning("worker %s could not load: %s", process.pid,
                        "; ".join(f"{name}: {error}" for name, error in failed.items()))
        warm_failed = hello.get("warm_failed")
        if isinstance(warm_failed, list) and warm_failed and not self.warm_failed:
            self.warm_failed = [str(name) for name in warm_failed]
        if not hello.get("preloaded") and self._plan is not None and self._plan.plugins:
            log.info("worker %s loaded the plugins itself (the fork server preloaded another "
                     "host's)", process.pid)
        return _Worker(process, ours, spare)

    def _failed_to_start(self, problem: str) -> None:
        log.error("%s", problem)
        with self._changed:
            self._problem = problem
            self._changed.notify_all()

    # -- leases ---------------------------------------------------------------------------

    def lease(self, function: str, limit: int) -> Lease:
        """A worker for one call of ``function``, of which at most ``limit`` may run at once;
        raises BusyError when none is free in time, or the function's queue is full."""
        self.start()
        # Calls that arrive while the workers start wait for them (at most start_timeout),
        # outside any function's queue; then they compete like any other call.
        self.wait_ready()
        with self._changed:
            load = self._loads.get(function)
            if load is None:
                load = self._loads[function] = _Load(threading.Condition(self._lock))
            load.limit = limit
            deadline: float | None = None
            try:
                while True:
                    if self._state == "closed":
                        raise BusyError(function, "the host is shutting down", 5)
                    claim = self._claim() if load.can_run() else None
                    if claim is not None:
                        break
                    if deadline is None:
                        if load.waiting >= self.settings.queue:
                            raise self._busy(function, load, limit)
                        load.waiting += 1
                        deadline = time.monotonic() + self.settings.queue_wait
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise self._busy(function, load, limit)
                    load.ready.wait(remaining)
            finally:
                if deadline is not None:
                    load.waiting -= 1
            load.running += 1
        if isinstance(claim, _Worker):
            return Lease(self, function, claim)
        try:
            worker = self._start_worker(spare=True)
        except Exception as error:
            log.error("a spare worker did not start: %s", error)
            with self._changed:
                self._starting -= 1
                load.running -= 1
                self._wake(load)
            raise BusyError(function, "no worker could be started", 5) from None
        with self._changed:
            self._starting -= 1
            self._workers.append(worker)
        return Lease(self, function, worker)

    def _claim(self) -> _Worker | Literal["spare"] | None:
        """An idle worker, or leave to start a spare one, or None (under the lock)."""
        if self._idle:
            return self._idle.pop()  # the most recently used: its pages are warm
        if self._state != "ready":
            return None
        capacity = self.settings.count + self.settings.spare_count()
        if len(self._workers) + self._starting < capacity:
            self._starting += 1
            return "spare"
        return None

    def _busy(self, function: str, load: _Load, limit: int) -> BusyError:
        self._refusals.append(time.monotonic())
        if self._problem is not None:
            why = f"no worker is available ({self._problem})"
        elif load.running >= limit:
            why = (f"{load.running} calls of {function} are running, its limit, and "
                   f"{load.waiting} are waiting")
        else:
            why = "every worker is busy"
        return BusyError(function, why, math.ceil(self.settings.queue_wait))

    def _wake(self, freed: _Load | None = None) -> None:
        """A worker (and maybe ``freed``'s slot) came free: wake one waiter that can use it,
        the freed function's first (under the lock)."""
        if freed is not None and freed.waiting and freed.can_run():
            freed.ready.notify()
            return
        for load in self._loads.values():
            if load.waiting and load.can_run():
                load.ready.notify()
                return

    def _give_back(self, function: str, worker: _Worker, broken: bool) -> None:
        replace = False
        with self._changed:
            load = self._loads[function]
            load.running -= 1
            worker.last_used = time.monotonic()
            if broken or self._state == "closed":
                if worker in self._workers:
                    self._workers.remove(worker)
                replace = not worker.spare and self._state == "ready"
                if replace:
                    self._starting += 1
            else:
                self._idle.append(worker)
            retired = self._retire_idle_spares()
            self._wake(load)
        for idle in retired:
            _stop_worker(idle)
        if broken:
            _stop_worker(worker)
        if replace:
            threading.Thread(target=self._add_worker, args=(False,), daemon=True).start()

    def retire_idle(self) -> int:
        """Stop spare workers idle for SPARE_IDLE seconds (calls do it as they end; the
        host's sweep does it when calls have stopped coming); returns how many."""
        with self._changed:
            retired = self._retire_idle_spares()
        for worker in retired:
            _stop_worker(worker)
        return len(retired)

    def _retire_idle_spares(self) -> list[_Worker]:
        now = time.monotonic()
        retired = [w for w in self._idle if w.spare and now - w.last_used > SPARE_IDLE]
        for worker in retired:
            self._idle.remove(worker)
            self._workers.remove(worker)
        return retired

    # -- one call ---------------------------------------------------------------------------

    def _run(self, worker: _Worker, function: str, input_json: str,
             timeout: float) -> RunResult:
        connection = worker.connection
        deadline = time.monotonic() + timeout
        try:
            connection.send_bytes(protocol.encode({"function": function, "input": input_json}))
            if not connection.poll(timeout):
                return self._overdue(worker, timeout)
            header = protocol.decode(connection.recv_bytes(protocol.HEADER_LIMIT))
            status = header.get("status")
            if status not in protocol.ANSWER_STATUSES:
                raise protocol.ProtocolError(f"unknown status {status!r}")
            if status != "succeeded":
                trace = header.get("traceback")
                return RunResult(status, None,
                                 protocol.text_field(header, "error", protocol.ERROR_LIMIT),
                                 trace if isinstance(trace, str) and trace else None)
            if not connection.poll(max(0.0, deadline - time.monotonic())):
                return self._overdue(worker, timeout)
            try:
                data = connection.recv_bytes(self._limits.max_result_bytes)
            except OSError:  # longer than the limit: the worker skipped its own check
                return RunResult("invalid_result", None,
                                 "the result is over the size limit of "
                                 f"{self.settings.max_result_mb:g} MiB",
                                 f"worker {worker.pid} sent an oversized result",
                                 reusable=False)
            return RunResult("succeeded", data.decode())
        except protocol.ProtocolError as error:
            return RunResult("invalid_result", None, "the worker sent a malformed answer",
                             f"worker {worker.pid}: {error}", reusable=False)
        except UnicodeDecodeError:
            return RunResult("invalid_result", None, "the result is not UTF-8 text",
                             f"worker {worker.pid} sent bytes that are not UTF-8",
                             reusable=False)
        except (EOFError, OSError):
            if self._state == "closed":  # close() stopped it
                return RunResult("failed", None, "the host shut down while it ran",
                                 f"worker {worker.pid} was stopped at shutdown",
                                 worker_died=True, reusable=False)
            return RunResult("failed", None, "its worker process died",
                             f"worker {worker.pid} {_ending(worker)}", worker_died=True,
                             reusable=False)

    def _overdue(self, worker: _Worker, timeout: float) -> RunResult:
        log.warning("worker %s: the call ran past its %g s timeout; killing it", worker.pid,
                    timeout)
        return RunResult("timeout", None, f"timed out after {timeout:g} s",
                         f"worker {worker.pid} was killed at the timeout", reusable=False)

    # -- state ------------------------------------------------------------------------------

    def health(self) -> list[str]:
        """Reasons the pool is degraded (empty: it is fine, or not started)."""
        reasons = []
        with self._changed:
            if self._problem is not None:
                reasons.append(self._problem)
            if self._state == "ready":
                capacity = self.settings.count + self.settings.spare_count()
                if not self._idle and len(self._workers) + self._starting >= capacity:
                    reasons.append(f"all {len(self._workers)} workers are busy")
            cutoff = time.monotonic() - REFUSAL_WINDOW
            while self._refusals and self._refusals[0] < cutoff:
                self._refusals.popleft()
            if self._refusals:
                reasons.append(f"{len(self._refusals)} calls refused as busy in the last "
                               f"{REFUSAL_WINDOW:g} s")
        return reasons

    def stats(self) -> dict[str, int]:
        with self._changed:
            return {"workers": len(self._workers), "idle": len(self._idle),
                    "starting": self._starting,
                    "running": sum(load.running for load in self._loads.values()),
                    "waiting": sum(load.waiting for load in self._loads.values())}

    def close(self) -> None:
        """Stop every worker (the fork server ends with the process)."""
        with self._changed:
            if self._state == "closed":
                return
            self._state = "closed"
            workers, self._workers, self._idle = list(self._workers), [], []
            self._changed.notify_all()
            for load in self._loads.values():
                load.ready.notify_all()
        for worker in workers:
            worker.connection.close()  # an idle worker ends on its own at EOF
        for worker in workers:
            _stop_worker(worker, grace=0.5)
        if self._plan_file is not None:
            remove_plan(self._plan_file)


def _leave_main_alone() -> None:
    """Start workers without re-importing the host's __main__ in them.

    multiprocessing re-runs the parent's main script in each child it starts this way, so
    that pickled objects defined there resolve; a worker needs none (it runs only
    tokenworks and plugin code), and a script without an ``if __name__ == "__main__"``
    guard would start hosts inside its workers. The preparation data of processes named
    WORKER_NAME is stripped of the main module; other processes are left as they were.
    """
    from multiprocessing import spawn

    original = spawn.get_preparation_data
    if getattr(original, "tokenworks", False):
        return

    def preparation_data(name: str) -> dict[str, Any]:
        data = original(name)
        if name == WORKER_NAME:
            data.pop("init_main_from_name", None)
            data.pop("init_main_from_path", None)
        return data

    preparation_data.tokenworks = True  # type: ignore[attr-defined]
    spawn.get_preparation_data = preparation_data


_leave_main_alone()


def _stop_worker(worker: _Worker, grace: float = 0.0) -> None:
    process = worker.process
    if grace:
        process.join(grace)
    if process.exitcode is None:
        process.kill()
        process.join(2)
    with contextlib.suppress(OSError):
        worker.connection.close()


def _ending(worker: _Worker) -> str:
    process = worker.process
    process.join(1)
    code = process.exitcode
    if code is None:
        process.kill()
        process.join(1)
        return "stopped answering"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def _close_at_exit(ref: weakref.ref[WorkerPool]) -> None:
    pool = ref()
    if pool is not None:
        pool.close()
