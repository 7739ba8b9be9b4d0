"""The store contract: what the host needs from a database, whatever the engine.

DuckDB (duckdb_store.py) is the embedded default, PostgreSQL (postgres_store.py) serves
several replicas; both answer this one contract and keep the ledger invariants:

- the ledger is append-only, and every balance change is written with its ledger row in
  one transaction, so ``balance == SUM(ledger.amount)`` for every account;
- a balance never goes negative (checked in the statement and by a CHECK constraint);
- a hold is settled once: captured (amount 0, the tokens stay spent) or released
  (the held amount comes back), never both.

Where a running call's hold lives is the engine's business (``Store.holds``): PostgreSQL
writes it when the call starts, so every replica sees it; DuckDB, whose file one process
owns, keeps it in memory and writes the whole call once, when it ends (docs/architecture.md).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

Role = Literal["user", "admin"]
LedgerKind = Literal["grant", "hold", "capture", "release", "adjustment"]
HoldsMode = Literal["durable", "memory"]
CallStatus = Literal["running", "succeeded", "failed", "timeout", "invalid_result", "abandoned"]
FINAL_STATUSES: frozenset[str] = frozenset(
    {"succeeded", "failed", "timeout", "invalid_result", "abandoned"}
)


def utcnow() -> datetime:
    """Naive UTC: what the TIMESTAMP columns hold."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    created_at: datetime
    balance: int


@dataclass(frozen=True)
class LedgerEntry:
    id: int
    at: datetime
    user: str
    kind: LedgerKind
    amount: int
    call_id: str | None
    actor: str
    reason: str
    balance_after: int


@dataclass(frozen=True)
class NewCall:
    call_id: str
    user: str
    function: str
    plugin: str
    plugin_version: str
    cost: int
    input_hash: str
    input_json: str
    deadline_at: datetime
    # The call row's started_at: set here, so the caller knows it without reading it back.
    started_at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True)
class Settled:
    """What finish_call reports for a call it settled."""

    # The user's balance right after the settlement, when the store knows it without a
    # read (None: ask Store.balance).
    balance: int | None = None


@dataclass(frozen=True)
class CallRecord:
    call_id: str
    user: str
    function: str
    plugin: str
    plugin_version: str
    cost: int
    status: CallStatus
    input_hash: str
    input_json: str
    result_json: str | None
    error: str | None
    started_at: datetime
    deadline_at: datetime
    finished_at: datetime | None
    latency_ms: float | None
    cached: bool = False  # answered from the result cache (charged as usual)

    @property
    def charged(self) -> int:
        """Tokens this call finally cost: its price if it succeeded, else nothing."""
        return self.cost if self.status == "succeeded" else 0


@dataclass(frozen=True)
class StateChange:
    id: int
    at: datetime
    actor: str
    target_kind: str
    target: str
    field: str
    before: str | None
    after: str | None
    reason: str


@dataclass(frozen=True)
class FunctionOverrides:
    enabled: bool | None = None
    cost: int | None = None


@dataclass(frozen=True)
class QuarantinedJournal:
    """A call journal file set aside at start-up because something in it was wrong: kept
    for an admin, never replayed again. Its good calls were written to the tables; the
    bad ones (and anything unreadable) are only in the file."""

    path: str
    quarantined_at: datetime | None  # naive UTC, from the file's name
    reasons: tuple[str, ...]


@dataclass
class BooksReport:
    accounts: int = 0
    ledger_entries: int = 0
    open_holds: int = 0
    problems: list[str] = field(default_factory=list)
    # Not a problem of the books, but they may hold calls the tables lack: said beside them.
    quarantined_journals: list[QuarantinedJournal] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class ApiKey:
    """A user's API key as stored: the secret itself is never kept, only its hash."""

    key_id: str
    user: str
    name: str
    secret_hash: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class CallMetrics:
    function: str
    status: str
    calls: int
    tokens: int  # tokens captured (successful calls' costs)
    latency_sum_ms: float
    latency_count: int  # calls with a measured latency (finished ones)
    buckets: tuple[int, ...]  # cumulative counts of latency_ms <= each bound



