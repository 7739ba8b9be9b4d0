"""Commands about REST API keys: create (the key is printed once), list, revoke."""

from __future__ import annotations

import dataclasses

import click

from . import Session, cli
from .output import emit_json, print_table

pass_session = click.make_pass_decorator(Session)


@cli.group()
def keys() -> None:
    """API keys for the REST API (stored as hashes; a key is shown once)."""


@keys.command("create")
@click.argument("user")
@click.option("--name", required=True, help="What the key is for, e.g. 'nightly job'.")
@pass_session
def keys_create(session: Session, user: str, name: str) -> None:
    """Create an API key for USER and print it (once: only its hash is kept)."""
    record, token = session.host().create_api_key(user, name, actor=session.actor)
    click.echo(token)
    click.echo(f"(API key {record.key_id} for {user}: shown once; send it as "
               "'Authorization: Bearer <key>')", err=True)


@keys.command("list")
@click.option("--user", help="Only this user's keys.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_session
def keys_list(session: Session, user: str | None, as_json: bool) -> None:
    """List API keys (never their secrets), newest first."""
    found = session.host().api_keys(user)
    if as_json:
        emit_json([{k: v for k, v in dataclasses.asdict(key).items() if k != "secret_hash"}
                   for key in found])
        return
    print_table(["key id", "user", "name", "created", "revoked"],
                [[k.key_id, k.user, k.name, k.created_at, k.revoked_at or ""] for k in found],
                "no API keys yet")


@keys.command("revoke")
@click.argument("key_id")
@click.option("--reason", default="revoked", show_default=True, help="Kept in the audit log.")
@pass_session
def keys_revoke(session: Session, key_id: str, reason: str) -> None:
    """Revoke the key KEY_ID: requests with it are refused (401) from now on."""
    if session.host().revoke_api_key(key_id, actor=session.actor, reason=reason):
        click.echo(f"revoked {key_id}")
    else:
        click.echo(f"{key_id} was revoked already")
