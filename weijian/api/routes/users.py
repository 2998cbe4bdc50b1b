"""Users and API clients, for administrators."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from weijian.api.dependencies import AdminUser, CasesDep
from weijian.cases import logins, users
from weijian.errors import ConflictError

router = APIRouter(prefix="/api/v1", tags=["users"])


class UserIn(BaseModel):
    username: str = Field(pattern=r"^[A-Za-z0-9_.@-]{2,64}$")
    password: str = Field(min_length=users.MIN_PASSWORD)
    role: str
    display_name: str | None = None
    grid_code: str | None = Field(default=None, description="the grid the user works in")
    phone: str | None = None
    department_type: str | None = Field(
        default=None, description="for a department_leader: the type of its department"
    )


class Switch(BaseModel):
    active: bool = Field(description="false disables (a user's tokens stop at once)")


class ClientIn(BaseModel):
    name: str
    channel: Literal["hotline", "citizen", "media", "leadership"] = "hotline"


@router.get("/users", summary="All users, each with when its account was locked (or null)")
def list_users(_: AdminUser, cases: CasesDep) -> list[dict]:
    with cases.engine.connect() as conn:
        found = users.list_users(conn, created=True)
        locked = logins.locked_accounts(conn)
    return [{**u, "locked_at": locked.get(u["username"])} for u in found]


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


@router.patch("/users/{username}", summary="Enable or disable a user")
def switch_user(username: str, body: Switch, admin: AdminUser, cases: CasesDep) -> dict:
    if username == admin.username and not body.active:
        raise ConflictError(
            "不能停用自己的账号；如确需停用，请由另一位系统管理员办理",
            code="user.disable_self",
            detail="an administrator cannot disable their own account",
        )
    with cases.engine.begin() as conn:
        users.set_active(conn, username, body.active)
    return {"username": username, "active": body.active}


@router.post(
    "/users/{username}/password-reset",
    summary="A new random password for a user, shown once; the user's tokens stop",
)
def reset_password(username: str, _: AdminUser, cases: CasesDep) -> dict:
    with cases.engine.begin() as conn:
        password = users.reset_password(conn, username)
    return {"username": username, "password": password}


@router.get("/api-clients", summary="Registered systems (their keys are never shown again)")
def list_clients(_: AdminUser, cases: CasesDep) -> list[dict]:
    with cases.engine.connect() as conn:
        return users.list_api_clients(conn)


@router.patch("/api-clients/{client_id}", summary="Enable or disable another system's key")
def switch_client(client_id: int, body: Switch, _: AdminUser, cases: CasesDep) -> dict:
    with cases.engine.begin() as conn:
        return users.set_client_active(conn, client_id, body.active)


@router.post("/users/{username}/unlock", summary="Unlock an account locked after failed logins")
def unlock_user(username: str, _: AdminUser, cases: CasesDep) -> dict:
    with cases.engine.begin() as conn:
        was_locked = logins.unlock(conn, username)
    return {"username": username, "was_locked": was_locked, "locked": False}
