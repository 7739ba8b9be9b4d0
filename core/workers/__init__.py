"""Worker processes: where every function call runs, so the host runs no plugin code."""

from .plan import WorkerPlan
from .pool import Lease, RunResult, WorkerPool

__all__ = ["Lease", "RunResult", "WorkerPlan", "WorkerPool"]
