"""Users and API clients, for administrators."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from weijian.api.dependencies import AdminUser, CasesDep
from weijian.cases import logins, users

router = APIRouter(prefix="/api/v1", tags=["users"])


class UserIn(BaseModel):
    username: str
    password: str = Field(min_length=users.MIN_PASSWORD)
    role: str
    display_name: str | None = None
    grid_code: str | None = Field(default=None, description="the grid the user works in")
    phone: str | None = None
    department_type: str | None = Field(
        default=None, description="for a department_leader: the type of its department"
    )


class ClientIn(BaseModel):
    name: str
    channel: Literal["hotline", "citizen", "media", "leadership"] = "hotline"


@router.get("/users", summary="All users")
def list_users(_: AdminUser, cases: CasesDep) -> list[dict]:
    with cases.engine.connect() as conn:
        return users.list_users(conn)


@router.post("/users", status_code=201, summary="Create a user bound to a grid")
def create_user(body: UserIn, admin: AdminUser, cases: CasesDep) -> dict:
    with cases.engine.begin() as conn:
        return users.add_user(
            conn,
            cases.jurisdiction.snapshot,
            cases.workflow,
            username=body.username,
            password=body.password,
            role=body.role,
            display_name=body.display_name,
            grid_code=body.grid_code,
            phone=body.phone,
            created_by=admin.username,
            department_type=body.department_type,
        ).as_json()


@router.post("/api-clients", status_code=201, summary="Register another system; its key once")
def create_client(body: ClientIn, _: AdminUser, cases: CasesDep) -> dict:
    with cases.engine.begin() as conn:
        key = users.add_api_client(conn, cases.workflow, body.name, body.channel)
    return {"name": body.name, "channel": body.channel, "api_key": key}


@router.post("/users/{username}/unlock", summary="Unlock an account locked after failed logins")
def unlock_user(username: str, _: AdminUser, cases: CasesDep) -> dict:
    with cases.engine.begin() as conn:
        was_locked = logins.unlock(conn, username)
    return {"username": username, "was_locked": was_locked, "locked": False}
