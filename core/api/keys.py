"""Per-user API keys: created (shown once), listed, revoked, and checked on every request.

A key reads ``tw_<key id>_<secret>``. The store keeps the key id, and a SHA-256 hash of
the secret. The secret is 32 random bytes from ``secrets``: with 256 bits of entropy no
guessing attack is feasible, so a fast hash is enough (a slow password KDF such as scrypt
only helps low-entropy secrets chosen by people, and would cost tens of ms per request).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading

from tokenworks.errors import TokenworksError, UnknownUserError
from tokenworks.host import Host
from tokenworks.store import User, utcnow
from tokenworks.store.base import ApiKey

PREFIX = "tw"
KEY_SHAPE = re.compile(r"^tw_([0-9a-f]{12})_([A-Za-z0-9_\-]{43})$")
MAX_NAME = 80


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(host: Host, user: str, name: str, *, actor: str) -> tuple[ApiKey, str]:
    """Create a key for ``user``; returns the stored record and the key (shown once)."""
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise TokenworksError(f"a key needs a name of 1-{MAX_NAME} characters")
    if host.store.get_user(user) is None:
        raise UnknownUserError(f"no such user: {user}")
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    record = ApiKey(key_id, user, name, _hash(secret), utcnow(), None)
    host.store.create_api_key(record, actor)
    return record, f"{PREFIX}_{key_id}_{secret}"


def list_keys(host: Host, user: str | None = None) -> list[ApiKey]:
    return host.store.list_api_keys(user)


def revoke_key(host: Host, key_id: str, *, actor: str, reason: str = "revoked",
               owner: str | None = None) -> bool:
    """Revoke a key (only ``owner``'s, when given); False if it was revoked already.

    Raises TokenworksError when there is no such key (or it is not the owner's).
    """
    key = host.store.get_api_key(key_id)
    if key is None or (owner is not None and key.user != owner):
        raise TokenworksError(f"no API key {key_id!r}")
    return host.store.revoke_api_key(key_id, actor, reason.strip() or "revoked")


class KeyCache:
    """Keys and their users as last read, valid while the store's state version stands.

    Every request is authenticated, and reading the key and its user costs two store reads;
    a revocation and a role change raise the state version, which empties the cache. On
    PostgreSQL another replica's revocation is seen when this one next reads the version
    (within half a second, as for switches and costs).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version: int | None = None
        self._found: dict[str, tuple[ApiKey, User]] = {}

    def peek(self, host: Host, key_id: str) -> tuple[ApiKey, User] | None:
        """The cached key and user when that needs no I/O: the store knows its state version
        without a read and the entry is of that version. None says nothing (ask lookup)."""
        version = host.store.known_state_version()
        if version is None:
            return None
        with self._lock:
            return self._found.get(key_id) if version == self._version else None

    def lookup(self, host: Host, key_id: str) -> tuple[ApiKey, User] | None:
        version = host.store.state_version()
        with self._lock:
            if version != self._version:
                self._found.clear()
                self._version = version
            cached = self._found.get(key_id)
        if cached is not None:
            return cached
        key = host.store.get_api_key(key_id)
        user = host.store.get_user(key.user) if key is not None and key.active else None
        if key is None or user is None:
            return None  # unknown keys are not cached: guessing must not fill memory
        with self._lock:
            if self._version == version:  # not if the version moved while we read
                self._found[key_id] = (key, user)
        return key, user


def verify_key(
    host: Host, token: str, cache: KeyCache | None = None,
) -> tuple[ApiKey, User] | None:
    """The key and its user, if ``token`` is an active key of an existing user."""
    match = KEY_SHAPE.match(token)
    if match is None:
        return None
    return _checked((cache or KeyCache()).lookup(host, match.group(1)), match.group(2))


def verify_cached_key(host: Host, token: str, cache: KeyCache) -> tuple[ApiKey, User] | None:
    """verify_key's answer when the cache can give it without I/O and it is a yes; None
    says nothing (call verify_key, which may read the store). For the event loop."""
    match = KEY_SHAPE.match(token)
    if match is None:
        return None
    return _checked(cache.peek(host, match.group(1)), match.group(2))


def _checked(found: tuple[ApiKey, User] | None, secret: str) -> tuple[ApiKey, User] | None:
    if found is None:
        return None
    key, user = found
    if not key.active or not hmac.compare_digest(key.secret_hash, _hash(secret)):
        return None
    return key, user
