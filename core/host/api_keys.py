"""REST API keys: their shape ``tw_<key id>_<secret>``, how a new one is made, and how a
presented key is checked against the stored record (which keeps only the secret's hash).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from ..errors import TokenworksError
from ..store import utcnow
from ..store.base import ApiKey

PREFIX = "tw"
KEY_SHAPE = re.compile(r"^tw_([0-9a-f]{12})_([A-Za-z0-9_\-]{43})$")
MAX_NAME = 80


def _hash(secret: str) -> str:
    # 256 random bits cannot be guessed, so a fast hash suffices; a slow password KDF
    # would only add its cost to every request.
    return hashlib.sha256(secret.encode()).hexdigest()


def new_key(user: str, name: str) -> tuple[ApiKey, str]:
    """A fresh key for ``user``: the record to store and the key itself (shown once)."""
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise TokenworksError(f"a key needs a name of 1-{MAX_NAME} characters")
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    return ApiKey(key_id, user, name, _hash(secret), utcnow(), None), \
        f"{PREFIX}_{key_id}_{secret}"


def parse_key(token: str) -> tuple[str, str] | None:
    """The key id and secret a presented key carries, or None if it is not key-shaped."""
    match = KEY_SHAPE.match(token)
    return (match.group(1), match.group(2)) if match else None


def opens(key: ApiKey, secret: str) -> bool:
    """Whether ``secret`` is the active ``key``'s (compared in constant time)."""
    return key.active and hmac.compare_digest(key.secret_hash, _hash(secret))
