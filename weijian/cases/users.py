"""Users, login tokens and API clients (the adapter over ``app_user``, ``auth_token`` and
``api_client``). Passwords are hashed with Argon2id (argon2-cffi); tokens and API keys are
random and stored only as their SHA-256."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from functools import lru_cache

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, text

from weijian.cases.scope import Principal
from weijian.cases.workflow import Workflow
from weijian.errors import ConflictError, InputError, NotAuthenticated, NotFoundError
from weijian.jurisdiction.snapshot import Snapshot
from weijian.settings import get_settings
from weijian.text import clean

_PROFILES = {"rfc9106-low-memory": profiles.RFC_9106_LOW_MEMORY, "cheapest": profiles.CHEAPEST}


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    """Argon2id with the parameters the settings name (``password_hashing``)."""
    return PasswordHasher.from_parameters(_PROFILES[get_settings().password_hashing])


MIN_PASSWORD = 8
CITY_WIDE_ROLES = ("admin", "supervisor")
#: the grid levels in Chinese, for messages
LEVEL_WORDS = {"district": "区县", "town": "镇（街道）", "community": "社区", "compound": "小区"}


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def grid_of(snap: Snapshot, code: str) -> tuple[str, str]:
    """(level, name) of an active grid code; 404 naming the fix otherwise."""
    for level, grid in snap.grids.items():
        row = grid.row_of.get(code)
        if row is not None:
            return level, str(grid.names[row])
    raise NotFoundError(
        f"没有代码为“{code}”的在用网格，请用 weijian layers list 查看网格图层及其代码",
        code="grid.not_found",
        detail=f"no active grid has the code {code!r}",
        hint="see `weijian layers list` and GET /api/v1/layers for the grid layers",
    )


def ancestors(snap: Snapshot, code: str) -> list[str]:
    """The grid's code and those above it, itself first, following the parent links."""
    level, _ = grid_of(snap, code)
    levels = list(snap.grids)
    out, current_level, current = [code], level, code
    while current_level != levels[0]:
        grid = snap.grids[current_level]
        parent = grid.parents[grid.row_of[current]]
        position = levels.index(current_level)
        if not parent:
            break
        current_level, current = levels[position - 1], str(parent)
        if current not in snap.grids[current_level].row_of:
            break
        out.append(current)
    return out


def district_of_grid(snap: Snapshot, code: str) -> str | None:
    """The district code above a grid code, following the parent links."""
    top = ancestors(snap, code)[-1]
    return top if grid_of(snap, top)[0] == "district" else None


def _principal(row) -> Principal:
    return Principal(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        role=row.role,
        grid_code=row.grid_code,
        grid_level=row.grid_level,
        district_code=row.district_code,
        department_code=row.department_code,
        department_type=row.department_type,
        phone=row.phone,
    )


USER_COLUMNS = (
    "id, username, display_name, role, grid_code, grid_level, district_code, department_code, "
    "department_type, phone, active"
)


LEADER = "department_leader"


def _department_type(workflow: Workflow, role: str, given: str | None) -> str | None:
    """The department type a user of ``role`` works in: its role, or for a department's
    leader the type given (城管执法、自然资源、区县政府)."""
    if role != LEADER:
        return role if role in workflow.department_roles else None
    types = [r for r in workflow.department_roles if r != LEADER]
    if given not in types:
        labels = "、".join(f"{t}（{workflow.roles.get(t, t)}）" for t in types)
        raise InputError(
            f"部门负责人须指明所在部门类型：{labels}",
            code="user.department_type_missing",
            detail=f"a {LEADER} needs a department type, one of {', '.join(types)}",
            hint="give --department-type (department_type in the API)",
        )
    return given


