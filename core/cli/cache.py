"""`tokenworks cache`: the result cache of cacheable functions."""

from __future__ import annotations

import click

from . import Session, cli

pass_session = click.make_pass_decorator(Session)


@cli.group()
def cache() -> None:
    """The result cache of cacheable functions (those with a cache_ttl)."""


@cache.command()
@click.argument("function", required=False)
@click.option("--reason", required=True, help="Why: kept in the audit log.")
@pass_session
def clear(session: Session, function: str | None, reason: str) -> None:
    """Drop every cached result, or only FUNCTION's: their next calls run the function."""
    dropped = session.host().clear_cache(function, actor=session.actor, reason=reason)
    target = function or "all functions"
    click.echo(f"dropped {dropped} cached result{'s' if dropped != 1 else ''} of {target}")
