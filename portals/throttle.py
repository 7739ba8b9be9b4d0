"""Sign-in and sign-up throttling: the policy (which counters an attempt takes, and the
device cookie that spares a known browser an account's lock-out). The counting is the
Host's (take_attempt, refund_attempt), shared by replicas.
"""

from __future__ import annotations

import secrets

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.requests import Request

from tokenworks.host import Host
from tokenworks.store.base import ThrottleRule

from .client_address import client_address

WINDOW = 15 * 60.0  # seconds
ACCOUNT_LIMIT = 10
ADDRESS_LIMIT = 30
DEVICE_LIMIT = 10
SIGNUP_WINDOW = 3600.0
DEVICE_COOKIE = "tw_device"
DEVICE_DAYS = 365
_DEVICE_SALT = "tokenworks-device"
_NAME_IN_KEY = 64  # longer names cannot exist; the key stays short anyway


def address_key(host: Host, request: Request) -> str:
    return f"ip:{client_address(request, host.config.portal.trusted_proxies)}"


def _device_serializer(host: Host) -> URLSafeSerializer:
    return URLSafeSerializer(host.secret.current(), salt=_DEVICE_SALT)


def device_cookie(host: Host, name: str) -> str:
    """A new device cookie's value for a browser that just signed in as ``name``."""
    return _device_serializer(host).dumps({"u": name, "d": secrets.token_urlsafe(16)})


def _device_of(host: Host, request: Request, name: str) -> str | None:
    """The id of the request's device cookie if it was issued for ``name``."""
    value = request.cookies.get(DEVICE_COOKIE)
    if not value:
        return None
    try:
        data = _device_serializer(host).loads(value)
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("u") != name or not isinstance(data.get("d"), str):
        return None
    return data["d"]


def sign_in_rules(host: Host, request: Request, name: str) -> list[ThrottleRule]:
    device = _device_of(host, request, name)
    if device is not None:
        return [ThrottleRule(f"device:{device}", DEVICE_LIMIT, WINDOW)]
    return [ThrottleRule(f"user:{name.lower()[:_NAME_IN_KEY]}", ACCOUNT_LIMIT, WINDOW),
            ThrottleRule(address_key(host, request), ADDRESS_LIMIT, WINDOW)]


def sign_up_rule(host: Host, request: Request) -> ThrottleRule:
    return ThrottleRule(f"signup:{address_key(host, request).removeprefix('ip:')}",
                        host.config.users.signups_per_hour, SIGNUP_WINDOW)


def wait_text(seconds: float) -> str:
    if seconds <= 90:
        return f"{int(seconds) + 1} s"
    return f"{int(seconds // 60) + 1} min"
