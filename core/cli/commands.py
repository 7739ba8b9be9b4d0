"""Commands about plugins, functions, calls, switches and the books."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..config import REGISTRY_FILE
from ..errors import TokenworksError
from ..result_cache import ttl_text
from . import Session, cli
from .output import emit_json, print_table, render_block

pass_session = click.make_pass_decorator(Session)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@cli.command()
@json_option
@pass_session
def plugins(session: Session, as_json: bool) -> None:
    """List discovered plugins with their status, source, version and load time."""
    host = session.host()
    plugins = host.plugins()
    if as_json:
        emit_json([{**vars(p.plugin), "enabled": p.enabled} for p in plugins])
        return
    rows = [[p.name, p.status, p.plugin.source, p.plugin.version, f"{p.plugin.load_ms:.1f}",
             len(p.plugin.functions), p.plugin.error or p.plugin.origin] for p in plugins]
    print_table(["plugin", "status", "source", "version", "load ms", "functions",
                 "error / origin"], rows, "no plugins found")
    for warning in host.plugin_warnings():
        click.echo(f"warning: {warning}", err=True)


@cli.command()
@json_option
@pass_session
def functions(session: Session, as_json: bool) -> None:
    """List functions with their cost, switch, plugin, result kinds and examples."""
    views = session.host().functions()
    if as_json:
        emit_json([{**v.spec.public_dict(), "cost": v.cost, "default_cost": v.spec.cost,
                    "enabled": v.enabled, "disabled_because": v.why_disabled()}
                   for v in views])
        return
    rows = [[v.spec.name, v.spec.title, v.cost, v.enabled, v.spec.plugin,
             list(v.spec.returns), ttl_text(v.spec.cache_ttl), json.dumps(v.spec.examples[0])]
            for v in views]
    print_table(["name", "title", "cost", "enabled", "plugin", "returns", "cache",
                 "example"], rows,
                "no functions: check `tokenworks plugins` for failed plugins")


@cli.command()
@click.argument("function")
@click.option("--user", required=True, help="Who is calling (and paying).")
@click.option("--input", "input_text", default="{}", metavar="JSON",
              help="Input as a JSON object, @FILE to read it from a file, or - for stdin.")
@click.option("--call-id", help="Idempotency key: a retry with the same id is charged once.")
@json_option
@pass_session
def call(session: Session, function: str, user: str, input_text: str, call_id: str | None,
         as_json: bool) -> None:
    """Call FUNCTION as a user, charging its cost only if it succeeds."""
    payload = _read_input(input_text)
    host = session.host()
    outcome = host.call(function, user, payload, call_id)
    balance = outcome.balance_after
    if as_json:
        emit_json({**outcome.to_dict(), "balance": balance})
    else:
        for block in outcome.blocks:
            click.echo(render_block(block) + "\n")
        replay = " (replayed: charged once)" if outcome.replayed else ""
        if outcome.cached:
            replay += " (cached result; charged as usual)"
        click.echo(f"call {outcome.call_id}: {outcome.status}{replay}, charged "
                   f"{outcome.charged}, balance {balance}", err=True)
    if not outcome.ok:
        why = " (why: `tokenworks calls --failed`)" if outcome.detail else ""
        raise click.ClickException(f"{outcome.error}; no tokens were taken{why}")


def _read_input(text: str) -> dict:
    if text == "-":
        text = sys.stdin.read()
    elif text.startswith("@"):
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as error:
            raise TokenworksError(f"cannot read {text[1:]}: {error.strerror}") from None
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as error:
        raise TokenworksError(f"--input is not valid JSON: {error}") from None
    if not isinstance(payload, dict):
        raise TokenworksError("--input must be a JSON object, e.g. '{\"text\": \"...\"}'")
    return payload


@cli.command()
@click.option("--user", help="Only this user's calls.")
@click.option("--failed", is_flag=True,
              help="Only calls that did not succeed, with why (exception and traceback).")
@click.option("--function", help="Only this function's calls (with --failed).")
@click.option("--limit", default=50, show_default=True)
@json_option
@pass_session
def calls(session: Session, user: str | None, failed: bool, function: str | None, limit: int,
          as_json: bool) -> None:
    """List recent calls, newest first."""
    if failed:
        _failed_calls(session, user, function, limit, as_json)
        return
    if function:
        raise click.UsageError("--function goes with --failed")
    records = session.host().calls(user, limit)
    if as_json:
        emit_json([{k: v for k, v in vars(r).items() if k != "result_json"} for r in records])
        return
    print_table(["call id", "user", "function", "status", "cached", "charged", "latency ms",
                 "started", "error"],
                [[r.call_id, r.user, r.function, r.status, r.cached, r.charged, r.latency_ms,
                  r.started_at, r.error] for r in records], "no calls yet")


def _failed_calls(session: Session, user: str | None, function: str | None, limit: int,
                  as_json: bool) -> None:
    failures = session.host().failed_calls(limit, function=function, user=user)
    if as_json:
        emit_json(failures)
        return
    print_table(["call id", "user", "function", "status", "started", "why"],
                [[f.call_id, f.user, f.function, f.status, f.started_at,
                  (f.detail or f.error or "").splitlines()[0]] for f in failures],
                "no failed calls")


def _switch(session: Session, enabled: bool, function: str | None, plugin: str | None,
            reason: str) -> None:
    if bool(function) == bool(plugin):
        raise click.UsageError("name a FUNCTION or a --plugin (not both)")
    host = session.host()
    verb = "enabled" if enabled else "disabled"
    if plugin:
        changed = host.set_plugin_enabled(plugin, enabled, actor=session.actor, reason=reason)
        target = f"plugin {plugin}"
    else:
        changed = host.set_function_enabled(function, enabled, actor=session.actor,
                                            reason=reason)
        target = function
    click.echo(f"{target} {verb}" if changed else f"{target} was already {verb}")


_reason = click.option("--reason", required=True, help="Why: kept in the audit log.")


@cli.command()
@click.argument("function", required=False)
@click.option("--plugin", help="Switch a whole plugin instead.")
@_reason
@pass_session
def enable(session: Session, function: str | None, plugin: str | None, reason: str) -> None:
    """Switch FUNCTION (or --plugin P) on."""
    _switch(session, True, function, plugin, reason)


@cli.command()
@click.argument("function", required=False)
@click.option("--plugin", help="Switch a whole plugin instead.")
@_reason
@pass_session
def disable(session: Session, function: str | None, plugin: str | None, reason: str) -> None:
    """Switch FUNCTION (or --plugin P) off: new calls are refused at once."""
    _switch(session, False, function, plugin, reason)


@cli.command("set-cost")
@click.argument("function")
@click.argument("cost", type=click.IntRange(min=0))
@_reason
@pass_session
def set_cost(session: Session, function: str, cost: int, reason: str) -> None:
    """Override FUNCTION's cost in tokens."""
    session.host().set_cost(function, cost, actor=session.actor, reason=reason)
    click.echo(f"{function} now costs {cost}")


