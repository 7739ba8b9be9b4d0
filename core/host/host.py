"""Host: one object per process, the only door through which the portals, the REST API
and the CLI reach the plugins, the catalog, the meter and the store.

Its public methods are everything a caller may read or change; the parts behind it are
private. Every change takes an actor and (for admin changes) a reason for the audit log.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ..catalog import Catalog, FunctionView
from ..config import RegistryConfig, load_registry
from ..errors import TokenworksError, UnknownUserError
from ..loader import Discovery
from ..meter import CallOutcome, Meter
from ..passwords import generate_password, hash_password, verify_password
from ..secret_key import SecretKey
from ..store import BooksReport, CallRecord, LedgerEntry, StateChange, Store, User, utcnow
from ..store.base import ApiKey, CallMetrics, QuarantinedJournal, Role, ThrottleRule
from ..store.open import open_store
from ..workers import WorkerPlan, WorkerPool
from .api_keys import new_key
from .plugins import PluginView, discover_plugins
from .portal_sessions import PortalSessions

if TYPE_CHECKING:
    from ..store.base import FailedCall

log = logging.getLogger("tokenworks.host")
SELF_SIGNUP = "users.self_signup"
USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@\-]{0,63}$")
GRANT_KINDS = ("grant", "adjustment")  # the ledger entries Host.grant writes


class Host:
    def __init__(
        self, config: RegistryConfig, store: Store | None = None, strict: bool | None = None,
        sweep: bool = True, discovery: Discovery | None = None,
    ) -> None:
        self._config = config
        self._discovery = discovery or discover_plugins(config, strict)
        self._store: Store = store or open_store(config)
        self._catalog = Catalog(self._discovery, config, self._store)
        if config.invocation.workers is not None:
            log.warning("registry.toml: [invocation] workers is no longer used; function "
                        "calls run in worker processes, sized by [workers] count")
        self._workers = WorkerPool(
            lambda warm: WorkerPlan.of(config, self._discovery, warm), config.workers)
        self._meter = Meter(self._store, self._catalog, self._workers)
        self._sessions = PortalSessions(self._store, config.users)
        if not self._store.shared:
            # One process owns an embedded store, so any call still "running" at start-up
            # was cut short by a crash: give its tokens back.
            released = self._store.release_abandoned(None,
                                                     "the host restarted before it finished")
            if released:
                log.warning("released %d holds left by an earlier crash", len(released))
        else:
            # Replicas share the store: a running call may be another replica's, alive and
            # within its deadline. Release only what is overdue, as the periodic sweep does.
            self.sweep()
        # Results of other plugin versions can never match (the key holds the version);
        # dropping them at start keeps the cache from filling up with them.
        purged = self._meter.cache.purge(self._function_versions())
        if purged:
            log.info("result cache: dropped %d expired or out-of-date entries", purged)
        self._secret = SecretKey(config)  # read on first use, never from the store
        self._stop = threading.Event()
        self._sweeper = threading.Thread(target=self._sweep_loop, name="tokenworks-sweep",
                                         daemon=True)
        if sweep:
            self._sweeper.start()

    @classmethod
    def from_registry(
        cls, registry: str | None = None, store_path: str | None = None, **options: Any
    ) -> Host:
        return cls(load_registry(registry, store_path), **options)

    @property
    def config(self) -> RegistryConfig:
        """registry.toml as loaded at start (read it; the host never changes it)."""
        return self._config

    @property
    def secret(self) -> SecretKey:
        """The portal's cookie signing key (a file, re-read when rotated)."""
        return self._secret

    # -- calls --------------------------------------------------------------------------

    def call(
        self, function: str, user: str, payload: dict[str, Any] | BaseModel,
        call_id: str | None = None,
    ) -> CallOutcome:
        """Run a function for a user, metered. A refusal raises CallRefused (nothing was
        charged); anything else is the outcome, with the balance after it."""
        return self._meter.call(function, user, payload, call_id)

    def functions(self) -> list[FunctionView]:
        return self._catalog.views()

    def function(self, name: str) -> FunctionView:
        """One function as callers see it now (switch, cost); UnknownFunctionError if none."""
        return self._catalog.view(name)

    def call_record(self, call_id: str) -> CallRecord | None:
        return self._store.get_call(call_id)

    def calls(self, user: str | None = None, limit: int = 100) -> list[CallRecord]:
        """Calls, newest first: everyone's, or one user's."""
        return self._store.list_calls(user, limit)

    def calls_since(self, since: datetime, user: str | None = None) -> list[CallRecord]:
        return self._store.calls_since(since, user)

    def failed_calls(self, limit: int = 100, function: str | None = None,
                     user: str | None = None) -> list[FailedCall]:
        """Calls that did not succeed, newest first, with why (for admins only)."""
        return self._store.failed_calls(limit, function=function, user=user)

    def call_metrics(self, buckets_ms: tuple[float, ...] = ()) -> list[CallMetrics]:
        """Calls, tokens and latency per function and status, since the store began."""
        return self._store.call_metrics(buckets_ms)

    def warm(self) -> list[str]:
        """Start the worker processes with every plugin's ``warm`` hook run first, and wait
        for them (servers do, at start); returns the plugins whose warm-up failed (logged;
        they load lazily instead)."""
        self._workers.start(warm=True)
        if not self._workers.wait_ready():
            log.error("the worker processes did not start: %s",
                      "; ".join(self._workers.health()) or "no answer yet")
        return self._workers.warm_failed

    # -- health ---------------------------------------------------------------------------

    def health(self) -> list[str]:
        """Why the host cannot serve every call now (empty: it can). Fit for anyone to read:
        the reasons name no plugin or function (admins see those in the admin portal)."""
        reasons = [f"workers: {reason}" for reason in self._workers.health()]
        problem = self._store.storage_problem()
        if problem:
            reasons.append(f"storage: {problem}")
        return reasons

    def ping(self) -> None:
        """Ask the store a real question; raises its error when it cannot answer."""
        self._store.get_setting("api.health")

    def worker_stats(self) -> dict[str, int]:
        """The worker processes now: how many, idle, calls running and waiting."""
        return self._workers.stats()

    def quarantined_journals(self) -> list[QuarantinedJournal]:
        """Call journal files the store set aside at start-up (damaged or failing checks)."""
        return self._store.quarantined_journals()

    def state_version(self) -> int:
        """A number that moves whenever a switch, cost, role, grant or key changes."""
        return self._store.state_version()

    def known_state_version(self) -> int | None:
        """state_version when the store knows it without I/O, else None."""
        return self._store.known_state_version()

    def sweep(self) -> list[str]:
        """Release holds of calls past their deadline plus the grace period."""
        cutoff = utcnow() - timedelta(seconds=self._config.invocation.hold_grace)
        released = self._store.release_abandoned(cutoff, "swept: the call outlived its timeout")
        if released:
            log.warning("sweep released %d stale holds: %s", len(released), ", ".join(released))
        return released

    def _sweep_loop(self) -> None:
        while not self._stop.wait(self._config.invocation.sweep_interval):
            try:
                self.sweep()
            except Exception:  # the sweep must outlive a transient store error
                log.exception("sweep failed")
            self._meter.cache.purge(self._function_versions())  # expired entries
            try:
                self._store.purge_sign_in_state(utcnow())  # old sessions, finished windows
            except Exception:
                log.exception("purging old portal sessions failed")
            self._workers.retire_idle()  # spare workers left over from a busy spell

    # -- users and tokens -------------------------------------------------------------

    def user(self, name: str) -> User | None:
        return self._store.get_user(name)

    def users(self) -> list[User]:
        return self._store.list_users()

    def balance(self, user: str) -> int:
        """The user's spendable tokens now; UnknownUserError if there is no such user."""
        return self._store.balance(user)

    def ledger(self, user: str | None = None, limit: int = 100) -> list[LedgerEntry]:
        """Ledger entries, newest first: everyone's, or one user's statement."""
        return self._store.ledger(user, limit=limit)

    def grants(self, since: datetime | None = None, limit: int = 1000) -> list[LedgerEntry]:
        """Grants and take-backs (the admins' side of the ledger), newest first."""
        return self._store.ledger_of_kinds(GRANT_KINDS, since, limit)

    def add_user(
        self, name: str, *, role: Role = "user", password: str | None = None, actor: str
    ) -> tuple[User, str | None]:
        """Create a user with the starting grant; returns the generated password, if any."""
        if not USER_NAME.match(name):
            raise TokenworksError(
                f"invalid user name {name!r}: use 1-64 letters, digits or _ . @ -, "
                "starting with a letter or digit")
        if self._store.get_user(name):
            raise TokenworksError(f"user {name!r} exists already")
        generated = None if password else generate_password()
        try:
            password_hash = hash_password(password or generated)
        except ValueError as error:
            raise TokenworksError(str(error)) from None
        user = self._store.create_user(name, role, password_hash,
                                       self._config.users.starting_grant, actor)
        return user, generated

    def grant(self, user: str, amount: int, *, actor: str, reason: str) -> int:
        """Give tokens (amount > 0) or take them back (amount < 0); returns the balance."""
        if amount == 0:
            raise TokenworksError("the amount must not be zero")
        self._require(user, reason)
        kind = GRANT_KINDS[0] if amount > 0 else GRANT_KINDS[1]
        return self._store.adjust_balance(user, amount, kind, actor, reason.strip())

    def authenticate(self, name: str, password: str) -> User | None:
        """The user if the password is theirs, else None (same work either way)."""
        stored = self._store.password_hash(name)
        # Verify against a throwaway hash for unknown names, so the answer's timing does
        # not tell which user names exist.
        matches = verify_password(password, stored or _decoy_hash())
        return self._store.get_user(name) if stored and matches else None

    def set_password(self, user: str, password: str, *, actor: str, reason: str) -> None:
        """Change a password; every portal session of the user ends with it."""
        self._require(user, reason)
        try:
            password_hash = hash_password(password)
        except ValueError as error:
            raise TokenworksError(str(error)) from None
        self._store.set_password_hash(user, password_hash, actor, reason.strip())

    def self_signup_enabled(self) -> bool:
        """registry.toml's default, unless an admin switched it in the portal since."""
        stored = self._store.get_setting(SELF_SIGNUP)
        return self._config.users.self_signup if stored is None else stored == "true"

    def set_self_signup(self, enabled: bool, *, actor: str, reason: str) -> None:
        _need_reason(reason)
        self._store.set_setting(SELF_SIGNUP, "true" if enabled else "false", actor,
                                reason.strip())

    def sign_up(self, name: str, password: str) -> User:
        """A person creating their own account: only while self sign-up is on."""
        if not self.self_signup_enabled():
            raise TokenworksError("sign-up is switched off; ask an admin for an account")
        user, _ = self.add_user(name, password=password, actor=f"signup:{name}")
        return user

    def ensure_first_admin(self, password: str | None = None) -> tuple[str, str | None] | None:
        """Give a store without any admin its first one, named ``admin``.

        Returns None when an admin exists, else the name and the generated password (None
        when the caller supplied one): the caller shows it once.
        """
        if self._has_admin():
            return None
        name = "admin"
        if self._store.get_user(name) is not None:
            self.set_role(name, "admin", actor="host", reason="first start: no admin yet")
            if password:
                self.set_password(name, password, actor="host", reason="first start")
            return name, None
        try:
            _, generated = self.add_user(name, role="admin", password=password, actor="host")
        except TokenworksError:
            # Replicas starting together on one PostgreSQL store: another one won the race.
            if self._has_admin():
                return None
            raise
        return name, generated

    def set_role(self, user: str, role: Role, *, actor: str, reason: str) -> None:
        self._require(user, reason)
        admins = [u.name for u in self._store.list_users() if u.role == "admin"]
        if role != "admin" and admins == [user]:
            # Nobody could then reach the admin portal to undo it.
            raise TokenworksError(f"{user} is the only admin: make another admin first")
        self._store.set_role(user, role, actor, reason.strip())

    def _has_admin(self) -> bool:
        return any(user.role == "admin" for user in self._store.list_users())

    def _require(self, user: str, reason: str) -> None:
        _need_reason(reason)
        if self._store.get_user(user) is None:
            raise UnknownUserError(f"no such user: {user}")

    # -- portal sessions and sign-in throttling -----------------------------------------

    def open_portal_session(self, user: str, now: datetime | None = None) -> str:
        """Start a portal session for ``user``; returns its token (the portal's cookie
        carries it, signed)."""
        return self._sessions.open(user, now or utcnow())

    def portal_session_user(self, token: str, *, touch: bool = True,
                            now: datetime | None = None) -> str | None:
        """The user of the live portal session ``token`` names, else None; ``touch``
        counts it as a use (a page run), which keeps an idle session alive."""
        return self._sessions.user_of(token, now or utcnow(), touch)

    def close_portal_session(self, token: str, reason: str) -> bool:
        """End one portal session (sign-out); False if there was none to end."""
        return self._sessions.close(token, reason, utcnow())

    def end_sessions(self, user: str, *, actor: str, reason: str) -> int:
        """An admin's "sign out everywhere": end every portal session of the user (their
        open pages go to the sign-in page within seconds); audited. Returns how many."""
        self._require(user, reason)
        return self._store.end_user_sessions(user, reason.strip(), utcnow(), actor=actor)

    def take_attempt(self, rules: list[ThrottleRule]) -> float:
        """Count a sign-in or sign-up attempt under every rule: 0 when all allow it, else
        the seconds to wait (and nothing was counted)."""
        return self._store.throttle_take(rules, utcnow())

    def refund_attempt(self, rules: list[ThrottleRule]) -> None:
        """Give back the attempt take_attempt counted (a sign-in that succeeded)."""
        for rule in rules:
            self._store.throttle_refund(rule.key)

    # -- API keys -----------------------------------------------------------------------

    def create_api_key(self, user: str, name: str, *, actor: str) -> tuple[ApiKey, str]:
        """A new key for ``user``: the stored record, and the key itself (shown once)."""
        record, key = new_key(user, name)
        if self._store.get_user(user) is None:
            raise UnknownUserError(f"no such user: {user}")
        self._store.create_api_key(record, actor)
        return record, key

    def api_keys(self, user: str | None = None) -> list[ApiKey]:
        """Keys (never their secrets): everyone's, or one user's."""
        return self._store.list_api_keys(user)

    def api_key(self, key_id: str) -> ApiKey | None:
        return self._store.get_api_key(key_id)

    def revoke_api_key(self, key_id: str, *, actor: str, reason: str = "revoked",
                       owner: str | None = None) -> bool:
        """Revoke a key (only ``owner``'s, when given); False if it was revoked already.
        TokenworksError when there is no such key (or it is not the owner's)."""
        key = self._store.get_api_key(key_id)
        if key is None or (owner is not None and key.user != owner):
            raise TokenworksError(f"no API key {key_id!r}")
        return self._store.revoke_api_key(key_id, actor, reason.strip() or "revoked")

    # -- plugins, switches and costs ----------------------------------------------------

    def plugins(self) -> list[PluginView]:
        """Every plugin discovery found, in discovery order, with its switch now."""
        switches = self._store.plugin_overrides()
        return [PluginView(record, switches.get(record.name, True))
                for record in self._discovery.plugins]

    def plugin(self, name: str) -> PluginView | None:
        record = self._discovery.plugin(name)
        if record is None:
            return None
        return PluginView(record, self._catalog.plugin_enabled(name))

    def plugin_warnings(self) -> list[str]:
        """What discovery noticed without failing a plugin (e.g. a name used twice)."""
        return list(self._discovery.warnings)

    def set_function_enabled(self, name: str, enabled: bool, *, actor: str, reason: str) -> bool:
        """Switch a function on or off; returns False when it already was so."""
        view = self._catalog.view(name)
        _need_reason(reason)
        if view.function_enabled == enabled:
            return False
        self._store.set_function_override(name, "enabled", enabled, view.function_enabled,
                                          actor, reason.strip())
        return True

    def set_plugin_enabled(self, plugin: str, enabled: bool, *, actor: str, reason: str) -> bool:
        if self._discovery.plugin(plugin) is None:
            raise TokenworksError(f"no plugin named {plugin!r}")
        _need_reason(reason)
        before = self._catalog.plugin_enabled(plugin)
        if before == enabled:
            return False
        self._store.set_plugin_enabled(plugin, enabled, before, actor, reason.strip())
        return True

    def set_cost(self, name: str, cost: int, *, actor: str, reason: str) -> None:
        view = self._catalog.view(name)
        _need_reason(reason)
        if isinstance(cost, bool) or not isinstance(cost, int) or cost < 0:
            raise TokenworksError("a cost is a whole number of tokens, 0 or more")
        self._store.set_function_override(name, "cost", cost, view.cost, actor, reason.strip())

    # -- the result cache and the books -------------------------------------------------

    def clear_cache(self, function: str | None, *, actor: str, reason: str) -> int:
        """Drop every cached result, or one function's; returns how many were dropped."""
        if function is not None:
            self._catalog.view(function)  # an unknown name is an error, not "0 dropped"
        _need_reason(reason)
        return self._meter.cache.clear(function, actor, reason.strip())

    def _function_versions(self) -> dict[str, str]:
        return {name: function.spec.plugin_version
                for name, function in self._discovery.functions.items()}

    def audit(self, limit: int = 100) -> list[StateChange]:
        """The audit log of admin changes, newest first."""
        return self._store.state_changes(limit)

    def verify_books(self) -> BooksReport:
        return self._store.verify_books()

    # -- lifecycle --------------------------------------------------------------------

    def close(self) -> None:
        self._stop.set()
        self._meter.shutdown()
        self._store.close()

    def __enter__(self) -> Host:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@functools.cache
def _decoy_hash() -> str:
    """A real scrypt hash of a random password: checking it costs what a real check does."""
    return hash_password(generate_password())


def _need_reason(reason: str) -> None:
    if not reason or not reason.strip():
        raise TokenworksError("a reason is required")
