"""`tokenworks migrate --to URL`: copy the DuckDB store into an empty PostgreSQL database."""

from __future__ import annotations

from pathlib import Path

import click

from ..config import MEMORY, is_postgres_url
from ..errors import TokenworksError
from . import Session, cli

pass_session = click.make_pass_decorator(Session)


@cli.command()
@click.option("--to", "target_url", required=True, metavar="URL",
              help="postgresql://user@host:port/database, an empty database.")
@pass_session
def migrate(session: Session, target_url: str) -> None:
    """Copy the DuckDB store (the one registry.toml or --store names) into PostgreSQL.

    Copies users with their password hashes, accounts, the ledger, calls, the audit log,
    switches, costs, settings, API keys and the state version; refuses a target that is
    not empty; then verifies the books on both sides and compares every user's balance
    and ledger. Exits non-zero on any difference. Stop the server first: it owns the file.
    """
    if not is_postgres_url(target_url):
        raise TokenworksError(f"--to must be a postgresql:// URL, not {target_url!r}")
    source_path = session.config().store_path()
    if is_postgres_url(source_path) or source_path == MEMORY:
        raise TokenworksError(
            f"migrate copies a DuckDB store file, but the store named is {source_path!r}")
    if not Path(source_path).is_file():
        raise TokenworksError(f"no DuckDB store at {source_path}")
    try:
        from ..store.duckdb_store import DuckDBStore
        from ..store.migrate import migrate_store
        from ..store.postgres_store import PostgresStore
    except ImportError:
        raise TokenworksError("migrate needs psycopg: pip install 'tokenworks[postgres]'") \
            from None
    source = DuckDBStore(source_path)
    try:
        target = PostgresStore(target_url, pool_size=2)
        try:
            report = migrate_store(source, target)
        finally:
            target.close()
    finally:
        source.close()
    copied = ", ".join(f"{n} {table}" for table, n in report.copied.items())
    click.echo(f"copied {source_path} to {target.where}: {copied}")
    for problem in report.problems:
        click.echo(f"MISMATCH: {problem}")
    if not report.ok:
        raise click.ClickException(f"the copy does not match: {len(report.problems)} problems")
    click.echo(f"both books balance; balances and ledgers match for {report.users} users")
