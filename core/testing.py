"""Helpers for testing plugins: what a plugin author's test file imports.

    from tokenworks.testing import call, check_plugin, registered

    import my_plugin

    def test_my_function():
        with registered(my_plugin) as host:
            result = call(host, "my_function", {"text": "hello"})
        assert result.charged == 1
        assert result.blocks[0].kind == "markdown"

    def test_contract():
        report = check_plugin(my_plugin)
        assert report.ok, report.format()

    def test_a_refused_call_charges_nothing():
        with registered(my_plugin) as host:
            result = call(host, "my_function", {"text": ""}, check=False)
            before = host.balance("tester")  # call() funds "tester" first: read it after
            assert result.outcome.status != "ok" and result.charged == 0
            assert host.balance("tester") == before

Everything runs as in production (the real loader, meter and a DuckDB store in a
temporary folder); nothing outlives the ``with``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from .blocks import Block
from .checker import CheckReport, check_plugin
from .host import Host
from .meter import CallOutcome
from .throwaway_host import CALLER, PluginLike, candidate_for, fund_caller, throwaway_host

__all__ = [
    "CallFailed",
    "CallResult",
    "CheckReport",
    "call",
    "check_plugin",
    "registered",
    "temporary_host",
]


class CallFailed(AssertionError):
    """A call that a test expected to succeed did not; the message says why."""

    def __init__(self, outcome: CallOutcome) -> None:
        # The author's test is where the traceback helps: the caller's message has none.
        detail = f"\n{outcome.detail}" if outcome.detail else ""
        super().__init__(f"{outcome.function} {outcome.status}: {outcome.error}{detail}")
        self.outcome = outcome


@dataclass
class CallResult:
    blocks: list[Block]
    charged: int
    outcome: CallOutcome  # status, error, latency, call id: for the tests that need them

    def kinds(self) -> list[str]:
        return [block.kind for block in self.blocks]


@contextmanager
def temporary_host(
    *plugins: PluginLike, builtin: Iterable[str] = (),
    settings: Mapping[str, Mapping[str, Any]] | None = None, registry: str = "",
    strict: bool = True,
) -> Iterator[Host]:
    """A Host over the given plugins and a fresh store in a temporary folder.

    A plugin is a module, an importable module name, or the path of a plugin file or
    package folder. `builtin` names built-in plugins to load too; `settings` maps plugin
    names to their settings sections; `registry` is extra TOML (e.g. [functions.X]).
    Strict by default, so a plugin that fails to load raises with the loader's message
    instead of silently registering nothing.
    """
    candidates = [candidate_for(plugin) for plugin in plugins]
    with throwaway_host(candidates, builtin=builtin, settings=settings, registry=registry,
                      strict=strict) as host:
        yield host


@contextmanager
def registered(
    plugin: PluginLike, *, name: str | None = None, settings: Mapping[str, Any] | None = None,
    strict: bool = True,
) -> Iterator[Host]:
    """Register one plugin for the duration of a ``with`` block; yields its host.

    `name` overrides the plugin's name (by default its entry-point name when installed,
    else its module or file name); `settings` is its [plugin_settings.NAME] section.
    """
    candidate = candidate_for(plugin, name)
    section = {candidate.name: settings} if settings is not None else None
    with throwaway_host([candidate], settings=section, strict=strict) as host:
        yield host


def call(
    host: Host, function: str, payload: Mapping[str, Any] | BaseModel | None = None, *,
    user: str = CALLER, call_id: str | None = None, check: bool = True,
) -> CallResult:
    """Call a function through the meter and return its blocks and what it charged.

    `payload` defaults to the function's first example. The caller (created if needed)
    is given just enough tokens first. With `check` (the default) a call that does not
    succeed raises CallFailed naming its status and error; pass check=False to test
    failures, and read result.outcome.
    """
    view = host.function(function)
    if payload is None:
        payload = view.spec.examples[0]
    fund_caller(host, user, view.cost)
    outcome = host.call(function, user, payload if isinstance(payload, BaseModel)
                        else dict(payload), call_id)
    if check and not outcome.ok:
        raise CallFailed(outcome)
    return CallResult(outcome.blocks, outcome.charged, outcome)