@dataclass(frozen=True)
class CachedResult:
    """One function's successful result for one input, kept until ``expires_at``."""

    key: str  # sha256 of function, plugin version and canonical input (meter.cache_key)
    function: str
    plugin_version: str
    result_json: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class PortalSession:
    """A signed-in browser. The cookie carries a random token; only its SHA-256 is stored,
    so a reader of the database cannot take over a session."""

    token_hash: str
    user: str
    created_at: datetime
    last_seen_at: datetime
    idle_expires_at: datetime  # moved on by use (at most about once a minute)
    expires_at: datetime  # absolute: never moved
    ended_at: datetime | None = None
    end_reason: str | None = None

    def live(self, now: datetime) -> bool:
        return self.ended_at is None and now < self.idle_expires_at and now < self.expires_at


@dataclass(frozen=True)
class ThrottleRule:
    """At most ``limit`` attempts per ``window_seconds`` under ``key`` (e.g. an account or a
    client address); the window starts at the key's first attempt."""

    key: str
    limit: int
    window_seconds: float


@dataclass(frozen=True)
class FailedCall:
    """A call that did not succeed, with why (for admins; the user sees only ``error``)."""

    call_id: str
    started_at: datetime
    function: str
    user: str
    status: str
    error: str | None  # what the user was told
    detail: str | None  # the exception, its traceback, the worker's end


