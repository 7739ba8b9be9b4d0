"""Import error: the module cannot even be imported (a missing dependency).

Discovery must record it as failed with the ModuleNotFoundError and keep going.
"""

from __future__ import annotations

import tokenworks_missing_dependency  # noqa: F401  (the point: this module does not exist)

from tokenworks import hookimpl


@hookimpl
def register_functions(register):  # never reached
    raise AssertionError("an unimportable plugin must not be asked for its functions")
