"""Request dependencies: the engine, the jurisdiction snapshot, the case service and the user
behind the request — all set up by the lifespan in the app state."""

from __future__ import annotations

import ipaddress
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine

from weijian.cases import users
from weijian.cases.scope import Principal
from weijian.cases.service import CaseService
from weijian.errors import NotAuthenticated, PermissionDenied
from weijian.jurisdiction.snapshot import SnapshotHolder

bearer = HTTPBearer(auto_error=False, description="the token from POST /api/v1/auth/login")

# the three getters below only read the app state: async, so that FastAPI calls them in the
# event loop instead of sending each to the threadpool on every request


async def get_engine(request: Request) -> Engine:
    return request.app.state.engine


async def get_jurisdiction(request: Request) -> SnapshotHolder:
    return request.app.state.jurisdiction


def cases_of(request: Request) -> CaseService:
    return request.app.state.cases


async def get_cases(request: Request) -> CaseService:
    return cases_of(request)


EngineDep = Annotated[Engine, Depends(get_engine)]
JurisdictionDep = Annotated[SnapshotHolder, Depends(get_jurisdiction)]
CasesDep = Annotated[CaseService, Depends(get_cases)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def optional_user(cases: CasesDep, credentials: Credentials) -> Principal | None:
    if credentials is None:
        return None
    with cases.engine.connect() as conn:
        return users.principal_for_token(conn, credentials.credentials, cases.clock.now())


def user_of(cases: CaseService, authorization: str) -> Principal | None:
    """The user of an ``Authorization: Bearer …`` header, for routes that answer everyone and
    show more to some (read by hand there, off the hot path of anonymous requests)."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    with cases.engine.connect() as conn:
        return users.principal_for_token(conn, token.strip(), cases.clock.now())


def current_user(user: Annotated[Principal | None, Depends(optional_user)]) -> Principal:
    if user is None:
        raise NotAuthenticated(
            "请先登录：此操作需要登录用户，请登录后在请求头中携带登录凭证",
            code="auth.required",
            detail="this needs a logged-in user",
            hint="log in with POST /api/v1/auth/login and send Authorization: Bearer <token>",
        )
    return user


def admin_user(user: Annotated[Principal, Depends(current_user)]) -> Principal:
    if user.role != "admin":
        raise PermissionDenied(
            f"此操作仅限系统管理员；您当前是 {user.username}（{user.role}），请联系系统管理员办理",
            code="permission.admin_required",
            detail=f"this needs an administrator; you are {user.username} ({user.role})",
            hint="ask an administrator",
        )
    return user


OptionalUser = Annotated[Principal | None, Depends(optional_user)]
CurrentUser = Annotated[Principal, Depends(current_user)]
AdminUser = Annotated[Principal, Depends(admin_user)]


def _trusted(host: str, proxies: list[str]) -> bool:
    try:
        address = ipaddress.ip_address(host.strip())
    except ValueError:
        return False
    for proxy in proxies:
        try:
            if address in ipaddress.ip_network(proxy.strip(), strict=False):
                return True
        except ValueError:
            continue
    return False


def client_address(request: Request) -> str:
    """The address of the client behind the request (what logins and citizens' reports are
    limited by): the peer's, or — when the peer is one of the settings' ``trusted_proxies`` —
    the right-most hop of ``X-Forwarded-For`` that is not one of them (what a client writes
    into the header itself lies to the left and is never read)."""
    trusted_proxies = request.app.state.cases.settings.trusted_proxies
    peer = request.client.host if request.client else "unknown"
    if not request.client or not trusted_proxies or not _trusted(peer, trusted_proxies):
        return peer
    hops = [
        hop.strip()
        for header in request.headers.getlist("x-forwarded-for")
        for hop in header.split(",")
        if hop.strip()
    ]
    for hop in reversed(hops):
        if not _trusted(hop, trusted_proxies):
            return hop[:64]
    return hops[0][:64] if hops else peer
