"""A function past its timeout has its worker killed; whoever called it gets the timeout
outcome then, and nothing waits for the abandoned work (the function sleeps for an hour).

Each caller runs in a process of its own, so "returns" means the process exits: a caller
that waited for the sleep would hit the generous subprocess limit below and fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import TEST_PLUGINS, plugin_folder, write_registry

PLUGIN = TEST_PLUGINS / "overruns_timeout.py"
TOKENWORKS = Path(sys.executable).with_name("tokenworks")
LIMIT = 120  # seconds: far above the 1 s timeout, far below the hour's sleep


def run(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENWORKS_")}
    return subprocess.run(args, input=input, capture_output=True, text=True, timeout=LIMIT,
                          env=env, check=False)


def test_a_cli_call_gets_the_timeout_and_is_charged_nothing(tmp_path: Path) -> None:
    plugin_folder(tmp_path, "overruns_timeout.py")
    registry = write_registry(tmp_path, '[store]\npath = "store.duckdb"\n'
                              "[plugins]\nentry_points = false\n[users]\nstarting_grant = 10\n")
    tw = (str(TOKENWORKS), "--registry", str(registry))
    assert run(*tw, "users", "add", "ada", input="correct horse\n").returncode == 0
    called = run(*tw, "call", "overrun", "--user", "ada", "--input", "{}")
    assert called.returncode != 0
    assert "timeout" in (called.stdout + called.stderr).lower()
    balance = run(*tw, "users", "list")
    assert balance.returncode == 0, balance.stderr
    (ada,) = [line for line in balance.stdout.splitlines() if line.split()[:1] == ["ada"]]
    assert "10" in ada.split()


def test_the_checker_reports_the_timeout_and_returns() -> None:
    checked = run(str(TOKENWORKS), "check", str(PLUGIN))
    assert checked.returncode == 1
    assert "timeout" in checked.stdout.lower(), checked.stdout


def test_tokenworks_testing_gets_the_timeout_and_the_balance_is_untouched() -> None:
    script = f"""
from tokenworks.testing import call, registered
with registered({str(PLUGIN)!r}) as host:
    result = call(host, "overrun", check=False)
    before = host.balance("tester")
    print(result.outcome.status, result.charged, before)
"""
    ran = run(sys.executable, "-c", script)
    assert ran.returncode == 0, ran.stderr
    status, charged, balance = ran.stdout.split()
    assert (status, charged) == ("timeout", "0")
    assert int(balance) == 3  # funded with the cost, and none of it taken
