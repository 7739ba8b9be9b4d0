"""Persistence: the store contract and its implementations."""

from .base import (
    BooksReport,
    CallRecord,
    FunctionOverrides,
    LedgerEntry,
    NewCall,
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
    "StateChange",
    "Store",
    "User",
    "utcnow",
]