class Store(abc.ABC):
    """Persistence for users, tokens, calls and admin state."""

    #: Where running calls' holds live: "durable" (written as the call starts) or "memory"
    #: (reserved in this process, written with the whole call as it ends).
    holds: HoldsMode = "durable"
    #: Whether other processes may write the same database meanwhile (PostgreSQL replicas).
    #: When False, a call still "running" when the store opens was cut short by a crash of
    #: the one process that owns it; when True, it may be another replica's live call.
    shared: bool = False

    # -- lifecycle --------------------------------------------------------------------
    @abc.abstractmethod
    def schema_version(self) -> int: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    # -- users ------------------------------------------------------------------------
    @abc.abstractmethod
    def create_user(
        self, name: str, role: Role, password_hash: str, starting_grant: int, actor: str
    ) -> User:
        """Create the user and their account; the starting grant is a ledger entry."""

    @abc.abstractmethod
    def get_user(self, name: str) -> User | None: ...

    @abc.abstractmethod
    def password_hash(self, name: str) -> str | None: ...

    @abc.abstractmethod
    def list_users(self) -> list[User]: ...

    @abc.abstractmethod
    def set_role(self, name: str, role: Role, actor: str, reason: str) -> None: ...

    @abc.abstractmethod
    def set_password_hash(self, name: str, password_hash: str, actor: str, reason: str) -> None:
        """Replace a user's password hash, end every portal session of theirs (in the same
        transaction), and log who did it (never the hash itself)."""

    # -- tokens -----------------------------------------------------------------------
    @abc.abstractmethod
    def adjust_balance(
        self, user: str, amount: int, kind: Literal["grant", "adjustment"], actor: str,
        reason: str,
    ) -> int:
        """Add (or, for an adjustment, take back) tokens; returns the new balance.

        Raises InsufficientTokensError rather than let the balance go negative.
        """

    @abc.abstractmethod
    def balance(self, user: str) -> int: ...

    @abc.abstractmethod
    def ledger(self, user: str | None = None, limit: int = 100) -> list[LedgerEntry]:
        """Newest first."""

    @abc.abstractmethod
    def ledger_of_kinds(
        self, kinds: tuple[LedgerKind, ...], since: datetime | None = None, limit: int = 1000,
    ) -> list[LedgerEntry]:
        """Ledger entries of the given kinds (e.g. grants and adjustments, the admin's
        side of the ledger), at or after ``since``, newest first."""

    # -- calls ------------------------------------------------------------------------
    @abc.abstractmethod
    def begin_call(self, call: NewCall, fresh: bool = False) -> CallRecord | None:
        """Hold the call's cost (in the database, or as a reservation in memory that
        finish_call writes with the whole call).

        Returns None when the call is new. When the call id exists already, nothing is
        written and the existing record is returned (the idempotent replay; a call still
        running has status "running"). Raises UnknownUserError or InsufficientTokensError,
        having written nothing. ``fresh`` says the call id was just made up for this call
        (a random UUID), so it cannot name an earlier call and need not be looked up.
        """

    @abc.abstractmethod
    def finish_call(
        self, call: NewCall, status: CallStatus, latency_ms: float,
        result_json: str | None = None, error: str | None = None, cached: bool = False,
    ) -> Settled | None:
        """Settle a running call: capture its hold on success, release it otherwise.
        ``cached`` marks a call answered from the result cache.

        ``call`` is what was passed to begin_call: the caller knows the user, cost and
        function of the call it settles, so the store need not read them back. Returns
        None (and writes nothing) when the call was already settled, e.g. by the sweep,
        so a hold is never both captured and released; also when no running call has that
        id, user and cost. Otherwise a Settled, with the user's balance when the settlement
        learnt it (the REST API answers with it, so it need not read it back).

        Raises StorageUnavailableError when the outcome cannot be made durable (a full
        disk, an I/O error, a lost database): the call must then not be answered as
        succeeded, and nothing of it may stay charged.
        """

    @abc.abstractmethod
    def get_call(self, call_id: str) -> CallRecord | None: ...

    @abc.abstractmethod
    def list_calls(self, user: str | None = None, limit: int = 100) -> list[CallRecord]:
        """Newest first."""

    @abc.abstractmethod
    def calls_since(self, since: datetime, user: str | None = None) -> list[CallRecord]:
        """Calls started at or after ``since`` (oldest first), for monitoring."""

    @abc.abstractmethod
    def record_failure(self, call_id: str, detail: str) -> None:
        """Keep why a call failed, for admins: written once the call is settled, apart from
        the ledger (a crash in between loses the detail, never a token); a replay of the
        call keeps the first."""

    @abc.abstractmethod
    def failed_calls(self, limit: int = 100, function: str | None = None,
                     user: str | None = None) -> list[FailedCall]:
        """The latest calls that did not succeed, newest first, with their detail."""

    @abc.abstractmethod
    def release_abandoned(self, deadline_before: datetime | None, reason: str) -> list[str]:
        """Release running calls whose deadline is before the given time (None: all).

        Used at start-up with None when the store is not shared (a crash left them; on a
        shared store they may be other replicas' live calls) and by the periodic sweep.
        Each is settled once: written as abandoned, its hold released.
        """

    # -- admin state ------------------------------------------------------------------
    @abc.abstractmethod
    def function_overrides(self) -> dict[str, FunctionOverrides]: ...

    @abc.abstractmethod
    def plugin_overrides(self) -> dict[str, bool]: ...

    @abc.abstractmethod
    def set_function_override(
        self, name: str, field: Literal["enabled", "cost"], value: bool | int,
        before: bool | int | None, actor: str, reason: str,
    ) -> None:
        """Store an admin's change, log it, and raise the state version."""

    @abc.abstractmethod
    def set_plugin_enabled(
        self, name: str, enabled: bool, before: bool, actor: str, reason: str
    ) -> None: ...

    @abc.abstractmethod
    def get_setting(self, key: str) -> str | None: ...

    @abc.abstractmethod
    def set_setting(
        self, key: str, value: str, actor: str, reason: str, *, secret: bool = False
    ) -> None:
        """Store a host-wide setting; logged (a secret's value is not) and versioned."""

    @abc.abstractmethod
    def state_changes(self, limit: int = 100) -> list[StateChange]:
        """The audit log, newest first."""

    @abc.abstractmethod
    def state_version(self) -> int:
        """A number that rises on every toggle, cost change, role change, grant or API key
        revocation (the REST API caches keys and their users per version)."""

    def known_state_version(self) -> int | None:
        """The state version when the store knows it without any I/O, else None (then ask
        state_version, which may read). Lets the REST API check a cached key in its event
        loop instead of a worker thread."""
        return None

    # -- checks -----------------------------------------------------------------------
    @abc.abstractmethod
    def verify_books(self) -> BooksReport: ...

    def storage_problem(self) -> str | None:
        """Why the store cannot write right now, in one line fit for a public health answer
        (no paths): set while the last write failed and none has succeeded since; None when
        writes work (or the engine cannot tell without trying)."""
        return None

    def quarantined_journals(self) -> list[QuarantinedJournal]:
        """Journal files set aside at start-up (an engine without a journal has none)."""
        return []

    # -- REST API keys and metrics ------------------------------------------------------
    @abc.abstractmethod
    def create_api_key(self, key: ApiKey, actor: str) -> None:
        """Store a new key and log its creation (never the hash) in the audit log."""

    @abc.abstractmethod
    def get_api_key(self, key_id: str) -> ApiKey | None: ...

    @abc.abstractmethod
    def list_api_keys(self, user: str | None = None) -> list[ApiKey]:
        """Newest first; revoked keys included."""

    @abc.abstractmethod
    def revoke_api_key(self, key_id: str, actor: str, reason: str) -> bool:
        """Mark the key revoked and log it; False when it was revoked already."""

    @abc.abstractmethod
    def call_metrics(self, buckets_ms: tuple[float, ...]) -> list[CallMetrics]:
        """Totals per function and status since the store began, for /api/metrics."""

    # -- the result cache: every method is a statement or two; the meter treats any error
    # raised here as a miss, never as a failed call --------------------------------------
    @abc.abstractmethod
    def cache_get(self, key: str, now: datetime) -> CachedResult | None:
        """The entry under ``key`` if it expires after ``now``; an expired one is never
        returned (it is left for cache_purge)."""

    @abc.abstractmethod
    def cache_put(self, entry: CachedResult) -> None:
        """Insert the entry, replacing any under the same key (two misses racing for one
        key both store: the last one wins, and either is a right answer)."""

    @abc.abstractmethod
    def cache_clear(self, function: str | None, actor: str, reason: str) -> int:
        """Drop every entry (``function`` None) or one function's; log the clear in the
        audit log and raise the state version, as every admin change does; returns how
        many entries were dropped."""

    @abc.abstractmethod
    def cache_purge(self, versions: dict[str, str], now: datetime) -> int:
        """Housekeeping (not logged): drop entries that expired by ``now``, and entries
        whose function is not in ``versions`` (function name -> current plugin version) or
        was stored by another version. Returns how many were dropped. Called at host start
        and by the sweep; with replicas of different versions (a rolling upgrade) each
        drops the other's entries, which only costs misses."""

    # -- portal sessions and sign-in throttling (shared by replicas) ---------------------
    @abc.abstractmethod
    def create_portal_session(self, session: PortalSession) -> None: ...

    @abc.abstractmethod
    def get_portal_session(self, token_hash: str) -> PortalSession | None:
        """One read by primary key: the portal checks the session on every page run."""

    @abc.abstractmethod
    def touch_portal_session(self, token_hash: str, seen_at: datetime,
                             idle_expires_at: datetime) -> None:
        """Note use of a live session (an ended one stays ended)."""

    @abc.abstractmethod
    def end_portal_session(self, token_hash: str, reason: str, at: datetime) -> bool:
        """End one session; False when it had ended already or does not exist."""

    @abc.abstractmethod
    def end_user_sessions(self, user: str, reason: str, at: datetime,
                          actor: str | None = None) -> int:
        """End every live session of ``user``; returns how many. With an ``actor`` (an
        admin's "sign out everywhere") the audit log records it. Password changes end them
        inside set_password_hash's own transaction."""

    @abc.abstractmethod
    def live_session_count(self, user: str, now: datetime) -> int: ...

    @abc.abstractmethod
    def throttle_take(self, rules: list[ThrottleRule], now: datetime) -> float:
        """Count one attempt under every rule, atomically and all or nothing: returns 0.0
        when every rule allowed it (and it was counted under each), else the seconds until
        the first refusing rule's window ends (and nothing was counted). Concurrent callers
        never exceed a limit between them."""

    @abc.abstractmethod
    def throttle_refund(self, key: str) -> None:
        """Give back one attempt counted under ``key`` (a sign-in that succeeded, a sign-up
        refused for a reason of its own): never below zero, never anyone else's."""

    @abc.abstractmethod
    def purge_sign_in_state(self, now: datetime, keep_ended: float = 86400.0) -> int:
        """Housekeeping (not logged): drop sessions that expired or ended more than
        ``keep_ended`` seconds ago, and throttle windows that are over."""
