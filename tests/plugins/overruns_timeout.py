"""Overruns its timeout: ``overrun`` sleeps for an hour with a one-second timeout, so a CLI
call, the checker and tokenworks.testing must each get the timeout outcome and return,
never wait for the abandoned sleep."""

from __future__ import annotations

import time

from pydantic import BaseModel

from tokenworks import blocks, hookimpl


class Nothing(BaseModel):
    pass


def overrun(request: Nothing) -> list[blocks.Block]:
    """Sleeps for an hour; its timeout is one second."""
    time.sleep(3600)
    return []


@hookimpl
def register_functions(register):
    register(overrun, title="Overruns", cost=3, returns=["markdown"], examples=[{}],
             timeout=1.0)
