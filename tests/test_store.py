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

from tokenworks.errors import StoreLockedError
from tokenworks.store import DuckDBStore


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
