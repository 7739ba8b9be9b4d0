"""Signed session cookies and sign-in throttling.

The cookie holds the user name and a fingerprint of their password hash, signed with a
key kept in the store (so sessions survive a restart and replicas share it). Changing a
password ends every session of that user; the signature's timestamp ends a session after
registry.toml's ``users.session_hours``.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from itsdangerous import BadSignature, URLSafeTimedSerializer

from tokenworks.host import Host

COOKIE = "tw_session"
KEY_SETTING = "portal.session_key"


def _serializer(host: Host) -> URLSafeTimedSerializer:
    key = host.store.get_setting(KEY_SETTING)
    if key is None:
        key = secrets.token_urlsafe(48)
        host.store.set_setting(KEY_SETTING, key, "host", "first portal start", secret=True)
        key = host.store.get_setting(KEY_SETTING)  # another thread may have won the race
    return URLSafeTimedSerializer(key, salt="tokenworks-session")


def _fingerprint(host: Host, name: str) -> str | None:
    stored = host.store.password_hash(name)
    return hashlib.sha256(stored.encode()).hexdigest()[:16] if stored else None


def issue(host: Host, name: str) -> str:
    return _serializer(host).dumps({"u": name, "p": _fingerprint(host, name)})


def max_age(host: Host) -> int:
    return int(host.config.users.session_hours * 3600)


def verify(host: Host, token: str) -> str | None:
    """The user name a valid, unexpired token was issued to, else None."""
    try:
        data = _serializer(host).loads(token, max_age=max_age(host))
    except BadSignature:  # also SignatureExpired
        return None
    if not isinstance(data, dict):
        return None
    name = data.get("u")
    if not isinstance(name, str) or data.get("p") != _fingerprint(host, name):
        return None
    return name


@dataclass
class _Failures:
    times: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0


class Throttle:
    """Slow down password guessing: after ``limit`` failures within ``window`` seconds for
    one user name or one client address, refuse attempts for ``lockout`` seconds (doubling
    while the failures go on). One process's memory: each replica throttles on its own."""

    def __init__(self, limit: int = 5, window: float = 900.0, lockout: float = 30.0) -> None:
        self.limit, self.window, self.lockout = limit, window, lockout
        self._lock = threading.Lock()
        self._keys: dict[str, _Failures] = {}

    def wait_seconds(self, *keys: str, now: float | None = None) -> float:
        """0 when an attempt may go ahead, else how long the caller must wait."""
        now = time.monotonic() if now is None else now
        with self._lock:
            until = max((self._keys[k].locked_until for k in keys if k in self._keys),
                        default=0.0)
        return max(0.0, until - now)

    def failed(self, *keys: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            for key in keys:
                entry = self._keys.setdefault(key, _Failures())
                while entry.times and entry.times[0] < now - self.window:
                    entry.times.popleft()
                entry.times.append(now)
                over = len(entry.times) - self.limit
                if over >= 0:
                    entry.locked_until = now + self.lockout * 2 ** min(over, 6)

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._keys.pop(key, None)
