"""Interrupt in register: raises KeyboardInterrupt from its register_functions hook. The
host must record it as a failed plugin, not stop."""

from __future__ import annotations

from tokenworks import hookimpl


@hookimpl
def register_functions(register):
    raise KeyboardInterrupt("interrupt_in_register pressed Ctrl+C")
