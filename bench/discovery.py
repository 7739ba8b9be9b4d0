"""Discovery + registration time for many local plugins.

Writes N plugin files (each one function, a small pydantic input model and an example)
into a temp local plugins folder, then times tokenworks.loader.discover on a RegistryConfig
pointing at the folder with entry_points = false. Every run imports the files afresh (as a
host start does); the first run of a size is reported apart (it may also write __pycache__),
the median is over the runs that follow.

Target: <= 2 s for 500 plugins.
Run: .venv/bin/python bench/discovery.py [--sizes 5 500] [--repeat 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from tokenworks.config import parse_registry
from tokenworks.loader import discover

TARGET_S = 2.0
TARGET_SIZE = 500
PLUGIN = textwrap.dedent('''
    """Generated benchmark plugin {i}."""
    from pydantic import BaseModel, Field

    from tokenworks import blocks, hookimpl


    class Input{i}(BaseModel):
        text: str = Field(min_length=1, max_length=200, description="Some text.")
        times: int = Field(default=1, ge=1, le=10, description="How often to repeat it.")
        shout: bool = Field(default=False, description="Upper-case it.")


    def echo_{i}(request: Input{i}) -> list[blocks.Block]:
        """Repeat the text."""
        text = request.text * request.times
        return [blocks.Markdown(text=text.upper() if request.shout else text)]


    @hookimpl
    def register_functions(register):
        register(echo_{i}, title="Echo {i}", cost=1, returns=("markdown",),
                 examples=[{{"text": "hello", "times": 2}}])
''')


def write_plugins(folder: Path, count: int) -> None:
    folder.mkdir()
    for i in range(count):
        (folder / f"bench_plugin_{i:04d}.py").write_text(PLUGIN.format(i=i))


def time_discovery(root: Path, count: int, repeat: int) -> dict[str, Any]:
    folder = root / f"plugins_{count}"
    write_plugins(folder, count)
    config = parse_registry(
        f'[plugins]\nfolder = "{folder.name}"\nentry_points = false\n', base_dir=root
    )
    runs = []
    for _ in range(repeat + 1):
        started = time.perf_counter()
        discovery = discover(config, strict=True)
        runs.append(time.perf_counter() - started)
        loaded = sum(record.status == "loaded" for record in discovery.plugins)
        if loaded != count or len(discovery.functions) != count:
            raise RuntimeError(f"expected {count} plugins, loaded {loaded}")
    for i in range(count):  # each run re-executes the modules; drop them between sizes
        sys.modules.pop(f"tokenworks_local_bench_plugin_{i:04d}", None)
    median = statistics.median(runs[1:])
    return {
        "plugins": count,
        "first_s": runs[0],
        "median_s": median,
        "min_s": min(runs[1:]),
        "max_s": max(runs[1:]),
        "ms_per_plugin": median * 1000 / count,
        "runs": repeat,
        "bytecode_cache": not sys.dont_write_bytecode,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, TARGET_SIZE])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per size")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tokenworks-bench-") as tmp:
        results = [time_discovery(Path(tmp), size, args.repeat) for size in args.sizes]
    for result in results:
        if result["plugins"] == TARGET_SIZE:
            result["target_s"] = TARGET_S
            result["target_met"] = result["median_s"] <= TARGET_S
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{'plugins':>7} {'first s':>8} {'median s':>9} {'min s':>7} {'max s':>7} "
          f"{'ms/plugin':>10}  target")
    for r in results:
        target = ""
        if "target_met" in r:
            target = f"<= {TARGET_S:g} s: {'met' if r['target_met'] else 'MISSED'}"
        print(f"{r['plugins']:>7} {r['first_s']:>8.3f} {r['median_s']:>9.3f} {r['min_s']:>7.3f} "
              f"{r['max_s']:>7.3f} {r['ms_per_plugin']:>10.2f}  {target}")
    caching = "off" if sys.dont_write_bytecode else "on"
    print(f"(median of {args.repeat} runs after a first run; bytecode caching {caching}; "
          f"load average {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
