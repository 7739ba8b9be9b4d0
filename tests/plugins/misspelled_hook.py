"""Misspelled hook: a @hookimpl called ``register_functons``.

Unchecked, pluggy would accept it and it would silently never run; the loader must refuse
it and suggest ``register_functions``.
"""

from __future__ import annotations

from tokenworks import hookimpl


@hookimpl
def register_functons(register):  # sic: the typo is what this plugin tests
    raise AssertionError("a misspelled hook must never be called")
