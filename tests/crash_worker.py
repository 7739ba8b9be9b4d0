"""Crash worker: a burst of metered calls for tests/test_crash.py to SIGKILL mid-flight.

Usage: python crash_worker.py REGISTRY USER THREADS

Opens a real Host on the registry (with the meter_probe plugin), prints ``ready``, then
runs THREADS threads that call ``probe_maybe`` without end: short sleeps so many calls are
in flight at any moment, every fourth call failing by input, and one extra thread making
long calls so that at least one hold is almost surely open when the kill lands. Prints
``start CALL_ID`` before each call and ``done CALL_ID STATUS`` after it. It never exits
on its own.
"""

from __future__ import annotations

import itertools
import sys
import threading

from tokenworks.host import Host

_print_lock = threading.Lock()  # one line per print, even with threads


def say(line: str) -> None:
    with _print_lock:
        print(line, flush=True)


def burst(host: Host, user: str, thread: int, seconds: float) -> None:
    for n in itertools.count():
        call_id = f"w{thread}-{n}"
        say(f"start {call_id}")
        outcome = host.call("probe_maybe", user,
                            {"fail": n % 4 == 3, "seconds": seconds, "tag": call_id},
                            call_id=call_id)
        say(f"done {call_id} {outcome.status}")


def main() -> None:
    registry, user, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    host = Host.from_registry(registry, sweep=False)
    workers = [threading.Thread(target=burst, args=(host, user, t, 0.05), daemon=True)
               for t in range(threads)]
    workers.append(threading.Thread(target=burst, args=(host, user, threads, 1.0), daemon=True))
    say("ready")
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


if __name__ == "__main__":
    main()
