"""Every hook in the plugin contract is documented, in its docstring and in the docs.

Like datasette's test of the same name: adding a hook without documenting it for plugin
authors fails the build. docs/plugin-hooks.md must give each hook a heading of its own.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from tokenworks import hookspecs
from tokenworks.loader import HOOK_NAMES

DOC = Path(__file__).resolve().parent.parent / "docs" / "plugin-hooks.md"


def hook_specs() -> list[str]:
    return sorted(name for name, value in inspect.getmembers(hookspecs, inspect.isfunction)
                  if hasattr(value, f"{hookspecs.PROJECT}_spec"))


def headings() -> list[str]:
    return [line for line in DOC.read_text(encoding="utf-8").splitlines()
            if re.match(r"^#{1,6}\s", line)]


def test_the_known_hooks_are_found() -> None:
    # Guards the test itself: if the marker attribute were renamed, it would check nothing.
    assert {"register_functions", "register_commands", "attribution"} <= set(hook_specs())
    assert set(hook_specs()) == set(HOOK_NAMES)


@pytest.mark.parametrize("hook", hook_specs())
def test_hook_has_a_docstring(hook: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, hook))
    assert doc and len(doc.split()) >= 5, f"hookspec {hook}() needs a real docstring"


def test_plugin_hooks_doc_exists() -> None:
    assert DOC.is_file(), f"{DOC.relative_to(DOC.parent.parent)} is missing"


@pytest.mark.parametrize("hook", hook_specs())
def test_hook_is_documented(hook: str) -> None:
    if not DOC.is_file():
        pytest.fail(f"{DOC.name} is missing, so {hook}() is undocumented")
    pattern = re.compile(rf"\b{re.escape(hook)}\b")
    assert any(pattern.search(line) for line in headings()), (
        f"{hook}() has no heading in docs/plugin-hooks.md")


@pytest.mark.parametrize("hook", hook_specs())
def test_documented_arguments_match_the_spec(hook: str) -> None:
    # The heading or its section must name every argument the hook passes.
    if not DOC.is_file():
        pytest.fail(f"{DOC.name} is missing")
    text = DOC.read_text(encoding="utf-8")
    start = next((m.start() for m in re.finditer(rf"^#{{1,6}}\s.*\b{re.escape(hook)}\b", text,
                                                  re.MULTILINE)), None)
    assert start is not None, f"{hook}() has no heading in docs/plugin-hooks.md"
    body = text.index("\n", start) if "\n" in text[start:] else len(text)
    following = re.search(r"^#{1,6}\s", text[body:], re.MULTILINE)
    section = text[start:body + following.start()] if following else text[start:]
    for argument in inspect.signature(getattr(hookspecs, hook)).parameters:
        assert re.search(rf"\b{argument}\b", section), (
            f"the docs for {hook}() do not mention its argument {argument!r}")
