"""Which address a sign-in or sign-up comes from, for throttling: X-Forwarded-For is
believed only from registry.toml's ``[portal] trusted_proxies``; an IPv6 client counts by
its /64 network.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import lru_cache

from starlette.requests import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=16)
def parse_networks(values: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(value, strict=False) for value in values)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1:text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address | None,
             proxies: Sequence[Network]) -> bool:
    return address is not None and any(address in network for network in proxies)


def client_address(request: Request, trusted_proxies: Sequence[str]) -> str:
    """The client's address as a throttle key part: an IPv4 address or an IPv6 /64."""
    proxies = parse_networks(tuple(trusted_proxies))
    peer = _address(request.client.host) if request.client else None
    client = peer
    if _trusted(peer, proxies):
        forwarded = ",".join(request.headers.getlist("x-forwarded-for")).split(",")
        for hop in reversed([hop for hop in forwarded if hop.strip()]):
            hop_address = _address(hop)
            if hop_address is None:
                break  # garbage from the client's side: the last proxy's peer is all we know
            client = hop_address
            if not _trusted(hop_address, proxies):
                break
    if client is None:
        return "unknown"
    if isinstance(client, ipaddress.IPv6Address):
        if client.ipv4_mapped is not None:
            return str(client.ipv4_mapped)
        return str(ipaddress.IPv6Network((client, 64), strict=False))
    return str(client)


def is_https(request: Request, trusted_proxies: Sequence[str]) -> bool:
    """Whether the browser reached us over HTTPS (directly, or through a trusted proxy that
    says so), so cookies can be marked Secure."""
    if request.url.scheme == "https":
        return True
    peer = _address(request.client.host) if request.client else None
    if not _trusted(peer, parse_networks(tuple(trusted_proxies))):
        return False
    return request.headers.get("x-forwarded-proto", "").split(",")[-1].strip() == "https"
