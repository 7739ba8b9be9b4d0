"""Shared fixtures: a registry file, a host over real test plugins, a real DuckDB store."""

from __future__ import annotations

import importlib.metadata
import shutil
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tokenworks.config import load_registry
from tokenworks.host import Host
from tokenworks.store import DuckDBStore, NewCall, utcnow

TEST_PLUGINS = Path(__file__).parent / "plugins"


def write_registry(directory: Path, body: str = "") -> Path:
    """Write a registry.toml; `body` is extra TOML appended to a minimal default."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "registry.toml"
    path.write_text(body if "[store]" in body else '[store]\npath = "store.duckdb"\n' + body)
    return path


def installed_plugins() -> set[str]:
    """Plugins installed in this environment (the `tokenworks` entry-point group), e.g.
    the packages under examples/ that CI installs: registries with entry_points = true
    load them next to the ones a test names."""
    return {entry.name for entry in importlib.metadata.entry_points(group="tokenworks")}


def plugin_folder(directory: Path, *names: str) -> Path:
    """A local plugins folder holding copies of the named files from tests/plugins/."""
    folder = directory / "local_plugins"
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        source = TEST_PLUGINS / name
        if source.is_dir():
            shutil.copytree(source, folder / name)
        else:
            shutil.copy(source, folder / source.name)
    return folder


def plugin_runs(host: Host, plugin: str) -> Counter[str]:
    """How often each function of a probe plugin (meter_probe, cache_probe) started, in any
    worker process: the probes append a line per run to a ``.runs`` file beside their copy."""
    record = host.plugin(plugin).plugin
    assert record is not None and record.source == "folder", f"{plugin} is not a folder plugin"
    log = Path(record.origin).with_suffix(".runs")
    return Counter(log.read_text().split()) if log.exists() else Counter()


@contextmanager
def busy_writer(store: Any) -> Iterator[None]:
    """Keep a DuckDB store's one writer busy in a transaction of its own for the block:
    writes queue up meanwhile, and the next transaction takes them together."""
    busy, release = threading.Event(), threading.Event()

    def hold_the_writer(cursor: Any) -> None:
        busy.set()
        assert release.wait(10)

    blocker = threading.Thread(target=store._write, args=(hold_the_writer,))
    blocker.start()
    try:
        assert busy.wait(10)
        yield
    finally:
        release.set()
        blocker.join(10)
        assert not blocker.is_alive()


def run_threads(count: int, work: Callable[[int], None]) -> None:
    """Run work(index) on `count` threads started together; re-raise the first error."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def target(index: int) -> None:
        try:
            barrier.wait()
            work(index)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads), "a worker thread hung"
    if errors:
        raise errors[0]


@pytest.fixture
def make_host(tmp_path: Path) -> Iterator[Callable[..., Host]]:
    """Build a Host over test plugins (file names in tests/plugins/) and a fresh store.

    Extra keyword `registry` is TOML appended to the registry file; `store` may be
    ":memory:"; `builtin` lists built-in plugins
    (default: none).
    """
    hosts: list[Host] = []

    def build(*plugins: str, registry: str = "", store: str | None = None,
              builtin: tuple[str, ...] = (), **options) -> Host:
        plugin_folder(tmp_path, *plugins)
        listed = ", ".join(f'"{name}"' for name in builtin)
        path = write_registry(
            tmp_path,
            '[store]\npath = "store.duckdb"\n'
            f'[plugins]\nbuiltin = [{listed}]\n'
            f'folder = "local_plugins"\nentry_points = false\n{registry}',
        )
        host = Host(load_registry(path, store), **options)
        hosts.append(host)
        return host

    yield build
    for host in hosts:
        host.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    """A DuckDB store in a temporary folder (tests/store/ has its own, one per engine)."""
    opened = DuckDBStore(tmp_path / "store.duckdb")
    yield opened
    opened.close()


def new_call(call_id: str, user: str = "ann", cost: int = 3, input_hash: str = "") -> NewCall:
    """A call of meter_probe's probe_ok, as the meter would begin it."""
    return NewCall(
        call_id=call_id, user=user, function="probe_ok", plugin="meter_probe",
        plugin_version="local", cost=cost, input_hash=input_hash or f"hash-{call_id}",
        input_json="{}", deadline_at=utcnow() + timedelta(seconds=30),
    )
