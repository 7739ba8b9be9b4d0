"""docs/writing-plugins.md's walk-through, run exactly as written.

The block after the `<!-- walkthrough ... -->` marker is read from the page and run with
bash in an empty folder, with this project's venv first on PATH (as `. .venv/bin/activate`
does): new-plugin, the package's own tests, the checker, an offline `pip install -e` into
the venv, then `tokenworks functions` and a call; then, in a fresh interpreter, the new
function in the user catalog and the admin list (AppTest). The package is uninstalled
afterwards.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "writing-plugins.md"
MARKER = "<!-- walkthrough"
DIST = "tokenworks-salary-bands"


def walkthrough() -> str:
    text = DOC.read_text(encoding="utf-8")
    after = text[text.index(MARKER):]
    block = re.search(r"```sh\n(.*?)```", after, re.DOTALL)
    assert block, "no ```sh block after the walkthrough marker"
    return block.group(1)


def test_the_walkthrough_covers_every_step() -> None:
    # Fast guard: the block CI runs still creates, tests, checks, installs and lists.
    commands = walkthrough()
    for step in ("tokenworks new-plugin salary_bands", "pytest", "tokenworks check .",
                 "pip install --no-build-isolation -e .", "functions"):
        assert step in commands, f"the walk-through no longer runs {step!r}"
    assert DOC.read_text(encoding="utf-8").count(MARKER) == 1


@pytest.mark.slow  # creates, tests and pip-installs a package (~30 s)
def test_the_walkthrough_runs_as_written(tmp_path: Path) -> None:
    venv_bin = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{venv_bin}{os.pathsep}{os.environ['PATH']}",
           "VIRTUAL_ENV": str(venv_bin.parent), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    for variable in ("TOKENWORKS_REGISTRY", "TOKENWORKS_STORE"):
        env.pop(variable, None)
    started = time.monotonic()
    try:
        run = subprocess.run(["bash", "-euo", "pipefail", "-c", walkthrough()], cwd=tmp_path,
                             env=env, capture_output=True, text=True, timeout=900)
        portals = seen_in_both_portals(tmp_path, env) if run.returncode == 0 else ""
    finally:
        subprocess.run([str(venv_bin / "pip"), "uninstall", "-y", "-q", DIST],
                       capture_output=True, env=env, timeout=300)
    elapsed = time.monotonic() - started
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "3 passed" in output                                      # its own tests
    assert "0 failed: the plugin meets the contract" in output       # the checker
    assert re.search(r"^salary_bands\s+Salary bands\s+1\s+yes\s+salary_bands", run.stdout,
                     re.MULTILINE), run.stdout                       # tokenworks functions
    assert "## Commonest words" in run.stdout                        # the call's table
    assert "charged 1, balance 19" in run.stderr
    assert elapsed < 900, f"the walk-through took {elapsed:.0f} s"
    answers = [line for line in portals.splitlines() if line.startswith(("catalog:", "admin"))]
    assert answers == ["catalog: yes", "admin list: yes"], portals


# Run in a fresh interpreter: an editable install made after this one started is only
# importable from processes started after it.
PORTAL_CHECK = """
import sys
from streamlit.testing.v1 import AppTest
from tokenworks.portals import runtime, sessions
main = sys.argv[1]

def app(user, page):
    test = AppTest.from_file(main, default_timeout=60)
    test.session_state[runtime.SESSION_KEY] = sessions.issue(runtime.get_host(), user)
    test.run()
    return test.switch_page(page).run()

host = runtime.get_host()
host.add_user("reader", password="reader-password", actor="walkthrough")
catalog = app("reader", "user/catalog.py")
print("catalog:", "yes" if "#### Salary bands" in [m.value for m in catalog.markdown] else "no")
admin = app("admin", "admin/plugins.py")
print("admin list:", "yes" if "salary_bands" in admin.dataframe[1].value["function"].tolist()
      else "no")
"""


def seen_in_both_portals(folder: Path, env: dict[str, str]) -> str:
    """The installed function in the user catalog and the admin list (AppTest)."""
    main = Path(__file__).resolve().parent.parent / "portals" / "main.py"
    check = subprocess.run(
        [sys.executable, "-c", PORTAL_CHECK, str(main)], cwd=folder, capture_output=True,
        text=True, timeout=300,
        env={**env, "TOKENWORKS_REGISTRY": str(folder / "site" / "registry.toml"),
             "TOKENWORKS_ADMIN_PASSWORD": "walkthrough-admin"})
    return check.stdout if check.returncode == 0 else check.stdout + check.stderr
