"""The API's check of the key on every request: a cache of keys and their users, valid
while the host's state version stands, so a request usually needs no store read.

Keys are created, listed and revoked through the Host; their shape and the secret check
are tokenworks.host.api_keys'.
"""

from __future__ import annotations

import threading

from tokenworks.host import Host
from tokenworks.host.api_keys import opens, parse_key
from tokenworks.store import User
from tokenworks.store.base import ApiKey


class KeyCache:
    """Keys and their users as last read, valid while the host's state version stands.

    A revocation and a role change raise the state version, which empties the cache. On
    PostgreSQL another replica's revocation is seen when this one next reads the version,
    as for switches and costs.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version: int | None = None
        self._found: dict[str, tuple[ApiKey, User]] = {}

    def peek(self, host: Host, key_id: str) -> tuple[ApiKey, User] | None:
        """The cached key and user when that needs no I/O: the host knows its state version
        without a read and the entry is of that version. None says nothing (ask lookup)."""
        version = host.known_state_version()
        if version is None:
            return None
        with self._lock:
            return self._found.get(key_id) if version == self._version else None

    def lookup(self, host: Host, key_id: str) -> tuple[ApiKey, User] | None:
        version = host.state_version()
        with self._lock:
            if version != self._version:
                self._found.clear()
                self._version = version
            cached = self._found.get(key_id)
        if cached is not None:
            return cached
        key = host.api_key(key_id)
        user = host.user(key.user) if key is not None and key.active else None
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
    parsed = parse_key(token)
    if parsed is None:
        return None
    key_id, secret = parsed
    return _checked((cache or KeyCache()).lookup(host, key_id), secret)


def verify_cached_key(host: Host, token: str, cache: KeyCache) -> tuple[ApiKey, User] | None:
    """verify_key's answer when the cache can give it without I/O and it is a yes; None
    says nothing (call verify_key, which may read the store). For the event loop."""
    parsed = parse_key(token)
    if parsed is None:
        return None
    key_id, secret = parsed
    return _checked(cache.peek(host, key_id), secret)


def _checked(found: tuple[ApiKey, User] | None, secret: str) -> tuple[ApiKey, User] | None:
    if found is None or not opens(found[0], secret):
        return None
    return found
