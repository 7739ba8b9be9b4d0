"""The contract checker: everything the host and the portals will demand of a plugin,
checked before anyone installs it, through the real loader and meter on a throwaway store,
with a report a person can act on.
"""

from __future__ import annotations

import ast
import logging
import sys
import time
import tomllib
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from .blocks import blocks_from_json, blocks_to_json
from .host import Host
from .loader import Candidate, DiscoveredPlugin, file_candidate
from .result_cache import ttl_text
from .spec import Function
from .throwaway_host import CALLER, PluginLike, candidate_for, fund_caller, throwaway_host
from .widgets import WIDGETS, UnrenderableSchema, form_widgets

Status = Literal["pass", "warn", "fail"]
SLOW_IMPORT = 1.0  # seconds: past this, `tokenworks functions` feels the plugin's imports
FORBIDDEN = "streamlit"


@dataclass
class Check:
    status: Status
    subject: str  # "plugin" or a function name
    message: str


@dataclass
class CheckReport:
    target: str
    plugin: str | None = None
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> list[Check]:
        return [check for check in self.checks if check.status == "fail"]

    def add(self, status: Status, subject: str, message: str) -> None:
        self.checks.append(Check(status, subject, message))

    def format(self) -> str:
        width = max([len(c.subject) for c in self.checks] + [6])
        lines = [f"Checking {self.target}" + (f" (plugin {self.plugin})" if self.plugin else "")]
        for check in self.checks:
            lines.append(f"  {check.status.upper():4}  {check.subject:{width}}  {check.message}")
        counts = {s: sum(c.status == s for c in self.checks) for s in ("pass", "warn", "fail")}
        verdict = "meets the contract" if self.ok else "does NOT meet the contract"
        warnings = f"{counts['warn']} warning" + "s" * (counts["warn"] != 1)
        lines.append(f"{counts['pass']} passed, {warnings}, {counts['fail']} failed: "
                     f"the plugin {verdict}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "plugin": self.plugin, "ok": self.ok,
                "checks": [asdict(check) for check in self.checks]}


def check_plugin(
    target: PluginLike, *, name: str | None = None,
    settings: Mapping[str, Any] | None = None, run_examples: bool = True,
) -> CheckReport:
    """Check a plugin: a module, an importable module name, a plugin file or package
    folder, or a project folder with a pyproject.toml declaring a `tokenworks` entry point.

    `settings` are the plugin's settings (its [plugin_settings.NAME] section); the
    environment's TOKENWORKS_<PLUGIN>_<FIELD> variables apply as they do in the host.
    """
    report = CheckReport(target=_describe(target))
    try:
        candidate = _candidate(target, name)
    except Exception as error:  # an import error is the first thing a checker must report
        report.add("fail", "plugin", f"cannot import: {type(error).__name__}: {error}")
        return report
    report.plugin = candidate.name
    streamlit_before = FORBIDDEN in sys.modules
    section = {candidate.name: dict(settings)} if settings is not None else None
    # The report says what went wrong; the loader's and meter's own log lines would only
    # repeat it, out of order, on stderr.
    # Settings errors name their source: the --settings JSON (or no settings at all),
    # and the environment variables, which each error names itself.
    source = "--settings" if settings is not None else "no --settings"
    with _quiet("tokenworks"), throwaway_host([candidate], settings=section, strict=False,
                                             source=source) as host:
        view = host.plugin(candidate.name)
        assert view is not None
        record = view.plugin
        _check_loaded(report, record)
        _check_sources(report, candidate, record)
        if record.status == "loaded":
            for function_name in record.functions:
                function = host.function(function_name).function
                _check_spec(report, function)
                _check_form(report, function)
                if run_examples:
                    _check_examples(report, host, function)
    if not streamlit_before and FORBIDDEN in sys.modules:
        report.add("fail", "plugin", "loading or running the plugin imported streamlit "
                   "(through a dependency?): plugins return blocks and never import it")
    return report


@contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


# -- finding the plugin ---------------------------------------------------------------


def _describe(target: PluginLike) -> str:
    if isinstance(target, str | Path):
        return str(target)
    return getattr(target, "__name__", repr(target))


def _candidate(target: PluginLike, name: str | None) -> Candidate:
    path = Path(target) if isinstance(target, str | Path) else None
    if path is not None and (path / "pyproject.toml").is_file():
        return _project_candidate(path, name)
    return candidate_for(target, name)


def _project_candidate(project: Path, name: str | None) -> Candidate:
    """A project not installed yet: its entry point names the plugin and its module."""
    data = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    entries = data.get("project", {}).get("entry-points", {}).get("tokenworks", {})
    if len(entries) != 1:
        raise ValueError(f"{project}/pyproject.toml declares {len(entries)} entry points in "
                         "[project.entry-points.tokenworks]; name the module to check instead")
    (entry, module), = entries.items()
    if ":" in module:
        raise ValueError(f"entry point {entry} = {module!r}: point it at a module, not an object")
    parts = module.split(".")
    for root in (project / "src", project):
        package = root.joinpath(*parts)
        for path in (package, package.with_suffix(".py")):
            if (path.is_dir() and (path / "__init__.py").is_file()) or path.is_file():
                candidate = file_candidate(path)
                candidate.name = name or entry
                return candidate
    raise ValueError(f"module {module} of entry point {entry} is not under {project} or src/")


# -- the checks -----------------------------------------------------------------------


