"""The portal's session cookie: the Host's session token, signed with the host's session
key (tokenworks.secret_key) so a forged or stale cookie is refused before any read, and
the sign-out form's CSRF token. The sessions themselves (expiry, sign-out everywhere) are
the Host's (tokenworks.host.portal_sessions).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from itsdangerous import BadSignature, Signer

from tokenworks.host import Host

COOKIE = "tw_session"
_SALT = b"tokenworks-session"


def _signer(host: Host) -> Signer:
    return Signer(host.secret.current(), salt=_SALT)


def _token(host: Host, cookie: str) -> str | None:
    """The token a cookie carries, if the current key signed it."""
    try:
        return _signer(host).unsign(cookie).decode()
    except (BadSignature, UnicodeDecodeError):
        return None


def max_age(host: Host) -> int:
    return int(host.config.users.session_hours * 3600)


def issue(host: Host, name: str, now: datetime | None = None) -> str:
    """Start a session for ``name``; returns the cookie's value."""
    return _signer(host).sign(host.open_portal_session(name, now)).decode()


def verify(host: Host, cookie: str | None, *, touch: bool = True,
           now: datetime | None = None) -> str | None:
    """The user of a live session the cookie names, else None. ``touch`` notes the use
    (a page run); the open pages' polling of /state does not keep a session alive."""
    token = _token(host, cookie) if cookie else None
    if token is None:
        return None
    return host.portal_session_user(token, touch=touch, now=now)


def end(host: Host, cookie: str | None, reason: str = "signed out") -> bool:
    """End the session the cookie names; False if there was none to end."""
    token = _token(host, cookie) if cookie else None
    if token is None:
        return False
    return host.close_portal_session(token, reason)


def csrf_token(host: Host, cookie: str) -> str:
    """The sign-out form's token: tied to this session and the key, unknown to other
    sites (they cannot read the page or the HttpOnly cookie)."""
    return hmac.new(host.secret.current(), b"csrf\0" + cookie.encode(),
                    hashlib.sha256).hexdigest()


def csrf_ok(host: Host, cookie: str | None, offered: str) -> bool:
    if not cookie or not offered:
        return False
    return hmac.compare_digest(csrf_token(host, cookie), offered)
