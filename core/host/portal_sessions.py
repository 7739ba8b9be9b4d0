"""Portal sign-in sessions as the host keeps them: a random token the portal hands the
browser (signed into a cookie there), stored only as its SHA-256, with an idle expiry and
an absolute one from registry.toml's [users] settings.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from ..config import UserSettings
from ..store import Store
from ..store.base import PortalSession

TOUCH_EVERY = timedelta(seconds=60)  # a session's last use is written at most this often


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class PortalSessions:
    def __init__(self, store: Store, settings: UserSettings) -> None:
        self._store = store
        self._idle = timedelta(minutes=settings.session_idle_minutes)
        self.lifetime = timedelta(hours=settings.session_hours)

    def open(self, user: str, now: datetime) -> str:
        """Start a session for ``user``; returns its token."""
        token = secrets.token_urlsafe(32)
        expires = now + self.lifetime
        self._store.create_portal_session(PortalSession(
            token_hash(token), user, now, now, min(now + self._idle, expires), expires))
        return token

    def user_of(self, token: str, now: datetime, touch: bool) -> str | None:
        """The user of the live session ``token`` names, else None; ``touch`` counts this
        as a use (which moves the idle expiry on)."""
        session = self._store.get_portal_session(token_hash(token))
        if session is None or not session.live(now):
            return None
        if touch and now - session.last_seen_at >= TOUCH_EVERY:
            self._store.touch_portal_session(session.token_hash, now,
                                             min(now + self._idle, session.expires_at))
        return session.user

    def close(self, token: str, reason: str, now: datetime) -> bool:
        """End the session ``token`` names; False if there was none to end."""
        return self._store.end_portal_session(token_hash(token), reason, now)
