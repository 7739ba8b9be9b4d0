"""`tokenworks new-plugin`: write an installable plugin package from templates.

The templates are plain files with string.Template placeholders ($name, $module, ...):
readable as they will be written, and no template engine to depend on.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

from .. import __version__
from ..errors import TokenworksError
from ..spec import SLUG

# template file -> where it goes in the new project ({module} and {name} filled in)
FILES = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "gitignore.tmpl": ".gitignore",
    "module.py.tmpl": "src/{module}/__init__.py",
    "test_module.py.tmpl": "tests/test_{name}.py",
}


@dataclass(frozen=True)
class PluginNames:
    name: str        # plugin name, entry-point name and the example function's name
    module: str      # importable package: tokenworks_<name>
    dist: str        # distribution on PyPI: tokenworks-<name>
    title: str
    class_name: str


def plugin_names(raw: str) -> PluginNames:
    """Names for a plugin called `raw` ("salary-bands", "Salary bands", "salary_bands")."""
    name = re.sub(r"[\s\-]+", "_", raw.strip()).lower()
    if not re.match(SLUG, name) or keyword.iskeyword(name):
        raise TokenworksError(
            f"{raw!r} cannot name a plugin: use 2-63 lowercase letters, digits and _ (or -), "
            "starting with a letter, e.g. salary_bands")
    words = name.split("_")
    return PluginNames(
        name=name, module=f"tokenworks_{name}", dist="tokenworks-" + "-".join(words),
        title=" ".join(words).capitalize(),
        class_name="".join(word.capitalize() for word in words),
    )


def create_plugin(raw_name: str, directory: Path | None = None) -> tuple[Path, list[Path]]:
    """Write the package into `directory` (default ./tokenworks-<name>); returns it and the
    files written. Refuses a folder that exists and is not empty: never overwrite work."""
    names = plugin_names(raw_name)
    target = Path(directory) if directory else Path.cwd() / names.dist
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise TokenworksError(f"{target} exists and is not empty; choose another --dir")
    values = {**vars(names), "tokenworks_version": __version__}
    templates = resources.files(__name__) / "templates"
    written = []
    for template, destination in FILES.items():
        text = Template(templates.joinpath(template).read_text(encoding="utf-8"))
        path = target / destination.format(**values)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.substitute(values), encoding="utf-8")
        written.append(path)
    return target, written
