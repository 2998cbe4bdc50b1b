"""The monthly ledger (台账) of a town: show, export, submit, and who has submitted."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

import typer

from weijian.cli.context import case_service, operator
from weijian.cli.output import handles_errors, log, new_table, out, print_json

ledger_app = typer.Typer(
    help="Monthly ledgers (台账) of the towns and their submission to the district.",
    no_args_is_help=True,
)


TownOpt = Annotated[str, typer.Option("--town", help="the town (镇办) grid's code")]


MonthOpt = Annotated[str, typer.Option("--month", help="YYYY-MM")]


def _rows(service, town_code: str, month: str):
    from weijian.oversight import ledger, periods

    first = periods.parse_month(month)
    with service.engine.connect() as conn:
        conn.execution_options(isolation_level="REPEATABLE READ")
        town = ledger.town_info(conn, town_code)
        rows = ledger.ledger_rows(
            conn,
            service.workflow,
            town_code,
            first,
            calendar=service.calendar,
            now=service.clock.now(),
        )
    return town, first, rows


@ledger_app.command("show")
@handles_errors
def ledger_show(
    town: TownOpt,
    month: MonthOpt,
    xlsx: Annotated[Path | None, typer.Option("--xlsx", help="write the workbook here")] = None,
    csv_path: Annotated[Path | None, typer.Option("--csv", help="write the CSV here")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the rows as JSON")] = False,
) -> None:
    """A town's ledger of a month, as the cases stood at the month's end."""
    from weijian.oversight import ledger, periods

    service = case_service()
    info, first, rows = _rows(service, town, month)
    if xlsx:
        xlsx.write_bytes(
            ledger.export_xlsx(rows, info["name"], first, generated_at=service.clock.now())
        )
        log(f"workbook written to {xlsx}")
    if csv_path:
        csv_path.write_bytes(ledger.export_csv(rows))
        log(f"CSV written to {csv_path}")
    if as_json:
        print_json(
            {
                "town": town,
                "town_name": info["name"],
                "month": periods.month_text(first),
                "count": len(rows),
                "rows": rows,
            }
        )
        return
    table = new_table(
        "序号",
        "案件编号",
        "地点",
        "类型",
        "责任部门",
        "月末状态",
        "上报时间",
        "超期",
        title=f"{info['name']} {periods.month_text(first)} 违法建设台账",
    )
    for r in rows:
        table.add_row(
            str(r["序号"]),
            r["案件编号"],
            r["地点"],
            r["类型"],
            r["责任部门"],
            r["月末状态"],
            r["上报时间"],
            r["是否超期"],
        )
    out.print(table)
    counts = ledger.summary_counts(rows)
    log(
        f"{counts['total']} cases: {counts['new']} new, {counts['backlog']} backlog, "
        f"{counts['overdue']} overdue at the month's end"
    )


@ledger_app.command("submit")
@handles_errors
def ledger_submit(
    town: TownOpt,
    month: MonthOpt,
    by: Annotated[str, typer.Option("--by", help="who filled it in (填报人), by name")],
    note: Annotated[str | None, typer.Option("--note", help="a remark for the district")] = None,
    scan: Annotated[
        Path | None, typer.Option("--scan", help="the signed and stamped ledger (PDF, JPG, PNG)")
    ] = None,
    reviewer: Annotated[
        str | None, typer.Option("--reviewer", help="who checked it (审核人), by name")
    ] = None,
) -> None:
    """Record the town's ledger of a month as submitted to the district (a paper ledger handed
    in at the desk; --scan attaches its signed scan). Supersedes an earlier submission."""
    from weijian.oversight import ledger, submissions

    service = case_service()
    info, first, rows = _rows(service, town, month)
    signed = None
    if scan is not None:
        max_bytes = int(service.settings.max_evidence_mb * 1024 * 1024)
        with scan.open("rb") as stream:
            signed = submissions.read_scan(stream, scan.name, max_bytes)
    now = service.clock.now()
    content = ledger.export_xlsx(rows, info["name"], first, generated_at=now)
    with service.engine.begin() as conn:
        record = submissions.submit(
            conn,
            operator(by),
            town,
            first,
            rows,
            hashlib.sha256(content).hexdigest(),
            now,
            note=note,
            due_day=service.settings.ledger_due_day,
            submitter=by,
            reviewer=reviewer,
            scan=signed,
            store=service.store,
        )
    log(
        f"{info['name']} {record['month']}: {record['case_count']} cases submitted by "
        f"{record['submitter']} — {record['status_label']} (due {record['due_date']})"
    )


@ledger_app.command("submissions")
@handles_errors
def ledger_submissions(
    district: Annotated[str, typer.Option("--district", help="the district (区县) grid's code")],
    month: MonthOpt,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Which towns of a district have submitted a month's ledger, on time or late."""
    from weijian.cases.clock import LOCAL
    from weijian.oversight import ledger, periods, submissions

    service = case_service()
    first = periods.parse_month(month)
    due_day = service.settings.ledger_due_day
    with service.engine.connect() as conn:
        items = submissions.submissions(conn, district, first, service.clock.now(), due_day)
        name = ledger.district_name(conn, district)
    if as_json:
        print_json(items)
        return
    table = new_table(
        "镇（街道）",
        "编码",
        "报送情况",
        "审核",
        "报送时间",
        "报送人",
        "案件数",
        title=f"{name or district} {periods.month_text(first)} 台账报送"
        f"（截止 {periods.due_date(first, due_day)}）",
    )
    for i in items:
        table.add_row(
            i["town_name"],
            i["town_code"],
            i["status_label"],
            i["state_label"],
            i["submitted_at"].astimezone(LOCAL).strftime("%Y-%m-%d %H:%M")
            if i["submitted_at"]
            else "",
            i["submitter"] or "",
            "" if i["case_count"] is None else str(i["case_count"]),
        )
    out.print(table)
