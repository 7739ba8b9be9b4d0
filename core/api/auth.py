"""Dependencies every route shares: the host, the caller (Bearer API key), the admin check.

Sync functions on purpose: FastAPI runs them in its thread pool, so a store read never
blocks the event loop the portals share.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tokenworks.host import Host
from tokenworks.store import User
from tokenworks.store.base import ApiKey

from .keys import verify_key
from .problems import ApiProblem

log = logging.getLogger("tokenworks.api")
bearer = HTTPBearer(auto_error=False, scheme_name="ApiKey", bearerFormat="tw_<id>_<secret>",
                    description="An API key from the portal's API keys page or "
                                "`tokenworks keys create`.")
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="tokenworks"'}


def get_host(request: Request) -> Host:
    try:
        return request.app.state.get_host()
    except Exception as error:
        log.exception("the host is not available")
        raise ApiProblem(503, "unavailable", f"the service is not available: "
                         f"{type(error).__name__}", headers={"Retry-After": "5"}) from None


HostDep = Annotated[Host, Depends(get_host)]


@dataclass(frozen=True)
class Caller:
    user: User
    key: ApiKey


def get_caller(
    request: Request, host: HostDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    if credentials is None:
        raise ApiProblem(401, "unauthorized", "send an API key: Authorization: Bearer tw_...",
                         headers=CHALLENGE)
    found = verify_key(host, credentials.credentials, request.app.state.keys)
    if found is None:
        raise ApiProblem(401, "unauthorized", "the API key is unknown or revoked",
                         headers=CHALLENGE)
    key, user = found
    request.app.state.limiter.check(key.key_id)
    return Caller(user, key)


CallerDep = Annotated[Caller, Depends(get_caller)]


def get_admin(caller: CallerDep) -> Caller:
    if caller.user.role != "admin":  # as of the current state version (KeyCache)
        raise ApiProblem(403, "forbidden", f"{caller.user.name} is not an admin")
    return caller


AdminDep = Annotated[Caller, Depends(get_admin)]
