"""Slow import: sleeps 0.2 s at import time, so the recorded load_ms must be at least 200."""

from __future__ import annotations

import time

from tokenworks import hookimpl

time.sleep(0.2)


@hookimpl
def attribution():
    return None