def _check_loaded(report: CheckReport, record: DiscoveredPlugin) -> None:
    if record.status != "loaded":
        report.add("fail", "plugin", f"does not load: {record.error}")
        return
    count = len(record.functions)
    report.add("pass" if count else "fail", "plugin",
               f"loads and registers {count} function{'s' * (count != 1)} "
               f"({', '.join(record.functions) or 'none'}) in {record.load_ms:.0f} ms")
    if record.load_ms > SLOW_IMPORT * 1000:
        report.add("warn", "plugin", f"loading took {record.load_ms / 1000:.1f} s: import heavy "
                   "libraries and load data inside the functions (or in warm())")
    if record.attribution is not None and not isinstance(record.attribution, str):
        report.add("fail", "plugin", "attribution() must return markdown text or None")


def _check_sources(report: CheckReport, candidate: Candidate, record: DiscoveredPlugin) -> None:
    files = _source_files(candidate)
    if not files:
        report.add("warn", "plugin", "no source files found to scan for a Streamlit import")
        return
    hits = [f"{file.name}:{line}" for file in files for line in _streamlit_imports(file)]
    if hits:
        report.add("fail", "plugin", f"imports streamlit ({', '.join(hits)}): return blocks "
                   "instead; the portals draw them")
    else:
        report.add("pass", "plugin", f"no Streamlit import ({len(files)} "
                   f"file{'s' * (len(files) != 1)} scanned)")


def _source_files(candidate: Candidate) -> list[Path]:
    if candidate.origin.endswith(".py"):  # a file or folder plugin: origin is its path
        origin = Path(candidate.origin)
    else:
        module = sys.modules.get(candidate.origin.split(" ")[0])
        file = getattr(module, "__file__", None)
        if file is None:
            return []
        origin = Path(file)
    if origin.name == "__init__.py":
        return sorted(origin.parent.rglob("*.py"))
    return [origin]


def _streamlit_imports(file: Path) -> list[int]:
    try:
        tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
    except (SyntaxError, UnicodeDecodeError):
        return []  # it loaded, so this file is not part of what runs
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        else:
            continue
        if any(n == FORBIDDEN or n.startswith(FORBIDDEN + ".") for n in names):
            lines.append(node.lineno)
    return lines


def _check_spec(report: CheckReport, function: Function) -> None:
    spec = function.spec
    examples = len(spec.examples)
    report.add("pass", spec.name,
               f"spec valid: cost {spec.cost}, returns {', '.join(spec.returns)}, "
               f"{examples} example{'s' * (examples != 1)}, timeout {spec.timeout:g} s"
               + (f", cached {ttl_text(spec.cache_ttl)}" if spec.cache_ttl else ""))
    if not spec.description.strip():
        report.add("warn", spec.name, "no description: the catalog shows an empty card "
                   "(write a docstring)")


def _check_form(report: CheckReport, function: Function) -> None:
    name = function.spec.name
    try:
        fields = form_widgets(function.spec.input_model)
    except UnrenderableSchema as error:
        report.add("fail", name, f"the portals cannot draw an input form: {error}")
        return
    listing = ", ".join(f"{f.name}: {WIDGETS[f.widget]}" for f in fields) or "no fields"
    report.add("pass", name, f"input form renders: {listing}")
    for item in fields:
        if item.fallback:
            report.add("warn", name, f"field {item.name!r} has no widget of its own and is "
                       "typed as raw JSON; prefer str, int, float, bool, date, Literal, Enum "
                       "or a list of them")


def _check_examples(report: CheckReport, host: Host, function: Function) -> None:
    spec = function.spec
    seen: set[str] = set()
    # Numbered from 0, as the spec's own "example 0 does not validate" errors are.
    for index, example in enumerate(spec.examples):
        subject = f"{spec.name} example {index}"
        fund_caller(host, CALLER, host.function(spec.name).cost)
        started = time.perf_counter()
        try:
            outcome = host.call(spec.name, CALLER, example)
        except Exception as error:  # refused before running, e.g. an input JSON cannot hold
            report.add("fail", subject, f"the meter refused it: {type(error).__name__}: {error}")
            continue
        elapsed = (time.perf_counter() - started) * 1000
        if outcome.status == "timeout":
            report.add("fail", subject, f"did not finish within its timeout of {spec.timeout:g} s")
            continue
        if not outcome.ok:
            # The author needs the exception, which the caller's message leaves out.
            why = outcome.detail.splitlines()[0] if outcome.detail else outcome.error
            report.add("fail", subject, f"{outcome.status}: {why}")
            continue
        kinds = [block.kind for block in outcome.blocks]
        seen.update(kinds)
        text = blocks_to_json(outcome.blocks)
        if blocks_to_json(blocks_from_json(text)) != text:
            report.add("fail", subject, "its blocks do not survive a JSON round trip")
            continue
        if not kinds:
            report.add("warn", subject, "returned no blocks: the caller sees an empty result")
        report.add("pass", subject, f"ran in {elapsed:.0f} ms, returned "
                   f"{_count_kinds(kinds)} ({len(text):,} bytes of JSON)")
        fund_caller(host, CALLER, host.function(spec.name).cost)
        if spec.cache_ttl:  # a cache hit would repeat the first answer, proving nothing
            host.clear_cache(spec.name, actor="checker", reason="determinism check")
        again = host.call(spec.name, CALLER, example)
        if again.ok and blocks_to_json(again.blocks) != text:
            report.add("warn", subject, "a second run returned a different result: examples "
                       "should be deterministic (fix seeds, sort outputs)")
    unused = [kind for kind in spec.returns if kind not in seen]
    if unused and seen:
        report.add("warn", spec.name, f"declares {', '.join(unused)} but no example returns "
                   "it: add an example that does, so the check covers it")


def _count_kinds(kinds: list[str]) -> str:
    """'table (3), markdown' rather than the kind of every block in turn."""
    counts = Counter(kinds)
    return ", ".join(k if counts[k] == 1 else f"{k} ({counts[k]})" for k in counts) or "nothing"