@cli.command()
@click.option("--limit", default=50, show_default=True)
@json_option
@pass_session
def audit(session: Session, limit: int, as_json: bool) -> None:
    """Show the audit log of admin changes, newest first."""
    changes = session.host().audit(limit)
    if as_json:
        emit_json(changes)
        return
    print_table(["at", "actor", "target", "field", "before", "after", "reason"],
                [[c.at, c.actor, f"{c.target_kind}:{c.target}", c.field, c.before, c.after,
                  c.reason] for c in changes], "no changes yet")


@cli.group()
def ledger() -> None:
    """The token ledger."""


@ledger.command()
@json_option
@pass_session
def verify(session: Session, as_json: bool) -> None:
    """Prove the books: balances equal their ledgers, holds settle once, none negative.

    Quarantined call journals are listed as warnings: they may hold calls the books lack."""
    report = session.host().verify_books()
    if as_json:
        emit_json({**vars(report), "ok": report.ok})
    else:
        click.echo(f"{report.accounts} accounts, {report.ledger_entries} ledger entries, "
                   f"{report.open_holds} holds open for running calls")
        for problem in report.problems:
            click.echo(f"DRIFT: {problem}")
        for kept in report.quarantined_journals:
            when = f"{kept.quarantined_at:%Y-%m-%d %H:%M:%S} UTC" if kept.quarantined_at else "?"
            click.echo(f"WARNING: quarantined call journal {kept.path} ({when}): "
                       f"{'; '.join(kept.reasons)}. It may hold calls the tables lack.")
    if not report.ok:
        raise click.ClickException(f"the books do not balance: {len(report.problems)} problems")
    if not as_json:
        click.echo("the books balance")


REGISTRY_TEMPLATE = """\
# tokenworks registry: which plugins load, where the store lives, what new users get.

[store]
path = "tokenworks.duckdb"          # relative to this file; or postgresql://user@host/db

[plugins]
builtin = ["text_tools"]            # plugins shipped in tokenworks' plugins/ folder
folder = "local_plugins"            # *.py files and packages here load too
entry_points = true                 # installed packages in the `tokenworks` entry-point group
allow = []                          # if not empty, only these plugins load
block = []                          # these never load

[users]
starting_grant = 20
# self_signup = true                # people may create their own account in the portal
# signups_per_hour = 5              # sign-up attempts per client address and hour
# session_hours = 12.0              # a portal sign-in lasts at most this long
# session_idle_minutes = 120.0      # ... and ends after this long unused

# [portal]
# trusted_proxies = []              # reverse proxies whose X-Forwarded-For is believed
# secret_key_file = "..."           # the session key's file (default: beside the store)

[invocation]
sweep_interval = 30.0               # seconds between sweeps for stale holds
hold_grace = 60.0                   # seconds past a call's timeout before its hold is swept

[workers]                           # the processes every function call runs in
# count = 2                         # default: one per core
# memory_mb = 2048                  # memory a worker may allocate beyond what it inherits
# max_result_mb = 16                # largest result a call may return

# [functions.word_frequencies]
# cost = 2
# enabled = true
"""


@cli.command()
@click.option("--dir", "directory", default=".", type=click.Path(file_okay=False),
              help="Folder to write registry.toml in.")
def init(directory: str) -> None:
    """Write a starting registry.toml."""
    path = Path(directory) / REGISTRY_FILE
    if path.exists():
        raise click.ClickException(f"{path} exists already; edit it instead")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(REGISTRY_TEMPLATE, encoding="utf-8")
    click.echo(f"wrote {path}")
