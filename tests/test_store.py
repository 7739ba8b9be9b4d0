"""DuckDB-only store behaviour: one process owns the file, and a second one is told so.

The engine-neutral contract (users, ledger, calls, books) runs against every engine in
tests/store/test_contract.py.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import write_registry

from tokenworks.config import load_registry
from tokenworks.errors import StoreLockedError
from tokenworks.store import DuckDBStore
from tokenworks.store.open import open_store


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "store.duckdb"


# -- one process owns the file ----------------------------------------------------------

HOLDER = textwrap.dedent("""
    import sys, time
    from tokenworks.store import DuckDBStore
    store = DuckDBStore(sys.argv[1])
    print("ready", flush=True)
    time.sleep(60)
""")


def test_a_second_process_gets_store_locked_error_naming_the_pid(store_path):
    DuckDBStore(store_path).close()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(store_path)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready", holder.stderr.read()
        with pytest.raises(StoreLockedError) as locked:
            DuckDBStore(store_path)
        message = str(locked.value)
        assert str(holder.pid) in message
        assert "PostgreSQL" in message
        assert str(store_path) in message
    finally:
        holder.kill()
        holder.communicate(timeout=10)
    # Once the holder is gone the file opens again.
    DuckDBStore(store_path).close()


# -- the deprecated [store] holds key ----------------------------------------------------


@pytest.mark.parametrize("said", ["memory", "durable"])
def test_a_registry_saying_holds_opens_with_holds_in_memory_and_a_warning(tmp_path, caplog,
                                                                          said):
    registry = write_registry(tmp_path, f'[store]\npath = "store.duckdb"\nholds = "{said}"\n')
    with caplog.at_level("WARNING", logger="tokenworks.store"):
        store = open_store(load_registry(registry))
    try:
        assert store.holds == "memory"
        assert "[store] holds is no longer used and is ignored" in caplog.text
    finally:
        store.close()
    caplog.clear()
    registry = write_registry(tmp_path, '[store]\npath = "store.duckdb"\n')
    open_store(load_registry(registry)).close()
    assert "holds" not in caplog.text  # a registry without the key: no warning
