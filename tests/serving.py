"""Start and stop a real `tokenworks serve` for tests (by its process id, on loopback)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ADMIN_PASSWORD = "served-admin-pass"
START_TIMEOUT = 90.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    registry: Path
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


def start_server(directory: Path, builtin: str = '"text_tools", "job_titles"',
                 grant: int = 20, store: str = "store.duckdb",
                 extra_env: dict[str, str] | None = None, users: str = "") -> Server:
    """`tokenworks serve` on a free loopback port over a fresh store (or the one named: a
    PostgreSQL URL for replicas); waits for /health. ``extra_env`` adds environment variables;
    ``users`` adds lines to registry.toml's [users]."""
    directory.mkdir(parents=True, exist_ok=True)
    registry = directory / "registry.toml"
    registry.write_text(
        f'[store]\npath = "{store}"\n[plugins]\nbuiltin = [{builtin}]\n'
        'folder = "local_plugins"\nentry_points = false\n'
        f'[users]\nstarting_grant = {grant}\n{users}')
    port = free_port()
    log = directory / "server.log"
    env = dict(os.environ, TOKENWORKS_ADMIN_PASSWORD=ADMIN_PASSWORD, **(extra_env or {}))
    env.pop("TOKENWORKS_STORE", None)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tokenworks.cli", "--registry", str(registry), "serve",
             "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}", process, registry, log)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"tokenworks serve exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{server.url}/health", timeout=5) as response:
                if response.status == 200:
                    return server
        except OSError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"tokenworks serve not healthy in {START_TIMEOUT} s: "
                       f"{log.read_text()[-2000:]}")
