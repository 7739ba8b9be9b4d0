"""The plugin contract: markers and hook specifications.

A plugin is a module (or any object) with functions marked ``@hookimpl`` whose names match
the hooks below. Every hook is optional. Each one is documented here and in
docs/hooks.md; a test fails when a hook lacks either, or has no test of its own
(a ``test_hook_<name>`` test and an implementation in tests/plugins/).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import pluggy

if TYPE_CHECKING:
    import click
    from pydantic import BaseModel

PROJECT = "tokenworks"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class RegisterFunction(Protocol):
    """The ``register`` callback handed to :func:`register_functions`."""

    def __call__(self, func: Any, /, **spec: Any) -> None: ...


@hookspec
def register_functions(register: RegisterFunction, settings: BaseModel | None) -> None:
    """Register the plugin's functions by calling ``register(func, **spec)`` once per function.

    ``func`` takes one argument, an instance of the function's pydantic input model, and
    returns a list of result blocks (``tokenworks.blocks``). The keyword arguments are the
    fields of :class:`tokenworks.FunctionSpec`: ``title``, ``cost``, ``returns`` and
    ``examples`` are required; ``name`` defaults to the function's ``__name__``,
    ``input_model`` to the annotation of its first parameter and ``description`` to its
    docstring. ``plugin`` and ``plugin_version`` are filled in by the host.

    ``settings`` is the plugin's validated settings (an instance of the model its
    :func:`settings_model` returns), or None when it declares none; ask for it only if
    you need it (pluggy passes just the arguments an implementation names).
    """


@hookspec
def settings_model() -> type[BaseModel] | None:
    """Return the pydantic model class of the plugin's settings, or None.

    The host validates the plugin's ``[plugin_settings.NAME]`` section of registry.toml
    against it at start (NAME is the plugin's name); an environment variable
    ``TOKENWORKS_<NAME>_<FIELD>`` sets or overrides a field, so secrets need not be in the
    file. Unknown keys, wrong types and missing required fields fail the plugin with an
    error naming the plugin and the key. The validated instance is passed to
    :func:`register_functions` as ``settings``.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add command-line commands to the ``tokenworks`` command (a ``click.Group``)."""


@hookspec
def attribution() -> str | None:
    """Return markdown crediting the data or work the plugin builds on, or None.

    The portals show it on their About page; licences such as CC BY require it.
    """


@hookspec
def warm() -> None:
    """Load what the plugin's functions need (data, indexes) ahead of the first call.

    Long-running front ends (``tokenworks serve``) call it once at start-up, in a background
    thread, and report healthy when every plugin has warmed. Short commands never call it,
    so a plugin that loads lazily stays fast on the command line. A failing ``warm`` is
    logged and the plugin still loads its data on first use.
    """
