"""Register raises: imports fine, but its register_functions hook raises.

pluggy would abort the whole hook call for every plugin; the loader must contain it.
"""

from __future__ import annotations

from tokenworks import hookimpl


@hookimpl
def register_functions(register):
    raise RuntimeError("register_raises cannot reach its database")
