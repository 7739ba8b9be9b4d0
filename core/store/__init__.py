"""Persistence: the store contract (base.py) and its two engines."""

from .base import (
    BooksReport,
    CallRecord,
    FunctionOverrides,
    LedgerEntry,
    NewCall,
    Settled,
    StateChange,
    Store,
    User,
    utcnow,
)
from .duckdb_store import DuckDBStore

__all__ = [
    "BooksReport",
    "CallRecord",
    "DuckDBStore",
    "FunctionOverrides",
    "LedgerEntry",
    "NewCall",
    "Settled",
    "StateChange",
    "Store",
    "User",
    "utcnow",
]
