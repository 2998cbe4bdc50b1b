"""Users (roles bound to grids, passwords) and the API keys of other systems."""

from __future__ import annotations

from typing import Annotated

import typer

from weijian.cli.context import case_service
from weijian.cli.output import handles_errors, log, new_table, out, print_json

user_app = typer.Typer(help="Users: roles bound to grids, passwords.", no_args_is_help=True)


apikey_app = typer.Typer(help="API keys of other systems (12345 hotline).", no_args_is_help=True)


@user_app.command("add")
@handles_errors
def user_add(
    username: Annotated[str, typer.Argument(help="login name (letters, digits, _ . @ -)")],
    role: Annotated[str, typer.Option("--role", help="admin, supervisor, urban_enforcement, …")],
    grid: Annotated[
        str | None, typer.Option("--grid", help="grid code of its scope (district for departments)")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="display name (中文姓名)")] = None,
    phone: Annotated[str | None, typer.Option("--phone")] = None,
    password: Annotated[
        str | None, typer.Option("--password", help="asked for when not given")
    ] = None,
    department_type: Annotated[
        str | None,
        typer.Option(
            "--department-type",
            help="for a department_leader: urban_enforcement, natural_resources or "
            "county_government",
        ),
    ] = None,
) -> None:
    """Create a user: the first administrator, or anyone later."""
    from weijian.cases import users

    service = case_service()
    if password is None:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    with service.engine.begin() as conn:
        user = users.add_user(
            conn,
            service.jurisdiction.snapshot,
            service.workflow,
            username=username,
            password=password,
            role=role,
            display_name=name,
            grid_code=grid,
            phone=phone,
            created_by="cli",
            department_type=department_type,
        )
    scope = user.grid_code or "全市"
    log(f"user {user.username} ({user.role}) created, scope {scope}")


@user_app.command("list")
@handles_errors
def user_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every user with role and scope."""
    from weijian.cases import users

    service = case_service()
    with service.engine.connect() as conn:
        rows = users.list_users(conn)
    if as_json:
        print_json(rows)
        return
    table = new_table("user", "name", "role", "grid", "department", "active")
    for r in rows:
        table.add_row(
            r["username"],
            r["display_name"],
            r["role"],
            r["grid_code"] or "全市",
            r["department_code"] or "",
            "yes" if r["active"] else "no",
        )
    out.print(table)


@user_app.command("passwd")
@handles_errors
def user_passwd(
    username: str,
    password: Annotated[str | None, typer.Option("--password")] = None,
) -> None:
    """Set a new password (the user's tokens are revoked)."""
    from weijian.cases import users

    service = case_service()
    if password is None:
        password = typer.prompt("new password", hide_input=True, confirmation_prompt=True)
    with service.engine.begin() as conn:
        users.set_password(conn, username, password)
    log(f"password of {username} changed; its tokens are revoked")


@user_app.command("disable")
@handles_errors
def user_disable(username: str) -> None:
    """Disable a user (it can no longer log in; its history stays)."""
    from weijian.cases import users

    service = case_service()
    with service.engine.begin() as conn:
        users.set_active(conn, username, False)
    log(f"{username} disabled")


@user_app.command("unlock")
@handles_errors
def user_unlock(username: str) -> None:
    """Unlock an account locked after repeated failed logins."""
    from weijian.cases import logins

    service = case_service()
    with service.engine.begin() as conn:
        was_locked = logins.unlock(conn, username)
    log(f"{username} unlocked" if was_locked else f"{username} was not locked; failures cleared")


@apikey_app.command("add")
@handles_errors
def apikey_add(
    name: Annotated[str, typer.Argument(help="the system, e.g. 12345")],
    channel: Annotated[str, typer.Option("--channel")] = "hotline",
) -> None:
    """Register another system for Open311; prints its key once."""
    from weijian.cases import users

    service = case_service()
    with service.engine.begin() as conn:
        key = users.add_api_client(conn, service.workflow, name, channel)
    log(f"API client {name} ({channel}) registered; its key (shown once):")
    typer.echo(key)
