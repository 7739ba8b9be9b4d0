"""The fork server's preload: the host's plugins imported and warmed once, before any fork.

`multiprocessing`'s fork server imports this module when it starts (workers/pool.py names it
with set_forkserver_preload and the plan's file in $TOKENWORKS_WORKER_PLAN). Every worker
forked from it then shares the plugins' data copy-on-write. A fork server started for
another plan (a process may host several hosts, as tests do) preloads nothing useful for
this one: its workers load the plugins themselves (child.py), correct but not shared.

Nothing here may raise: the fork server stops on any error but ImportError.
"""

from __future__ import annotations

import gc
import logging
import os
import sys

from ..loader import Discovery, warm
from .plan import WorkerPlan, read_plan

PLAN_ENV = "TOKENWORKS_WORKER_PLAN"
log = logging.getLogger("tokenworks.workers")
_preloaded: tuple[str, Discovery] | None = None  # (plan fingerprint, its discovery)
warm_failed: list[str] = []  # plugins whose warm-up raised or overran here


def discovery_for(plan: WorkerPlan) -> Discovery | None:
    """The preloaded discovery, if it was made from this plan."""
    if _preloaded is not None and _preloaded[0] == plan.fingerprint():
        return _preloaded[1]
    return None


def _preload() -> None:
    global _preloaded
    path = os.environ.get(PLAN_ENV)
    if not path:
        return
    try:
        plan = read_plan(path)
        sys.path[:] = plan.sys_path or sys.path  # the host's, as every worker gets it
        discovery = plan.discover()
        if plan.warm:
            warm_failed.extend(warm(discovery, plan.config.plugins.import_timeout))
        _preloaded = (plan.fingerprint(), discovery)
        # What the plugins loaded stays put: a collection in a worker would otherwise touch
        # (and so copy) every page of it.
        gc.collect()
        gc.freeze()
    except BaseException:  # SystemExit from a plugin included: workers load for themselves
        log.exception("worker preload failed; workers will load the plugins themselves")


_preload()
