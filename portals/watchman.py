"""Run the portal server and make sure it stops within 5 s of SIGTERM or SIGINT.

`tokenworks serve` replaces itself with this script, run by its path so that it imports
nothing but the standard library and stays small beside the server it watches. It starts
the server in a process group of its own, passes SIGTERM, SIGINT and SIGHUP on, and if the
server has not exited STOP_GRACE seconds later (a plugin can hold it up in any way: a hung
import, a thread that never ends) it kills the whole group, worker processes included. A
call cut short that way is recovered at the next start like any crash.

Usage: python watchman.py SERVER_COMMAND...   (exits with the server's exit code)
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from types import FrameType

STOP_GRACE = 4.5  # seconds between passing a stop signal on and killing the server
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def watch(command: list[str]) -> int:
    """Run ``command`` until it exits; returns its exit code as a shell reports one (128 +
    the signal for a killed server)."""
    server = subprocess.Popen(command, start_new_session=True)
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        if stopping.is_set():
            return
        stopping.set()
        _signal_group(server, signum)
        threading.Thread(target=_kill_after_grace, args=(server,), daemon=True).start()

    for signum in STOP_SIGNALS:
        signal.signal(signum, stop)
    code = server.wait()
    return 128 - code if code < 0 else code


def _kill_after_grace(server: subprocess.Popen) -> None:
    try:
        server.wait(STOP_GRACE)
    except subprocess.TimeoutExpired:
        print(f"tokenworks: the server did not stop within {STOP_GRACE:g} s; killing it",
              file=sys.stderr, flush=True)
        _signal_group(server, signal.SIGKILL)


def _signal_group(server: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(server.pid, signum)


if __name__ == "__main__":
    sys.exit(watch(sys.argv[1:]))
