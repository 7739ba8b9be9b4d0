"""Server-side portal sessions.

The cookie carries a random token, signed with the host's session key
(tokenworks.secret_key) so a forged or stale cookie is refused before any read; the store
keeps a row per session under the token's SHA-256 (so a reader of the database cannot take
one over) with its user, creation, last use, idle expiry and absolute expiry. A session
ends by sign-out, by a password change or an admin's "sign out everywhere" (every session
of the user), by idling for ``users.session_idle_minutes``, after ``users.session_hours``,
and, for every session at once, when the key is rotated (`tokenworks secret rotate`).

Checking a session is one read by primary key; its last use is written at most once a
``TOUCH_EVERY``, not on every page run.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from itsdangerous import BadSignature, Signer

from tokenworks.host import Host
from tokenworks.store import utcnow
from tokenworks.store.base import PortalSession

COOKIE = "tw_session"
TOUCH_EVERY = timedelta(seconds=60)
_SALT = b"tokenworks-session"


def _signer(host: Host) -> Signer:
    return Signer(host.secret.current(), salt=_SALT)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _token(host: Host, cookie: str) -> str | None:
    """The token a cookie carries, if the current key signed it."""
    try:
        return _signer(host).unsign(cookie).decode()
    except (BadSignature, UnicodeDecodeError):
        return None


def max_age(host: Host) -> int:
    return int(host.config.users.session_hours * 3600)


def _idle(host: Host) -> timedelta:
    return timedelta(minutes=host.config.users.session_idle_minutes)


def issue(host: Host, name: str, now: datetime | None = None) -> str:
    """Start a session for ``name``; returns the cookie's value."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    expires = now + timedelta(seconds=max_age(host))
    host.store.create_portal_session(PortalSession(
        _token_hash(token), name, now, now, min(now + _idle(host), expires), expires))
    return _signer(host).sign(token).decode()


def verify(host: Host, cookie: str | None, *, touch: bool = True,
           now: datetime | None = None) -> str | None:
    """The user of a live session the cookie names, else None. ``touch`` notes the use
    (a page run); the open pages' polling of /state does not keep a session alive."""
    token = _token(host, cookie) if cookie else None
    if token is None:
        return None
    now = now or utcnow()
    session = host.store.get_portal_session(_token_hash(token))
    if session is None or not session.live(now):
        return None
    if touch and now - session.last_seen_at >= TOUCH_EVERY:
        host.store.touch_portal_session(session.token_hash, now,
                                        min(now + _idle(host), session.expires_at))
    return session.user


def end(host: Host, cookie: str | None, reason: str = "signed out") -> bool:
    """End the session the cookie names; False if there was none to end."""
    token = _token(host, cookie) if cookie else None
    if token is None:
        return False
    return host.store.end_portal_session(_token_hash(token), reason, utcnow())


def csrf_token(host: Host, cookie: str) -> str:
    """The sign-out form's token: tied to this session and the key, unknown to other
    sites (they cannot read the page or the HttpOnly cookie)."""
    return hmac.new(host.secret.current(), b"csrf\0" + cookie.encode(),
                    hashlib.sha256).hexdigest()


def csrf_ok(host: Host, cookie: str | None, offered: str) -> bool:
    if not cookie or not offered:
        return False
    return hmac.compare_digest(csrf_token(host, cookie), offered)
