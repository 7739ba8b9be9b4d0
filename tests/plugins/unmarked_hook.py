"""Unmarked hook: ``register_functions`` defined without @hookimpl, so pluggy ignores it."""

from __future__ import annotations


def register_functions(register):
    raise AssertionError("an unmarked hook must never be called")