def add_user(
    conn: Connection,
    snap: Snapshot,
    workflow: Workflow,
    *,
    username: str,
    password: str,
    role: str,
    display_name: str | None = None,
    grid_code: str | None = None,
    phone: str | None = None,
    created_by: str | None = None,
    department_type: str | None = None,
) -> Principal:
    """Create a user bound to ``grid_code``. Department roles are bound to a district grid and
    get that district's department (a ``department_leader`` the department of
    ``department_type``, e.g. urban_enforcement); admin and supervisor may be city-wide."""
    workflow.check_role(role)
    department_type = _department_type(workflow, role, department_type)
    display_name = clean(display_name, "姓名", "name", field="display_name")
    phone = clean(phone, "电话", "phone", field="phone")
    if len(password) < MIN_PASSWORD:
        raise InputError(
            f"密码太短（{len(password)} 个字符），至少需要 {MIN_PASSWORD} 个字符",
            code="user.password_too_short",
            detail=f"the password is too short ({len(password)} characters)",
            hint=f"use at least {MIN_PASSWORD} characters",
        )
    level = district = department = None
    if grid_code:
        level, _grid_name = grid_of(snap, grid_code)
        district = grid_code if level == "district" else district_of_grid(snap, grid_code)
    elif role not in CITY_WIDE_ROLES:
        raise InputError(
            f"{workflow.roles.get(role, role)}（{role}）用户必须绑定网格（即其权限范围），"
            "请用 --grid 给出其所在区县、镇（街道）、社区或小区网格的代码",
            code="user.grid_required",
            detail=f"a {role} user must be bound to a grid (its scope)",
            hint="give --grid with the code of its district, town, community or compound grid",
        )
    if role in workflow.department_roles:
        if level != "district":
            raise InputError(
                f"{workflow.roles.get(role, role)}（{role}）用户须绑定区县网格，"
                f"而“{grid_code}”是{LEVEL_WORDS.get(level, level)}网格，请给出区县网格的代码",
                code="user.grid_not_district",
                detail=f"a {role} user is bound to a district: {grid_code!r} is a {level} grid",
                hint="give the district grid's code",
            )
        district_grid = snap.grids["district"]
        department = snap.department(
            department_type, grid_code, str(district_grid.names[district_grid.row_of[grid_code]])
        ).code
    exists = conn.execute(
        text("SELECT 1 FROM app_user WHERE username = :u"), {"u": username}
    ).first()
    if exists:
        raise ConflictError(
            f"用户名“{username}”已存在，请换一个用户名",
            code="user.exists",
            detail=f"the user {username!r} exists already",
        )
    row = conn.execute(
        text(
            "INSERT INTO app_user (username, display_name, role, grid_code, grid_level, "
            "district_code, department_code, phone, password_hash, created_by, department_type) "
            "VALUES "
            "(:u, :n, :r, :g, :l, :d, :dep, :p, :h, :by, :dtype) RETURNING " + USER_COLUMNS
        ),
        {
            "u": username,
            "n": display_name or username,
            "r": role,
            "g": grid_code,
            "l": level,
            "d": district,
            "dep": department,
            "p": phone,
            "h": _hasher().hash(password),
            "by": created_by,
            "dtype": department_type if department else None,
        },
    ).one()
    return _principal(row)


def no_such_user(username: str) -> NotFoundError:
    return NotFoundError(
        f"没有用户“{username}”，请核对用户名",
        code="user.not_found",
        detail=f"no user {username!r}",
    )


def _revoke_tokens(conn: Connection, username: str) -> None:
    """Every token of the user stops working."""
    conn.execute(
        text(
            "UPDATE auth_token SET revoked_at = now() WHERE revoked_at IS NULL AND user_id = "
            "(SELECT id FROM app_user WHERE username = :u)"
        ),
        {"u": username},
    )


