"""Alternating A/B runs of one benchmark in two checkouts, in the same window.

A refactor must not cost speed, and a noisy shared machine moves figures by more than a
small change does; so the two sides run back to back, in alternating order, several rounds,
and the report gives each measure's median per side, the ratio B/A and each side's range.
Each checkout needs its own `.venv` (`make install` there).

Run: .venv/bin/python bench/ab.py --a ../old --b . --rounds 5 metering.py -- --calls 500
     .venv/bin/python bench/ab.py --a ../old --b . load.py -- --seconds 10

The benchmark is run as `<checkout>/.venv/bin/python <checkout>/bench/<script> ... --json`
from the checkout's folder; the report lists the numeric top-level fields of its JSON
(one result object, or the first of a list) that both sides have.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def run_once(checkout: Path, script: str, args: list[str]) -> dict[str, float]:
    command = [str(checkout / ".venv/bin/python"), str(checkout / "bench" / script), *args,
               "--json"]
    done = subprocess.run(command, cwd=checkout, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    result: Any = json.loads(done.stdout)
    if isinstance(result, list):
        result = result[0]
    return {key: float(value) for key, value in result.items()
            if isinstance(value, int | float) and not isinstance(value, bool)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", type=Path, required=True, help="the checkout before")
    parser.add_argument("--b", type=Path, required=True, help="the checkout after")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("script", help="a script in bench/, e.g. metering.py")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="its arguments (after --)")
    options = parser.parse_args()
    args = [arg for arg in options.args if arg != "--"]
    sides = {"A": options.a.resolve(), "B": options.b.resolve()}
    runs: dict[str, list[dict[str, float]]] = {"A": [], "B": []}
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    for round_number in range(options.rounds):
        order = ("A", "B") if round_number % 2 == 0 else ("B", "A")
        for side in order:
            runs[side].append(run_once(sides[side], options.script, args))
            print(f"round {round_number + 1}: {side} done", file=sys.stderr)
    keys = [key for key in runs["A"][0] if all(key in run for run in runs["A"] + runs["B"])]
    print(f"{options.script} {' '.join(args)}: {options.rounds} rounds, alternating, "
          f"{started}, {platform.node()}, load average now {os.getloadavg()[0]:.2f}")
    print(f"A = {sides['A']}\nB = {sides['B']}")
    print(f"{'measure':<36} {'A median':>12} {'B median':>12} {'B/A':>7}   A range ; B range")
    for key in keys:
        a_runs, b_runs = [run[key] for run in runs["A"]], [run[key] for run in runs["B"]]
        a, b = statistics.median(a_runs), statistics.median(b_runs)
        ratio = f"{b / a:7.3f}" if a else "      -"
        print(f"{key:<36} {a:>12.3f} {b:>12.3f} {ratio}   {min(a_runs):.3g}-{max(a_runs):.3g}"
              f" ; {min(b_runs):.3g}-{max(b_runs):.3g}")


if __name__ == "__main__":
    main()
