"""`tokenworks secret rotate`: a new portal session key, which signs everyone out."""

from __future__ import annotations

import click

from ..secret_key import rotate
from . import Session, cli

pass_session = click.make_pass_decorator(Session)


@cli.group()
def secret() -> None:
    """The portal's session signing key (a 0600 file, or $TOKENWORKS_SECRET_KEY)."""


@secret.command("rotate")
@pass_session
def secret_rotate(session: Session) -> None:
    """Write a new session key file (atomically, mode 0600): every portal session ends.

    A running server notices the new file at its next session check. Replicas must share
    the file (or $TOKENWORKS_SECRET_KEY). The store is not opened, so this works while
    `tokenworks serve` runs on a DuckDB store.
    """
    path = rotate(session.config())
    click.echo(f"wrote a new session key to {path}: every portal session has ended")
