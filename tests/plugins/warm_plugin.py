"""Warm plugin: implements warm(), counting the warm-ups, and fails its warm-up on demand.

A file ``warm_plugin.fail`` beside this one makes warm() raise, as a plugin whose data is
missing would (a file, because warm runs in another process than the test).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from tokenworks import blocks, hookimpl

WARMED = {"count": 0}
FAIL_WARM = Path(__file__).with_name("warm_plugin.fail")


class Nothing(BaseModel):
    pass


def warmed(request: Nothing) -> list[blocks.Block]:
    """Say how often warm() ran."""
    return [blocks.Json(data=WARMED)]


@hookimpl
def warm():
    if FAIL_WARM.exists():
        raise FileNotFoundError("warm_plugin's data file is missing")
    WARMED["count"] += 1


@hookimpl
def register_functions(register):
    register(warmed, title="Warmed", cost=0, returns=["json"], examples=[{}])
