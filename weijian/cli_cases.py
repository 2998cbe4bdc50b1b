"""The case commands of ``weijian``: users, API keys, the workflow, hotline imports, listing
and showing cases, and ``audit verify``. Registered on the main app by :mod:`weijian.cli`."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Annotated

import typer

from weijian.cases.clock import LOCAL
from weijian.cli import _engine, _log, _print_json, _table, app, err, handles_errors, out
from weijian.errors import InputError
from weijian.settings import get_settings

user_app = typer.Typer(help="Users: roles bound to grids, passwords.", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys of other systems (12345 hotline).", no_args_is_help=True)
audit_app = typer.Typer(help="Tamper evidence of the case history.", no_args_is_help=True)
cases_app = typer.Typer(help="Cases: list, show, import hotline exports.", no_args_is_help=True)
workflow_app = typer.Typer(help="The enforcement workflow (as data).", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(apikey_app, name="apikey")
app.add_typer(audit_app, name="audit")
app.add_typer(cases_app, name="cases")
app.add_typer(workflow_app, name="workflow")

DEMO_PASSWORD = "weijian-demo"


def _service():
    from weijian.cases.service import CaseService
    from weijian.database import app_engine_for
    from weijian.jurisdiction.snapshot import SnapshotHolder

    engine = _engine()
    engine = app_engine_for(engine.url.render_as_string(hide_password=False))
    return CaseService(engine, SnapshotHolder(engine), get_settings())


def _operator(name: str | None):
    """The person at the terminal: an administrator, named in the history."""
    from weijian.cases.scope import Principal

    return Principal(id=None, username=name or "cli", display_name=name or "命令行", role="admin")


# -- users -------------------------------------------------------------------------------


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
) -> None:
    """Create a user: the first administrator, or anyone later."""
    from weijian.cases import users

    service = _service()
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
        )
    scope = user.grid_code or "全市"
    _log(f"user {user.username} ({user.role}) created, scope {scope}")


@user_app.command("list")
@handles_errors
def user_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every user with role and scope."""
    from weijian.cases import users

    service = _service()
    with service.engine.connect() as conn:
        rows = users.list_users(conn)
    if as_json:
        _print_json(rows)
        return
    table = _table("user", "name", "role", "grid", "department", "active")
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

    service = _service()
    if password is None:
        password = typer.prompt("new password", hide_input=True, confirmation_prompt=True)
    with service.engine.begin() as conn:
        users.set_password(conn, username, password)
    _log(f"password of {username} changed; its tokens are revoked")


@user_app.command("disable")
@handles_errors
def user_disable(username: str) -> None:
    """Disable a user (it can no longer log in; its history stays)."""
    from weijian.cases import users

    service = _service()
    with service.engine.begin() as conn:
        users.set_active(conn, username, False)
    _log(f"{username} disabled")


@apikey_app.command("add")
@handles_errors
def apikey_add(
    name: Annotated[str, typer.Argument(help="the system, e.g. 12345")],
    channel: Annotated[str, typer.Option("--channel")] = "hotline",
) -> None:
    """Register another system for Open311; prints its key once."""
    from weijian.cases import users

    service = _service()
    with service.engine.begin() as conn:
        key = users.add_api_client(conn, service.workflow, name, channel)
    _log(f"API client {name} ({channel}) registered; its key (shown once):")
    typer.echo(key)


# -- audit -------------------------------------------------------------------------------


