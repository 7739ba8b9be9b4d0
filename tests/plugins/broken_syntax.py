"""Broken syntax: the file is not valid Python (ruff excludes it in pyproject.toml)."""

from tokenworks import hookimpl


@hookimpl
def register_functions(register)
    pass
