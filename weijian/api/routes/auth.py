"""Login: a user name and password for a bearer token with an expiry (limited per account and
per address, the password checked in a pool of its own: ``cases/logins.py``); who am I;
logout."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from pydantic import BaseModel, Field

from weijian.api.dependencies import CasesDep, Credentials, CurrentUser, client_address
from weijian.cases import users

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class Login(BaseModel):
    username: str = Field(examples=["admin"])
    password: str


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime
    user: dict


async def _login(request: Request, username: str, password: str) -> TokenOut:
    logins = request.app.state.logins
    token, expires, principal = await logins.login(username, password, client_address(request))
    return TokenOut(access_token=token, expires_at=expires, user=principal.as_json())


LIMITS = {
    401: {"description": "wrong user name or password, or the account is locked"},
    429: {"description": "too many failed logins: wait Retry-After seconds"},
}


@router.post(
    "/login",
    response_model=TokenOut,
    summary="Log in (JSON): a bearer token",
    responses=LIMITS,
)
async def login(body: Login, request: Request) -> TokenOut:
    return await _login(request, body.username, body.password)


@router.post(
    "/token",
    response_model=TokenOut,
    summary="Log in (OAuth2 password form)",
    responses=LIMITS,
)
async def token(
    request: Request,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
) -> TokenOut:
    return await _login(request, username, password)


@router.get("/me", summary="The user behind the token")
def me(user: CurrentUser) -> dict:
    return user.as_json()


@router.post("/logout", status_code=204, summary="Revoke the token")
def logout(user: CurrentUser, cases: CasesDep, credentials: Credentials) -> None:
    with cases.engine.begin() as conn:
        users.logout(conn, credentials.credentials, cases.clock.now())