@audit_app.command("verify")
@handles_errors
def audit_verify(
    case: Annotated[str | None, typer.Option("--case", help="one case number")] = None,
    anchor: Annotated[
        Path | None, typer.Option("--anchor", help="also check against an anchor file")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Recompute every event's hash chain, the case-number sequences and the evidence bytes;
    name each event edited or deleted. Exit code 1 when anything is wrong."""
    from weijian.cases import history

    service = _service()
    result = history.verify(service.engine, service.store, case)
    if anchor is not None:
        try:
            saved = json.loads(gzip.decompress(anchor.read_bytes()))
        except (OSError, ValueError) as exc:
            raise InputError(f"{anchor} is not a readable anchor file: {exc}") from None
        extra = [p.as_dict() for p in history.check_anchor(service.engine, saved)]
        result["problems"] += extra
        result["ok"] = result["ok"] and not extra
        result["anchor"] = {"created_at": saved.get("created_at"), "cases": saved.get("cases")}
    if as_json:
        _print_json(result)
    else:
        _log(
            f"checked {result['cases']} cases, {result['events']} events, "
            f"{result['evidence']} pieces of evidence"
        )
        if result["ok"]:
            _log("[green]history intact[/]: every chain verifies")
        else:
            table = _table("case", "event #", "event id", "problem", title="history problems")
            for p in result["problems"]:
                table.add_row(
                    p["case"], str(p["seq"] or ""), str(p["event_id"] or ""), p["problem"]
                )
            out.print(table)
    if not result["ok"]:
        raise typer.Exit(1)


@audit_app.command("anchor")
@handles_errors
def audit_anchor(
    out_path: Annotated[Path, typer.Option("--out", help="the anchor file to write (.json.gz)")],
) -> None:
    """Write the head of every case's history to a file kept outside the database; `audit
    verify --anchor FILE` later proves nothing before it was rewritten. Prints its digest."""
    from weijian.cases import history

    service = _service()
    saved = history.anchor(service.engine, service.clock.now())
    out_path.write_bytes(gzip.compress(json.dumps(saved).encode()))
    _log(f"anchored {saved['cases']} cases at {saved['created_at']} in {out_path}")
    typer.echo(saved["digest"])


# -- cases -------------------------------------------------------------------------------


@cases_app.command("import-hotline")
@handles_errors
def import_hotline(
    path: Annotated[Path, typer.Argument(help="12345 export: .xlsx or .csv with Chinese headers")],
    crs: Annotated[
        str, typer.Option("--crs", help="coordinates' crs when the file has no 坐标系 column")
    ] = "gcj02",
    by: Annotated[str | None, typer.Option("--by", help="who imports (for the history)")] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="write the per-row report as CSV here")
    ] = None,
) -> None:
    """Create a case per hotline work order; a per-row report says what became of each."""
    from weijian.cases import hotline

    if not path.exists():
        raise InputError(f"{path} does not exist")
    service = _service()
    result = service.import_hotline(_operator(by), path, default_crs=crs)
    _log(
        f"{result['rows']} rows: {result['created']} created, {result['exists']} imported "
        f"before, {result['errors']} errors"
    )
    table = _table("行号", "工单编号", "结果", "案件编号", "说明")
    labels = hotline.STATUS_LABELS
    for r in result["report"]:
        table.add_row(
            str(r["row"]),
            r["external_id"] or "",
            labels.get(r["status"], r["status"]),
            r["case_number"] or "",
            r["message"] or "",
        )
    out.print(table)
    if report:
        hotline.write_report_csv(result["report"], report)
        _log(f"report written to {report}")
    if result["errors"]:
        raise typer.Exit(2)


@cases_app.command("list")
@handles_errors
def cases_list(
    grid: Annotated[str | None, typer.Option("--grid")] = None,
    state: Annotated[str | None, typer.Option("--state", help="comma-separated")] = None,
    category: Annotated[str | None, typer.Option("--category", help="open | closed")] = None,
    overdue: Annotated[bool | None, typer.Option("--overdue/--not-overdue")] = None,
    limit: Annotated[int, typer.Option("--limit")] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Cases, newest first."""
    service = _service()
    page = service.list(
        _operator(None),
        grid=grid,
        states=[s for s in (state or "").split(",") if s] or None,
        category=category,
        overdue=overdue,
        limit=limit,
        with_total=True,
    )
    if as_json:
        _print_json(page)
        return
    table = _table("编号", "状态", "来源", "类型", "地址", "责任部门", "上报时间", "超期")
    for c in page["items"]:
        table.add_row(
            c["number"],
            c["state_label"],
            c["channel_label"] or c["channel"],
            c["track_label"] or c["track"],
            c["address"] or "",
            (c["department"] or {}).get("name", "待研判"),
            c["reported_at"].astimezone(LOCAL).strftime("%Y-%m-%d %H:%M"),
            "是" if c["overdue"] else "",
        )
    out.print(table)
    _log(f"{page['count']} of {page['total']}")


@cases_app.command("show")
@handles_errors
def cases_show(number: str) -> None:
    """One case with its history, as JSON."""
    service = _service()
    _print_json(service.get(_operator(None), number))


# -- workflow ----------------------------------------------------------------------------


@workflow_app.command("show")
@handles_errors
def workflow_show(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """States, actions and the roles allowed, of the workflow in force."""
    service = _service()
    wf = service.workflow
    if as_json:
        _print_json(service.workflow_json())
        return
    states = _table("state", "名称", "类别", title=wf.name)
    for s in wf.states.values():
        states.add_row(s.code, s.label, "办结" if s.category == "closed" else "在办")
    out.print(states)
    actions = _table("action", "名称", "from", "to", "roles", "evidence")
    for t in wf.transitions.values():
        actions.add_row(
            t.action,
            t.label,
            ", ".join(t.sources),
            t.target,
            ", ".join(t.roles),
            ", ".join(f"{k}×{v}" for k, v in t.evidence.items()),
        )
    out.print(actions)


@workflow_app.command("load")
@handles_errors
def workflow_load(
    path: Path,
    by: Annotated[str, typer.Option("--by", help="who changes it")],
    note: Annotated[str, typer.Option("--note", help="why")],
) -> None:
    """Validate a workflow document and make it the one in force (a new version)."""
    from weijian.cases import documents
    from weijian.cases.workflow import parse

    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path} is not a readable JSON document: {exc}") from None
    parse(document)
    engine = _engine()
    with engine.begin() as conn:
        version = documents.store(conn, "workflow_definition", document, by, note)
    _log(f"workflow version {version} is in force")


# -- patrol maps -------------------------------------------------------------------------


@app.command("patrol-map")
@handles_errors
def patrol_map(
    grid: Annotated[str | None, typer.Option("--grid", help="one grid's code")] = None,
    district: Annotated[
        str | None, typer.Option("--district", help="a district's code: an atlas of its grids")
    ] = None,
    level: Annotated[
        str, typer.Option("--level", help="the atlas's grids: community | compound | town")
    ] = "community",
    paper: Annotated[str, typer.Option("--paper", help="A4 | A3")] = "A4",
    orientation: Annotated[
        str, typer.Option("--orientation", help="portrait | landscape | auto")
    ] = "auto",
    out_path: Annotated[Path | None, typer.Option("--out", help="the PDF to write")] = None,
    processes: Annotated[
        int | None, typer.Option("--processes", help="atlas pages rendered in parallel")
    ] = None,
) -> None:
    """Print a grid's patrol map (PDF), or a district's atlas with a cover page."""
    from weijian.patrol import service as patrol

    if (grid is None) == (district is None):
        raise InputError("give --grid CODE for one map or --district CODE for an atlas")
    service = _service()
    if grid:
        content, info = patrol.grid_map(service, grid, paper.upper(), orientation)
        target = out_path or Path(f"巡查图-{grid}.pdf")
        _log(
            f"{info['name']}: {info['cases']} open cases, 1:{info['scale']}, "
            f"{info['pages']} page(s)"
        )
    else:
        content, info = patrol.atlas(
            service, district, level, paper.upper(), orientation, processes=processes
        )
        target = out_path or Path(f"巡查图集-{district}-{level}.pdf")
        _log(
            f"{info['grids']} grids, {info['cases']} open cases, {info['pages']} pages "
            f"with the cover"
        )
    target.write_bytes(content)
    _log(f"written to {target} ({len(content) / 1024:.0f} KB)")


# -- the demo's users --------------------------------------------------------------------


def ensure_demo_users(engine) -> list[dict]:
    """One user per role on the sample city's first district, town, community and compound,
    all with the documented demo password; an API key for the demo hotline. Idempotent."""
    from sqlalchemy import text

    from weijian.cases import users
    from weijian.cases.workflow import default_workflow
    from weijian.jurisdiction.snapshot import load_snapshot

    snap = load_snapshot(engine)
    chain: dict[str, str | None] = {"district": None, "town": None, "community": None}
    grids = snap.grids
    if "compound" in grids and len(grids["compound"].codes):
        compound = str(grids["compound"].codes[0])
        chain["compound"] = compound
        for lower, upper in (
            ("compound", "community"),
            ("community", "town"),
            ("town", "district"),
        ):
            code = chain[lower]
            grid = grids.get(lower)
            if code and grid is not None:
                parent = grid.parents[grid.row_of[code]]
                chain[upper] = str(parent) if parent else None
    plan = [
        ("admin", "admin", None, "系统管理员"),
        ("supervisor", "supervisor", None, "市督导员"),
        ("chengguan", "urban_enforcement", chain["district"], "城管执法队员"),
        ("ziranziyuan", "natural_resources", chain["district"], "自然资源执法员"),
        ("quxian", "county_government", chain["district"], "区县政府工作人员"),
        ("jiedao", "town", chain["town"], "街道办工作人员"),
        ("shequ", "community", chain["community"], "社区工作人员"),
        ("wanggeyuan", "grid_worker", chain.get("compound") or chain["community"], "网格员"),
        ("wuye", "property_company", chain.get("compound"), "物业公司项目负责人"),
    ]
    created = []
    with engine.begin() as conn:
        for username, role, grid, name in plan:
            if role != "admin" and role != "supervisor" and not grid:
                continue
            exists = conn.execute(
                text("SELECT 1 FROM app_user WHERE username = :u"), {"u": username}
            ).first()
            if exists:
                continue
            users.add_user(
                conn,
                snap,
                default_workflow(),
                username=username,
                password=DEMO_PASSWORD,
                role=role,
                display_name=name,
                grid_code=grid,
                created_by="demo",
            )
            created.append({"username": username, "role": role, "grid": grid})
        known = conn.execute(text("SELECT 1 FROM api_client WHERE name = '12345'")).first()
        if not known:
            users.add_api_client(conn, default_workflow(), "12345", "hotline", key="demo-12345")
    if created:
        err.print(
            f"demo users created ({len(created)}), password [bold]{DEMO_PASSWORD}[/]: "
            + ", ".join(f"{u['username']} ({u['role']})" for u in created),
            highlight=False,
        )
    return created
