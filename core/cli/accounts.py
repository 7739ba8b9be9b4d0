"""Commands about users and their tokens."""

from __future__ import annotations

import sys

import click

from . import Session, cli
from .output import emit_json, print_table

pass_session = click.make_pass_decorator(Session)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
reason_option = click.option("--reason", required=True, help="Why: kept in the ledger.")


@cli.group()
def users() -> None:
    """Users and their roles."""


@users.command("add")
@click.argument("name")
@click.option("--admin", is_flag=True, help="Make the user an admin.")
@pass_session
def users_add(session: Session, name: str, admin: bool) -> None:
    """Add a user. The password is read from stdin when piped, else generated and printed once."""
    password = None if sys.stdin is None or sys.stdin.isatty() else sys.stdin.readline().strip()
    user, generated = session.host().add_user(
        name, role="admin" if admin else "user", password=password or None, actor=session.actor)
    click.echo(f"added {user.role} {user.name} with {user.balance} tokens")
    if generated:
        click.echo(f"password: {generated}")
        click.echo("(shown once: keep it now; it is stored only as a scrypt hash)", err=True)


@users.command("list")
@json_option
@pass_session
def users_list(session: Session, as_json: bool) -> None:
    """List users with their role and balance."""
    people = session.host().users()
    if as_json:
        emit_json(people)
        return
    print_table(["name", "role", "balance", "created"],
                [[u.name, u.role, u.balance, u.created_at] for u in people], "no users yet")


@users.command("password")
@click.argument("name")
@pass_session
def users_password(session: Session, name: str) -> None:
    """Set a user's password: read from stdin when piped, else prompted for twice.

    Every portal session of the user ends.
    """
    if sys.stdin is None or sys.stdin.isatty():
        password = click.prompt("new password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\n")
    session.host().set_password(name, password, actor=session.actor, reason="password changed")
    click.echo(f"password of {name} changed")


@users.command("signout")
@click.argument("name")
@reason_option
@pass_session
def users_signout(session: Session, name: str, reason: str) -> None:
    """End every portal session of NAME (sign out everywhere); audited."""
    ended = session.host().end_sessions(name, actor=session.actor, reason=reason)
    click.echo(f"ended {ended} portal session{'s' if ended != 1 else ''} of {name}")


@users.command("role")
@click.argument("name")
@click.argument("role", type=click.Choice(["user", "admin"]))
@reason_option
@pass_session
def users_role(session: Session, name: str, role: str, reason: str) -> None:
    """Set a user's role."""
    session.host().set_role(name, role, actor=session.actor, reason=reason)
    click.echo(f"{name} is now {role}")


@cli.group()
def tokens() -> None:
    """Balances, grants and statements."""


@tokens.command("grant")
@click.argument("user")
@click.argument("amount", type=click.IntRange(min=1))
@reason_option
@pass_session
def tokens_grant(session: Session, user: str, amount: int, reason: str) -> None:
    """Give USER AMOUNT tokens."""
    balance = session.host().grant(user, amount, actor=session.actor, reason=reason)
    click.echo(f"granted {amount} to {user}; balance {balance}")


@tokens.command("take")
@click.argument("user")
@click.argument("amount", type=click.IntRange(min=1))
@reason_option
@pass_session
def tokens_take(session: Session, user: str, amount: int, reason: str) -> None:
    """Take AMOUNT tokens back from USER (never below zero)."""
    balance = session.host().grant(user, -amount, actor=session.actor, reason=reason)
    click.echo(f"took {amount} from {user}; balance {balance}")


@tokens.command("balance")
@click.argument("user")
@json_option
@pass_session
def tokens_balance(session: Session, user: str, as_json: bool) -> None:
    """Show USER's balance."""
    balance = session.host().balance(user)
    if as_json:
        emit_json({"user": user, "balance": balance})
    else:
        click.echo(f"{user}: {balance} tokens")


@tokens.command("history")
@click.argument("user")
@click.option("--limit", default=50, show_default=True)
@json_option
@pass_session
def tokens_history(session: Session, user: str, limit: int, as_json: bool) -> None:
    """Show USER's ledger statement, newest first."""
    host = session.host()
    host.balance(user)  # refuses an unknown user with a clear message
    entries = host.ledger(user, limit)
    if as_json:
        emit_json(entries)
        return
    print_table(["at", "kind", "amount", "balance", "call id", "actor", "reason"],
                [[e.at, e.kind, f"{e.amount:+d}", e.balance_after, e.call_id, e.actor,
                  e.reason] for e in entries], f"{user} has no ledger entries")
