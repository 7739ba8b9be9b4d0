"""Faults injected at the system-call boundary of one module, for the few that cannot be
made for real in a test (a full disk, an I/O error): the module's ``os`` is swapped for a
stand-in whose named calls fail, while every other call is the real one."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any


class SystemCalls:
    """Stands in for ``os`` inside one module: the named calls are replaced, the rest are
    the real ones."""

    def __init__(self, **faults: Callable[..., Any]) -> None:
        self.faults = faults

    def __getattr__(self, name: str) -> Any:
        return self.faults.get(name) or getattr(os, name)


def failing(code: int) -> Callable[..., Any]:
    """A system call that fails with this errno (ENOSPC, EIO, ...), as the kernel says it."""
    def fail(*args: Any) -> Any:
        raise OSError(code, os.strerror(code))
    return fail
