"""`tokenworks serve`: the portals (and their HTTP routes) in one Streamlit process, watched
by a small process that stops it within 5 s of SIGTERM whatever a plugin does (watchman.py).

The command belongs to the portals: pyproject.toml declares it in the
``tokenworks.commands`` entry point group, which the core CLI loads without naming it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from tokenworks.cli import Session
from tokenworks.config import find_registry, is_postgres_url
from tokenworks.store.open import open_store

pass_session = click.make_pass_decorator(Session)


@click.command()
@click.option("--host", "address", default="127.0.0.1", show_default=True,
              help="Address to listen on.")
@click.option("--port", default=8501, show_default=True, type=click.IntRange(1, 65535))
@pass_session
def serve(session: Session, address: str, port: int) -> None:
    """Run the user and admin portals (Streamlit) on the registry's store.

    The process owns the store while it runs (DuckDB allows one), so stop it before using
    commands that write, or run them against PostgreSQL.
    """
    try:
        import streamlit  # noqa: F401
    except ImportError:
        raise click.ClickException("streamlit is not installed: pip install tokenworks") from None
    registry = find_registry(session.registry).resolve()
    config = session.config()  # fail here, on one line, if registry.toml is broken
    if is_postgres_url(config.store_path()):
        # ...or if the PostgreSQL server is away (this also applies its migrations once,
        # before the server's threads race to).
        open_store(config).close()
    # uvicorn believes X-Forwarded-For from loopback by default, which would let anyone on
    # this machine pick the address sign-in throttling counts: trust no proxy at its level;
    # the portal reads the header itself, from [portal] trusted_proxies only.
    env = dict(os.environ, TOKENWORKS_REGISTRY=str(registry), FORWARDED_ALLOW_IPS="")
    if session.store:
        env["TOKENWORKS_STORE"] = session.store
    server = Path(__file__).resolve().with_name("server.py")
    click.echo(f"tokenworks portals on http://{address}:{port}  (sign in there; Ctrl+C stops)")
    # streamlit's CLI, started through tokenworks.portals.launch (it turns Nagle's algorithm
    # off on the server's connections, see there).
    args = [sys.executable, "-m", "tokenworks.portals.launch", "run", str(server),
            "--server.address", address, "--server.port", str(port),
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none", "--global.developmentMode", "false",
            "--client.toolbarMode", "viewer"]
    sys.stdout.flush()
    # Replace this process with the watchman (the PID a caller holds stops the server), run
    # by path without site-packages: it needs only the standard library.
    watchman = str(Path(__file__).resolve().with_name("watchman.py"))
    os.execve(sys.executable, [sys.executable, "-I", "-S", watchman, *args], env)
