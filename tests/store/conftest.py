"""Every store engine behind one fixture, so one contract suite runs against each of them:
DuckDB (holds in memory) and PostgreSQL (durable holds) on a throwaway database
($TOKENWORKS_TEST_POSTGRES, see tests/pgserver.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pgserver import throwaway_database

from tokenworks.store import DuckDBStore, Store

ENGINES = ["duckdb", "postgres"]


@dataclass
class Engine:
    name: str
    location: str  # a DuckDB file or a PostgreSQL URL

    @property
    def postgres(self) -> bool:
        return self.name == "postgres"

    def open(self) -> Store:
        if self.postgres:
            from tokenworks.store.postgres_store import PostgresStore

            return PostgresStore(self.location, pool_size=4)
        return DuckDBStore(self.location)

    def raw(self, store: Store, *statements: str) -> list[tuple[Any, ...]]:
        """Run SQL behind the store's back (as a bug or a person with a SQL shell could);
        returns the last statement's rows. A DuckDB store is closed first (its file lock)."""
        if self.postgres:
            import psycopg

            with psycopg.connect(self.location, autocommit=True) as conn:
                rows: list[tuple[Any, ...]] = []
                for statement in statements:
                    cursor = conn.execute(statement)
                    rows = cursor.fetchall() if cursor.description else []
                return rows
        import duckdb

        store.close()
        conn = duckdb.connect(self.location)
        try:
            rows = []
            for statement in statements:
                rows = conn.execute(statement).fetchall()
            return rows
        finally:
            conn.close()

    def tamper(self, store: Store, *statements: str) -> Store:
        """Change the database behind the store's back; returns the store to use next."""
        self.raw(store, *statements)
        return store if self.postgres else self.open()


@contextmanager
def _engine(name: str, tmp_path: Path) -> Iterator[Engine]:
    if name == "postgres":
        with throwaway_database() as url:
            yield Engine(name, url)
    else:
        yield Engine(name, str(tmp_path / "store.duckdb"))


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with _engine(request.param, tmp_path) as made:
        yield made


@pytest.fixture
def pg_engine(tmp_path: Path) -> Iterator[Engine]:
    with _engine("postgres", tmp_path) as made:
        yield made


@pytest.fixture
def store(engine: Engine) -> Iterator[Store]:
    opened = engine.open()
    yield opened
    opened.close()
