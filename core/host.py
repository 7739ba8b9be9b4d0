"""The host: one object per process that owns the plugins, the store and the meter.

Every entry point (CLI, portals, REST API) creates one Host and shares it. The host loads
the plugins for their specs but runs their functions only in worker processes (workers/).
"""

from __future__ import annotations

import functools
import logging
import os
import re
import threading
from datetime import timedelta
from typing import Any

from pydantic import BaseModel

from .catalog import Catalog, FunctionView
from .config import RegistryConfig, load_registry
from .errors import TokenworksError, UnknownUserError
from .loader import Discovery, discover
from .meter import CallOutcome, Meter
from .passwords import generate_password, hash_password, verify_password
from .secret_key import SecretKey
from .store import BooksReport, Store, User, utcnow
from .store.base import Role
from .store.open import open_store
from .workers import WorkerPlan, WorkerPool

log = logging.getLogger("tokenworks.host")
STRICT_ENV = "TOKENWORKS_STRICT"
SELF_SIGNUP = "users.self_signup"
USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@\-]{0,63}$")


def strict_from_env() -> bool:
    return os.environ.get(STRICT_ENV, "").lower() in {"1", "true", "yes", "on"}


class Host:
    def __init__(
        self, config: RegistryConfig, store: Store | None = None, strict: bool | None = None,
        sweep: bool = True, discovery: Discovery | None = None,
    ) -> None:
        self.config = config
        if discovery is None:
            discovery = discover(config, strict_from_env() if strict is None else strict)
        self.discovery = discovery
        self.store: Store = store or open_store(config)
        self.catalog = Catalog(self.discovery, config, self.store)
        if config.invocation.workers is not None:
            log.warning("registry.toml: [invocation] workers is no longer used; function "
                        "calls run in worker processes, sized by [workers] count")
        self.workers = WorkerPool(
            lambda warm: WorkerPlan.of(config, self.discovery, warm), config.workers)
        self.meter = Meter(self.store, self.catalog, self.workers)
        if not self.store.shared:
            # One process owns an embedded store, so any call still "running" at start-up
            # was cut short by a crash: give its tokens back.
            released = self.store.release_abandoned(None, "the host restarted before it finished")
            if released:
                log.warning("released %d holds left by an earlier crash", len(released))
        else:
            # Replicas share the store: a running call may be another replica's, alive and
            # within its deadline. Release only what is overdue, as the periodic sweep does.
            self.sweep()
        # Results of other plugin versions can never match (the key holds the version);
        # dropping them at start keeps the cache from filling up with them.
        purged = self.meter.cache.purge(self._function_versions())
        if purged:
            log.info("result cache: dropped %d expired or out-of-date entries", purged)
        # The portal's session signing key (read on first use, never from the store).
        self.secret = SecretKey(config)
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

    # -- calls ------------------------------------------------------------------------

    def call(
        self, function: str, user: str, payload: dict[str, Any] | BaseModel,
        call_id: str | None = None,
    ) -> CallOutcome:
        return self.meter.call(function, user, payload, call_id)

    def warm(self) -> list[str]:
        """Start the worker processes with every plugin's ``warm`` hook run first, and wait
        for them (servers do, at start); returns the plugins whose warm-up failed (logged;
        they load lazily instead)."""
        self.workers.start(warm=True)
        if not self.workers.wait_ready():
            log.error("the worker processes did not start: %s",
                      "; ".join(self.workers.health()) or "no answer yet")
        return self.workers.warm_failed

    def functions(self) -> list[FunctionView]:
        return self.catalog.views()

    def function(self, name: str) -> FunctionView:
        """One function as callers see it now (switch, cost); UnknownFunctionError if none."""
        return self.catalog.view(name)

    def health(self) -> list[str]:
        """Why the host cannot serve every call now (empty: it can). Fit for anyone to read:
        the reasons name no plugin or function (admins see those in the admin portal)."""
        reasons = [f"workers: {reason}" for reason in self.workers.health()]
        problem = self.store.storage_problem()
        if problem:
            reasons.append(f"storage: {problem}")
        return reasons

    def sweep(self) -> list[str]:
        """Release holds of calls past their deadline plus the grace period."""
        cutoff = utcnow() - timedelta(seconds=self.config.invocation.hold_grace)
        released = self.store.release_abandoned(cutoff, "swept: the call outlived its timeout")
        if released:
            log.warning("sweep released %d stale holds: %s", len(released), ", ".join(released))
        return released

    def _sweep_loop(self) -> None:
        while not self._stop.wait(self.config.invocation.sweep_interval):
            try:
                self.sweep()
            except Exception:  # the sweep must outlive a transient store error
                log.exception("sweep failed")
            self.meter.cache.purge(self._function_versions())  # expired entries
            try:
                self.store.purge_sign_in_state(utcnow())  # old sessions, finished windows
            except Exception:
                log.exception("purging old portal sessions failed")
            self.workers.retire_idle()  # spare workers left over from a busy spell

    # -- users and tokens -------------------------------------------------------------

    def add_user(
        self, name: str, *, role: Role = "user", password: str | None = None, actor: str
    ) -> tuple[User, str | None]:
        """Create a user with the starting grant; returns the generated password, if any."""
        if not USER_NAME.match(name):
            raise TokenworksError(
                f"invalid user name {name!r}: use 1-64 letters, digits or _ . @ -, "
                "starting with a letter or digit")
        if self.store.get_user(name):
            raise TokenworksError(f"user {name!r} exists already")
        generated = None if password else generate_password()
        try:
            password_hash = hash_password(password or generated)
        except ValueError as error:
            raise TokenworksError(str(error)) from None
        user = self.store.create_user(name, role, password_hash,
                                      self.config.users.starting_grant, actor)
        return user, generated

    def balance(self, user: str) -> int:
        """The user's spendable tokens now; UnknownUserError if there is no such user."""
        return self.store.balance(user)

    def grant(self, user: str, amount: int, *, actor: str, reason: str) -> int:
        """Give tokens (amount > 0) or take them back (amount < 0); returns the balance."""
        if amount == 0:
            raise TokenworksError("the amount must not be zero")
        self._require(user, reason)
        kind = "grant" if amount > 0 else "adjustment"
        return self.store.adjust_balance(user, amount, kind, actor, reason.strip())

    def authenticate(self, name: str, password: str) -> User | None:
        """The user if the password is theirs, else None (same work either way)."""
        stored = self.store.password_hash(name)
        # Verify against a throwaway hash for unknown names, so the answer's timing does
        # not tell which user names exist.
        matches = verify_password(password, stored or _decoy_hash())
        return self.store.get_user(name) if stored and matches else None

    def set_password(self, user: str, password: str, *, actor: str, reason: str) -> None:
        """Change a password; every portal session of the user ends with it."""
        self._require(user, reason)
        try:
            password_hash = hash_password(password)
        except ValueError as error:
            raise TokenworksError(str(error)) from None
        self.store.set_password_hash(user, password_hash, actor, reason.strip())

    def end_sessions(self, user: str, *, actor: str, reason: str) -> int:
        """An admin's "sign out everywhere": end every portal session of the user (their
        open pages go to the sign-in page within seconds); audited. Returns how many."""
        self._require(user, reason)
        return self.store.end_user_sessions(user, reason.strip(), utcnow(), actor=actor)

    def self_signup_enabled(self) -> bool:
        """registry.toml's default, unless an admin switched it in the portal since."""
        stored = self.store.get_setting(SELF_SIGNUP)
        return self.config.users.self_signup if stored is None else stored == "true"

    def set_self_signup(self, enabled: bool, *, actor: str, reason: str) -> None:
        _need_reason(reason)
        self.store.set_setting(SELF_SIGNUP, "true" if enabled else "false", actor,
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
        if any(user.role == "admin" for user in self.store.list_users()):
            return None
        name = "admin"
        if self.store.get_user(name) is not None:
            self.set_role(name, "admin", actor="host", reason="first start: no admin yet")
            if password:
                self.set_password(name, password, actor="host", reason="first start")
            return name, None
        try:
            _, generated = self.add_user(name, role="admin", password=password, actor="host")
        except TokenworksError:
            # Replicas starting together on one PostgreSQL store: another one won the race.
            if any(user.role == "admin" for user in self.store.list_users()):
                return None
            raise
        return name, generated

    def set_role(self, user: str, role: Role, *, actor: str, reason: str) -> None:
        self._require(user, reason)
        admins = [u.name for u in self.store.list_users() if u.role == "admin"]
        if role != "admin" and admins == [user]:
            # Nobody could then reach the admin portal to undo it.
            raise TokenworksError(f"{user} is the only admin: make another admin first")
        self.store.set_role(user, role, actor, reason.strip())

    def _require(self, user: str, reason: str) -> None:
        _need_reason(reason)
        if self.store.get_user(user) is None:
            raise UnknownUserError(f"no such user: {user}")

    # -- switches and costs -----------------------------------------------------------

    def set_function_enabled(self, name: str, enabled: bool, *, actor: str, reason: str) -> bool:
        """Switch a function on or off; returns False when it already was so."""
        view = self.catalog.view(name)
        _need_reason(reason)
        if view.function_enabled == enabled:
            return False
        self.store.set_function_override(name, "enabled", enabled, view.function_enabled,
                                         actor, reason.strip())
        return True

    def set_plugin_enabled(self, plugin: str, enabled: bool, *, actor: str, reason: str) -> bool:
        record = self.discovery.plugin(plugin)
        if record is None:
            raise TokenworksError(f"no plugin named {plugin!r}")
        _need_reason(reason)
        before = self.catalog.plugin_enabled(plugin)
        if before == enabled:
            return False
        self.store.set_plugin_enabled(plugin, enabled, before, actor, reason.strip())
        return True

    def set_cost(self, name: str, cost: int, *, actor: str, reason: str) -> None:
        view = self.catalog.view(name)
        _need_reason(reason)
        if isinstance(cost, bool) or not isinstance(cost, int) or cost < 0:
            raise TokenworksError("a cost is a whole number of tokens, 0 or more")
        self.store.set_function_override(name, "cost", cost, view.cost, actor, reason.strip())

    # -- the result cache ---------------------------------------------------------------

    def clear_cache(self, function: str | None, *, actor: str, reason: str) -> int:
        """Drop every cached result, or one function's; returns how many were dropped."""
        if function is not None:
            self.catalog.view(function)  # an unknown name is an error, not "0 dropped"
        _need_reason(reason)
        return self.meter.cache.clear(function, actor, reason.strip())

    def _function_versions(self) -> dict[str, str]:
        return {name: function.spec.plugin_version
                for name, function in self.discovery.functions.items()}

    def verify_books(self) -> BooksReport:
        return self.store.verify_books()

    # -- lifecycle --------------------------------------------------------------------

    def close(self) -> None:
        self._stop.set()
        self.meter.shutdown()
        self.store.close()

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