def set_password(conn: Connection, username: str, password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InputError(
            f"密码太短（{len(password)} 个字符），至少需要 {MIN_PASSWORD} 个字符",
            code="user.password_too_short",
            detail=f"the password is too short; use at least {MIN_PASSWORD} characters",
        )
    done = conn.execute(
        text("UPDATE app_user SET password_hash = :h WHERE username = :u"),
        {"h": _hasher().hash(password), "u": username},
    )
    if not done.rowcount:
        raise no_such_user(username)
    _revoke_tokens(conn, username)


def set_active(conn: Connection, username: str, active: bool) -> None:
    """Enable or disable a user; a disabled user's tokens stop working at once (every request
    checks the user), and stay dead when the user is enabled again."""
    done = conn.execute(
        text("UPDATE app_user SET active = :a WHERE username = :u"), {"a": active, "u": username}
    )
    if not done.rowcount:
        raise no_such_user(username)
    if not active:
        _revoke_tokens(conn, username)


def reset_password(conn: Connection, username: str) -> str:
    """A new random password for the user (to be handed over once); the old one and every
    token of the user stop working."""
    password = secrets.token_urlsafe(9)
    set_password(conn, username, password)
    return password


def list_users(conn: Connection, created: bool = False) -> list[dict]:
    """Every user (the fields of a :class:`Principal` and ``active``; with ``created``, who
    created the user and when)."""
    extra = ", created_by, created_at" if created else ""
    rows = conn.execute(text(f"SELECT {USER_COLUMNS}{extra} FROM app_user ORDER BY id"))
    return [dict(r._mapping) for r in rows]


def list_api_clients(conn: Connection) -> list[dict]:
    """Every registered system, without its key (only its hash is kept)."""
    rows = conn.execute(
        text("SELECT id, name, channel, active, created_at FROM api_client ORDER BY id")
    )
    return [dict(r._mapping) for r in rows]


def set_client_active(conn: Connection, client_id: int, active: bool) -> dict:
    row = conn.execute(
        text(
            "UPDATE api_client SET active = :a WHERE id = :i "
            "RETURNING id, name, channel, active, created_at"
        ),
        {"a": active, "i": client_id},
    ).first()
    if row is None:
        raise NotFoundError(
            f"没有编号为 {client_id} 的接口客户端，请核对",
            code="api_client.not_found",
            detail=f"no API client {client_id}",
        )
    return dict(row._mapping)


def login_refused() -> NotAuthenticated:
    """The one answer to an unknown user and a wrong password."""
    return NotAuthenticated(
        "用户名或密码错误，请核对后重试",
        code="auth.login_failed",
        detail="wrong user name or password",
        hint="check both and try again",
    )


def login_row(conn: Connection, username: str):
    """The user's row with its password hash, or None."""
    return conn.execute(
        text(f"SELECT {USER_COLUMNS}, password_hash FROM app_user WHERE username = :u"),
        {"u": username},
    ).first()


def password_matches(row, password: str) -> bool:
    """Argon2id, deliberately slow; the same work for an unknown user (``row`` None), so the
    time taken tells nothing about which user names exist."""
    if row is None:
        _hasher().hash(password)
        return False
    try:
        return _hasher().verify(row.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def issue_token(
    conn: Connection, row, password: str, username: str, now: datetime, hours: float
) -> tuple[str, datetime, Principal]:
    """A new bearer token for the user of ``row`` whose password matched."""
    if not row.active:
        raise NotAuthenticated(
            f"用户“{username}”已停用，请联系系统管理员",
            code="auth.user_disabled",
            detail=f"the user {username!r} is disabled",
            hint="ask an administrator",
        )
    if _hasher().check_needs_rehash(row.password_hash):
        conn.execute(
            text("UPDATE app_user SET password_hash = :h WHERE id = :i"),
            {"h": _hasher().hash(password), "i": row.id},
        )
    token = secrets.token_urlsafe(32)
    expires = now + timedelta(hours=hours)
    conn.execute(
        text(
            "INSERT INTO auth_token (token_sha256, user_id, created_at, expires_at) "
            "VALUES (:t, :u, :c, :e)"
        ),
        {"t": sha256(token), "u": row.id, "c": now, "e": expires},
    )
    return token, expires, _principal(row)


def login(
    conn: Connection, username: str, password: str, now: datetime, hours: float
) -> tuple[str, datetime, Principal]:
    """A new bearer token for the user, or 401 — the same answer for an unknown user and a
    wrong password. No limits: the API logs in through ``cases.logins``."""
    row = login_row(conn, username)
    if not password_matches(row, password):
        raise login_refused()
    return issue_token(conn, row, password, username, now, hours)


def principal_for_token(conn: Connection, token: str, now: datetime) -> Principal:
    row = conn.execute(
        text(
            f"SELECT {', '.join('u.' + c.strip() for c in USER_COLUMNS.split(','))}, "
            "t.expires_at, t.revoked_at FROM auth_token t JOIN app_user u ON u.id = t.user_id "
            "WHERE t.token_sha256 = :t"
        ),
        {"t": sha256(token)},
    ).first()
    if row is None or row.revoked_at is not None:
        raise NotAuthenticated(
            "登录凭证无效（已退出或不存在），请重新登录",
            code="auth.token_invalid",
            detail="the token is not valid",
            hint="log in again (POST /api/v1/auth/login)",
        )
    if row.expires_at <= now:
        raise NotAuthenticated(
            "登录已过期，请重新登录",
            code="auth.token_expired",
            detail="the token has expired",
            hint="log in again (POST /api/v1/auth/login)",
        )
    if not row.active:
        raise NotAuthenticated(
            f"用户“{row.username}”已停用，请联系系统管理员",
            code="auth.user_disabled",
            detail="the user is disabled",
            hint="ask an administrator",
        )
    return _principal(row)


def live_tokens(conn: Connection, user_id: int, now: datetime) -> list[tuple[str, Principal]]:
    """The hashes of the user's tokens still valid at ``now`` (not revoked, not expired, the
    user active), each with the user: what a link signed with one of them is checked against
    (a video's playback URL), so that it dies with its token."""
    columns = ", ".join("u." + c.strip() for c in USER_COLUMNS.split(","))
    rows = conn.execute(
        text(
            f"SELECT {columns}, t.token_sha256 FROM auth_token t "
            "JOIN app_user u ON u.id = t.user_id WHERE t.user_id = :u AND u.active "
            "AND t.revoked_at IS NULL AND t.expires_at > :now"
        ),
        {"u": user_id, "now": now},
    ).all()
    return [(row.token_sha256, _principal(row)) for row in rows]


def logout(conn: Connection, token: str, now: datetime) -> None:
    conn.execute(
        text("UPDATE auth_token SET revoked_at = :n WHERE token_sha256 = :t"),
        {"n": now, "t": sha256(token)},
    )


def add_api_client(
    conn: Connection, workflow: Workflow, name: str, channel: str, key: str | None = None
) -> str:
    """Register another system (a 12345 hotline platform) and return its API key, shown once."""
    workflow.check_channel(channel)
    key = key or secrets.token_urlsafe(24)
    exists = conn.execute(text("SELECT 1 FROM api_client WHERE name = :n"), {"n": name}).first()
    if exists:
        raise ConflictError(
            f"名为“{name}”的接口客户端已存在，请换一个名称",
            code="api_client.exists",
            detail=f"an API client named {name!r} exists already",
        )
    conn.execute(
        text("INSERT INTO api_client (name, key_sha256, channel) VALUES (:n, :k, :c)"),
        {"n": name, "k": sha256(key), "c": channel},
    )
    return key


def principal_for_api_key(conn: Connection, key: str) -> Principal:
    row = conn.execute(
        text("SELECT id, name, channel, active FROM api_client WHERE key_sha256 = :k"),
        {"k": sha256(key)},
    ).first()
    if row is None or not row.active:
        raise NotAuthenticated(
            "接口密钥 api_key 无效或已停用，请向平台管理员申请有效的密钥",
            code="auth.api_key_invalid",
            detail="the api_key is not valid",
            hint="ask the platform's administrator for a key",
        )
    return client_principal(row)


def client_principal(row) -> Principal:
    """Another system (an ``api_client`` row: id, name, channel) as the one asking."""
    return Principal(
        id=None,
        username=f"api:{row.name}",
        display_name=row.name,
        role="api_client",
        api_client_id=row.id,
        channel=row.channel,
    )
