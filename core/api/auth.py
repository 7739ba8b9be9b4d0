"""Dependencies every route shares: the host, the caller (Bearer API key), the admin check.
Anything that may touch the store runs in a worker thread; what needs no I/O runs in the
event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from tokenworks.host import Host
from tokenworks.store import User
from tokenworks.store.base import ApiKey

from .keys import verify_cached_key, verify_key
from .problems import ApiProblem

log = logging.getLogger("tokenworks.api")
bearer = HTTPBearer(auto_error=False, scheme_name="ApiKey", bearerFormat="tw_<id>_<secret>",
                    description="An API key from the portal's API keys page or "
                                "`tokenworks keys create`.")
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="tokenworks"'}


class HostSource:
    """The app's ``get_host``, called per request: in a worker thread until it first
    answered (it may open the host: plugins, the store), then in the event loop (in
    `tokenworks serve` it is then a st.cache_resource hit)."""

    def __init__(self, get_host: Callable[[], Host]) -> None:
        self._get_host = get_host
        self._opened = False

    async def __call__(self) -> Host:
        if self._opened:
            return self._get_host()
        host = await run_in_threadpool(self._get_host)
        self._opened = True
        return host


async def get_host(request: Request) -> Host:
    try:
        return await request.app.state.get_host()
    except Exception as error:
        log.exception("the host is not available")
        raise ApiProblem(503, "unavailable", f"the service is not available: "
                         f"{type(error).__name__}", headers={"Retry-After": "5"}) from None


HostDep = Annotated[Host, Depends(get_host)]


@dataclass(frozen=True)
class Caller:
    user: User
    key: ApiKey


async def get_caller(
    request: Request, host: HostDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    if credentials is None:
        raise ApiProblem(401, "unauthorized", "send an API key: Authorization: Bearer tw_...",
                         headers=CHALLENGE)
    token, keys = credentials.credentials, request.app.state.keys
    found = verify_cached_key(host, token, keys)  # the usual case, no I/O
    if found is None:  # not cached, the version is stale, or not a valid key: may read
        found = await run_in_threadpool(verify_key, host, token, keys)
    if found is None:
        raise ApiProblem(401, "unauthorized", "the API key is unknown or revoked",
                         headers=CHALLENGE)
    key, user = found
    request.app.state.limiter.check(key.key_id)
    return Caller(user, key)


CallerDep = Annotated[Caller, Depends(get_caller)]


async def get_admin(caller: CallerDep) -> Caller:
    if caller.user.role != "admin":  # as of the current state version (KeyCache)
        raise ApiProblem(403, "forbidden", f"{caller.user.name} is not an admin")
    return caller


AdminDep = Annotated[Caller, Depends(get_admin)]
