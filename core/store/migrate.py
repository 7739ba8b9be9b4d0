"""Copy a DuckDB store into an empty PostgreSQL database, then prove both books agree.

Rows are copied as they are (ids, timestamps, password hashes, API key hashes, the audit
log, the state version), in one PostgreSQL transaction: a failed copy leaves the target
empty. The columns copied are those both sides have, read from each database's catalog,
so a later schema migration (e.g. migration 4) needs no change here as long as both
engines have it. Afterwards the books are verified on both sides, and per-user balances,
ledger counts and sums, call counts and the state version are compared.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from ..errors import TokenworksError
from .duckdb_store import DuckDBStore
from .postgres_store import PostgresStore
from .schema import LATEST

# Parents before children; state_version is a one-row table updated in place. The result
# cache is not copied: it is a cache, and refills on the first calls.
TABLES = ["users", "accounts", "ledger", "calls", "call_failures", "function_state",
          "plugin_state", "state_changes", "settings", "api_keys"]
SEQUENCES = {"ledger_ids": "ledger", "change_ids": "state_changes"}
BATCH = 1000


@dataclass
class MigrationReport:
    copied: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    users: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def migrate_store(source: DuckDBStore, target: PostgresStore) -> MigrationReport:
    """Copy ``source`` into ``target`` (which must be empty) and compare the two."""
    if source.schema_version() > LATEST:
        raise TokenworksError(
            f"the DuckDB store is at schema version {source.schema_version()}, but this "
            f"version of tokenworks knows versions up to {LATEST}: upgrade tokenworks")
    refuse_non_empty(target)
    report = MigrationReport()
    with psycopg.connect(target.url, connect_timeout=10) as conn, conn.transaction():
        for table in TABLES:
            report.copied[table] = _copy_table(source, conn, table)
        [(version,)] = source._read("SELECT version FROM state_version WHERE id = 1")
        conn.execute("UPDATE state_version SET version = %s WHERE id = 1", (version,))
        for sequence, table in SEQUENCES.items():
            # The next id must follow the copied ones (setval's false: max + 1 is next).
            conn.execute(sql.SQL("SELECT setval({}, coalesce((SELECT max(id) FROM {}), 0) + 1, "
                                 "false)").format(sql.Literal(sequence), sql.Identifier(table)))
    compare(source, target, report)
    return report


def refuse_non_empty(target: PostgresStore) -> None:
    counts = {table: target._read(
        sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))[0][0]
        for table in TABLES}
    present = {table: n for table, n in counts.items() if n}
    if present or target.state_version() != 0:
        listed = ", ".join(f"{n} {table}" for table, n in present.items()) or "a state version"
        raise TokenworksError(
            f"the target database {target.where} is not empty ({listed}): "
            "migrate copies into a fresh database only; nothing was copied")


def _copy_table(source: DuckDBStore, conn: psycopg.Connection, table: str) -> int:
    wanted = [row[0] for row in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = "
        "current_schema() AND table_name = %s ORDER BY ordinal_position", (table,))]
    present = {row[0] for row in source._read(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table])}
    columns = [column for column in wanted if column in present]
    copied = 0
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)))
    with conn.cursor().copy(statement) as copy:
        for row in _rows(source, table, columns):
            copy.write_row(row)
            copied += 1
    return copied


def _rows(source: DuckDBStore, table: str, columns: list[str]) -> Iterator[tuple]:
    """The table's rows, a batch at a time (call results can be large)."""
    listed = ", ".join(f'"{column}"' for column in columns)
    with source._snapshot() as tx:
        cursor = tx.execute(f"SELECT {listed} FROM {table} ORDER BY ALL")
        while batch := cursor.fetchmany(BATCH):
            yield from batch


def compare(source: DuckDBStore, target: PostgresStore, report: MigrationReport) -> None:
    """Both books balance, and they are the same books."""
    for side, store in (("DuckDB", source), ("PostgreSQL", target)):
        books = store.verify_books()
        report.problems += [f"{side} books: {problem}" for problem in books.problems]
    ledger_sql = ("SELECT user_name, count(*), sum(amount) FROM ledger GROUP BY user_name "
                  "ORDER BY user_name")
    mine = {user: (int(n), int(total)) for user, n, total in source._read(ledger_sql)}
    theirs = {user: (int(n), int(total)) for user, n, total in target._read(ledger_sql)}
    balances = {u.name: u.balance for u in source.list_users()}
    copied = {u.name: u.balance for u in target.list_users()}
    report.users = len(copied)
    for user in sorted(set(balances) | set(copied)):
        if balances.get(user) != copied.get(user):
            report.problems.append(f"{user}: balance {balances.get(user)} in DuckDB but "
                                   f"{copied.get(user)} in PostgreSQL")
    for user in sorted(set(mine) | set(theirs)):
        if mine.get(user) != theirs.get(user):
            report.problems.append(f"{user}: ledger (entries, sum) {mine.get(user)} in DuckDB "
                                   f"but {theirs.get(user)} in PostgreSQL")
    for table in ("calls", "state_changes", "api_keys"):
        count = f"SELECT count(*) FROM {table}"
        if source._read(count)[0][0] != target._read(count)[0][0]:
            report.problems.append(f"{table}: row counts differ")
    if source.state_version() != target._read(
            "SELECT version FROM state_version WHERE id = 1")[0][0]:
        report.problems.append("the state versions differ")

