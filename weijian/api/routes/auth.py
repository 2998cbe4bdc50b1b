"""Login: a user name and password for a bearer token with an expiry; who am I; logout."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form
from pydantic import BaseModel, Field

from weijian.api.dependencies import CasesDep, Credentials, CurrentUser
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


def _login(cases, username: str, password: str) -> TokenOut:
    with cases.engine.begin() as conn:
        token, expires, principal = users.login(
            conn, username, password, cases.clock.now(), cases.settings.token_hours
        )
    return TokenOut(access_token=token, expires_at=expires, user=principal.as_json())


@router.post("/login", response_model=TokenOut, summary="Log in (JSON): a bearer token")
def login(body: Login, cases: CasesDep) -> TokenOut:
    return _login(cases, body.username, body.password)


@router.post("/token", response_model=TokenOut, summary="Log in (OAuth2 password form)")
def token(
    cases: CasesDep,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
) -> TokenOut:
    return _login(cases, username, password)


@router.get("/me", summary="The user behind the token")
def me(user: CurrentUser) -> dict:
    return user.as_json()


@router.post("/logout", status_code=204, summary="Revoke the token")
def logout(user: CurrentUser, cases: CasesDep, credentials: Credentials) -> None:
    with cases.engine.begin() as conn:
        users.logout(conn, credentials.credentials, cases.clock.now())
