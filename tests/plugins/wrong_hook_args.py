"""Wrong hook arguments: ``register_functions(registrar)`` asks for an argument the hook lacks.

pluggy refuses to register such an implementation; the loader must record that as a failure.
"""

from __future__ import annotations

from tokenworks import hookimpl


@hookimpl
def register_functions(registrar):
    raise AssertionError("never called: pluggy rejects the signature")
