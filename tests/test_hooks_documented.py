"""Every hook in the plugin contract is documented and tested.

Like datasette's tests of the same names: adding a hook without documenting it for plugin
authors, or without testing it, fails the build. docs/hooks.md must give each hook a
heading of its own; each hook needs an implementation in a plugin under tests/plugins/
and a test function named ``test_hook_<hook>`` (or starting so) somewhere under tests/.
"""

from __future__ import annotations

import ast
import inspect
import re
from functools import cache
from pathlib import Path

import pytest

from tokenworks import hookspecs
from tokenworks.loader import HOOK_NAMES

TESTS = Path(__file__).resolve().parent
DOC = TESTS.parent / "docs" / "hooks.md"


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
        f"{hook}() has no heading in docs/hooks.md")


@pytest.mark.parametrize("hook", hook_specs())
def test_documented_arguments_match_the_spec(hook: str) -> None:
    # The heading or its section must name every argument the hook passes.
    if not DOC.is_file():
        pytest.fail(f"{DOC.name} is missing")
    text = DOC.read_text(encoding="utf-8")
    start = next((m.start() for m in re.finditer(rf"^#{{1,6}}\s.*\b{re.escape(hook)}\b", text,
                                                  re.MULTILINE)), None)
    assert start is not None, f"{hook}() has no heading in docs/hooks.md"
    body = text.index("\n", start) if "\n" in text[start:] else len(text)
    following = re.search(r"^#{1,6}\s", text[body:], re.MULTILINE)
    section = text[start:body + following.start()] if following else text[start:]
    for argument in inspect.signature(getattr(hookspecs, hook)).parameters:
        assert re.search(rf"\b{argument}\b", section), (
            f"the docs for {hook}() do not mention its argument {argument!r}")


# -- every hook is tested --------------------------------------------------------------


@cache
def _trees() -> dict[Path, ast.Module]:
    return {path: ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for path in TESTS.rglob("*.py") if path.name != "broken_syntax.py"}


def _hookimpls(tree: ast.Module) -> set[str]:
    """Names of the hooks a plugin file implements (functions decorated @hookimpl...)."""
    names = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            if getattr(target, "id", getattr(target, "attr", None)) != "hookimpl":
                continue
            specname = [k.value.value for k in getattr(decorator, "keywords", [])
                        if k.arg == "specname" and isinstance(k.value, ast.Constant)]
            names.add(specname[0] if specname else node.name)
    return names


def _test_names() -> set[str]:
    return {node.name for path, tree in _trees().items() if path.name.startswith("test_")
            for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)
            and node.name.startswith("test_")}


@pytest.mark.parametrize("hook", hook_specs())
def test_hook_is_implemented_by_a_test_plugin(hook: str) -> None:
    implemented = {name for path, tree in _trees().items()
                   if TESTS / "plugins" in path.parents for name in _hookimpls(tree)}
    assert hook in implemented, (
        f"no plugin under tests/plugins/ implements {hook}(): add one that does")


@pytest.mark.parametrize("hook", hook_specs())
def test_hook_has_a_named_test(hook: str) -> None:
    assert any(name == f"test_hook_{hook}" or name.startswith(f"test_hook_{hook}_")
               for name in _test_names()), (
        f"{hook}() has no test named test_hook_{hook}: add one (see tests/test_hooks.py)")


def test_the_hook_test_finders_find_something() -> None:
    # Guards the two tests above: if the AST walk broke, they would pass on nothing.
    plugin = _trees()[TESTS / "plugins" / "cli_plugin.py"]
    assert _hookimpls(plugin) == {"attribution", "register_commands"}
    assert "test_hook_warm" in _test_names()
    assert "test_hook_is_implemented_by_a_test_plugin" not in {
        f"test_hook_{hook}" for hook in hook_specs()}
