"""Cases (list, show, hotline imports) and the workflow they follow."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from weijian.cases.clock import LOCAL
from weijian.cli.context import case_service, database, operator
from weijian.cli.output import err, handles_errors, log, new_table, out, print_json
from weijian.errors import InputError

cases_app = typer.Typer(help="Cases: list, show, import hotline exports.", no_args_is_help=True)


workflow_app = typer.Typer(help="The enforcement workflow (as data).", no_args_is_help=True)


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
        raise InputError(
            f"文件 {path} 不存在，请核对路径",
            code="import.file_not_found",
            detail=f"{path} does not exist",
        )
    service = case_service()
    result = service.import_hotline(operator(by), path, default_crs=crs)
    log(
        f"{result['rows']} rows: {result['created']} created, {result['exists']} imported "
        f"before, {result['errors']} errors"
    )
    table = new_table("行号", "工单编号", "结果", "案件编号", "说明")
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
        log(f"report written to {report}")
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
    service = case_service()
    page = service.list(
        operator(None),
        grid=grid,
        states=[s for s in (state or "").split(",") if s] or None,
        category=category,
        overdue=overdue,
        limit=limit,
        with_total=True,
    )
    if as_json:
        print_json(page)
        return
    table = new_table("编号", "状态", "来源", "类型", "地址", "责任部门", "上报时间", "超期")
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
    log(f"{page['count']} of {page['total']}")


@cases_app.command("show")
@handles_errors
def cases_show(number: str) -> None:
    """One case with its history, as JSON."""
    service = case_service()
    print_json(service.get(operator(None), number))


@workflow_app.command("show")
@handles_errors
def workflow_show(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """States, actions and the roles allowed, of the workflow in force."""
    service = case_service()
    wf = service.workflow
    if as_json:
        print_json(service.workflow_json())
        return
    states = new_table("state", "名称", "类别", title=wf.name)
    for s in wf.states.values():
        states.add_row(s.code, s.label, "办结" if s.category == "closed" else "在办")
    out.print(states)
    actions = new_table("action", "名称", "from", "to", "roles", "evidence")
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
    from weijian.cases import definitions
    from weijian.cases.workflow import parse

    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(
            f"{path} 无法读取或不是有效的 JSON 文件（{exc}），请检查文件路径和内容",
            code="file.json_unreadable",
            detail=f"{path} is not a readable JSON document: {exc}",
        ) from None
    parse(document)
    engine = database()
    with engine.begin() as conn:
        version = definitions.store(conn, "workflow_definition", document, by, note)
    log(f"workflow version {version} is in force")


prefix_app = typer.Typer(
    help="Case-number prefixes of the districts (HJ in HJ-2026-000123).", no_args_is_help=True
)
cases_app.add_typer(prefix_app, name="prefix")


@prefix_app.command("list")
@handles_errors
def prefix_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every district's prefix (given at the first case of the city, or set)."""
    from weijian.cases import numbering

    with database().begin() as conn:
        numbering.assign_default_prefixes(conn)
        rows = numbering.prefixes(conn)
    if as_json:
        print_json(rows)
        return
    table = new_table("district", "name", "prefix", "cases")
    for r in rows:
        table.add_row(r["district_code"], r["name"] or "", r["prefix"], str(r["cases"]))
    out.print(table)


@prefix_app.command("set")
@handles_errors
def prefix_set(
    district: Annotated[str, typer.Argument(help="the district's grid code, e.g. 220623")],
    prefix: Annotated[str, typer.Argument(help="1–8 capital letters or digits, e.g. CB")],
) -> None:
    """Set a district's prefix before its first case (numbers issued never change)."""
    from weijian.cases import numbering

    with database().begin() as conn:
        chosen = numbering.set_prefix(conn, district, prefix)
    log(f"district {district}: cases will be numbered {chosen}-YYYY-NNNNNN")


@cases_app.command("restage")
@handles_errors
def cases_restage() -> None:
    """Recompute every open case's current stage and deadline (after an upgrade, or after
    loading a workflow with other deadlines): what the inbox sorts by."""
    from weijian.cases.stages import restage_all

    service = case_service()
    count = restage_all(service.engine, service.workflow, service.calendar, service.clock.now())
    log(f"{count} open cases: stage and deadline recomputed")


@cases_app.command("keep-history")
@handles_errors
def cases_keep_history(
    town: Annotated[
        str | None,
        typer.Option("--town", help="只处理该镇（街道）网格代码下的案件，如 220602001"),
    ] = None,
) -> None:
    """为成批导入（未经案件服务办理）的历史案件补写每一步之后的期限（case_due），
    供任意月份的台账读取。"""
    import time

    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from weijian.cases.stages import keep_history
    from weijian.oversight.ledger import town_info

    service = case_service()
    if town is not None:
        with service.engine.connect() as conn:
            town_info(conn, town)  # no such active town: its Chinese refusal, exit code 3
    started = time.perf_counter()
    with Progress(
        SpinnerColumn(),
        TextColumn("已处理 {task.completed:,.0f} 件案件"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task("keep-history", total=None)
        count = keep_history(
            service.engine,
            service.workflow,
            service.calendar,
            progress=lambda n: progress.advance(task, n),
            town_code=town,
        )
    seconds = time.perf_counter() - started
    where = f"镇（街道）{town} 的" if town is not None else "全部"
    log(f"已为{where} {count:,} 件案件写入各步之后的期限（case_due），用时 {seconds:.1f} 秒")
