"""Assessment (考评), responsibility tracing (责任倒查) and clear-to-zero campaigns (清零)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from weijian.cli.context import case_service, operator
from weijian.cli.output import handles_errors, log, new_table, out, print_json
from weijian.errors import InputError

assess_app = typer.Typer(help="Assessment (考评) and responsibility tracing.", no_args_is_help=True)


campaign_app = typer.Typer(help="Clear-to-zero campaigns (清零).", no_args_is_help=True)


MonthOpt = Annotated[str | None, typer.Option("--month", help="YYYY-MM")]


FromOpt = Annotated[str | None, typer.Option("--from", help="first day, YYYY-MM-DD")]


ToOpt = Annotated[str | None, typer.Option("--to", help="last day, YYYY-MM-DD (included)")]


def _period(month: str | None, start: str | None, end: str | None) -> tuple[date, date]:
    from weijian.oversight import periods

    if month:
        return periods.month_period(month)
    if not (start and end):
        raise InputError(
            "请给出统计期间：--month 年-月（如 2026-03），或 --from 和 --to 起止日期",
            code="period.missing",
            detail="give --month YYYY-MM, or --from and --to",
        )
    try:
        return date.fromisoformat(start), date.fromisoformat(end)
    except ValueError:
        raise InputError(
            f"--from“{start}”或 --to“{end}”不是日期，日期应为“年-月-日”，如 2026-03-01",
            code="period.date_invalid",
            detail="--from and --to are dates: YYYY-MM-DD",
        ) from None


def _percent(item: dict) -> str:
    value = item["value"]
    if value is None:
        return "—"
    return f"{100 * value:.1f}%" if item["unit"] == "%" else f"{value:g}"


@assess_app.command("run")
@handles_errors
def assess_run(
    month: MonthOpt = None,
    start: FromOpt = None,
    end: ToOpt = None,
    level: Annotated[
        str, typer.Option("--level", help="district|town|community|compound")
    ] = "town",
    district: Annotated[str | None, typer.Option("--district")] = None,
    grids: Annotated[str, typer.Option("--grids", help="frozen | current")] = "frozen",
    xlsx: Annotated[Path | None, typer.Option("--xlsx", help="write the table here")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Indicators, weighted score and rank of every unit of a level in a period."""
    from weijian.oversight import assessment

    first, last = _period(month, start, end)
    result = assessment.assess(
        case_service(), None, first, last, level=level, district=district, grids=grids
    )
    if xlsx:
        xlsx.write_bytes(assessment.assessment_xlsx(result))
        log(f"written to {xlsx}")
    if as_json:
        print_json(result)
        return
    names = [i["name"].split("（")[0] for i in result["indicators"] if i["weight"] > 0]
    table = new_table(
        "排名", "名称", "得分", *names, title=f"{result['level_label']}考评 {first} 至 {last}"
    )
    for unit in result["units"]:
        values = [_percent(i) for i in unit["indicators"] if i["weight"] > 0]
        table.add_row(
            str(unit["rank"] or "—"),
            unit["name"],
            f"{unit['score']:.1f}" if unit["score"] is not None else "—",
            *values,
        )
    out.print(table)


@assess_app.command("trace")
@handles_errors
def assess_trace(
    grid: Annotated[str, typer.Option("--grid", help="a grid code of any level")],
    month: MonthOpt = None,
    start: FromOpt = None,
    end: ToOpt = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """责任倒查: every late or missing step in a grid and period, with who was responsible."""
    from weijian.oversight import tracing

    first, last = _period(month, start, end)
    result = tracing.trace(case_service(), None, grid, first, last)
    if as_json:
        print_json(result)
        return
    table = new_table("案件", "环节", "情况", "期限", "完成", "责任单位", "责任人", "网格责任人")
    for p in result["problems"]:
        table.add_row(
            p["case"] or "—",
            p["step_label"],
            p["status_label"],
            f"{p['due']:%Y-%m-%d %H:%M}",
            f"{p['done_at']:%Y-%m-%d %H:%M}" if p["done_at"] else "",
            p["unit"],
            p["person"],
            p["grid_people"] or "",
        )
    out.print(table)
    log(f"{result['count']} late or missing steps")


@assess_app.command("definitions")
@handles_errors
def assess_definitions(
    load: Annotated[Path | None, typer.Option("--load", help="a new definitions document")] = None,
    by: Annotated[str | None, typer.Option("--by")] = None,
    note: Annotated[str | None, typer.Option("--note")] = None,
) -> None:
    """Show the indicator definitions in force, or load new ones (a new version)."""
    from weijian.oversight import assessment

    service = case_service()
    if load is None:
        with service.engine.connect() as conn:
            version, defs = assessment.active_definitions(conn)
        print_json({"version": version, **defs.document})
        return
    if not (by and note):
        raise InputError(
            "载入考评指标定义须注明修改人和修改原因，请用 --by 姓名 和 --note 原因 说明",
            code="assessment.change_unattributed",
            detail="loading definitions needs --by (who) and --note (why)",
        )
    try:
        document = json.loads(load.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(
            f"{load} 无法读取或不是有效的 JSON 文件（{exc}），请检查文件路径和内容",
            code="file.json_unreadable",
            detail=f"{load} is not a readable JSON document: {exc}",
        ) from None
    with service.engine.begin() as conn:
        version = assessment.load_definitions(conn, document, by, note)
    log(f"assessment definitions version {version} in force")


@campaign_app.command("create")
@handles_errors
def campaign_create(
    name: Annotated[str, typer.Option("--name")],
    start: Annotated[str, typer.Option("--start", help="YYYY-MM-DD")],
    district: Annotated[str | None, typer.Option("--district")] = None,
    by: Annotated[str | None, typer.Option("--by")] = None,
) -> None:
    """Start a clear-to-zero campaign: its baseline is the backlog open on its first day."""
    from weijian.oversight import progress

    try:
        first = date.fromisoformat(start)
    except ValueError:
        raise InputError(
            f"--start“{start}”不是日期，日期应为“年-月-日”，如 2026-03-01",
            code="period.date_invalid",
            detail="--start is a date: YYYY-MM-DD",
        ) from None
    result = progress.create_campaign(case_service(), operator(by), name, first, district=district)
    log(f"campaign {result['id']} “{name}”: baseline {result['baseline']} backlog cases")


@campaign_app.command("list")
@handles_errors
def campaign_list() -> None:
    from weijian.oversight import progress

    table = new_table("id", "名称", "开始", "区县", "基数")
    for c in progress.campaigns(case_service()):
        table.add_row(
            str(c["id"]),
            c["name"],
            str(c["start_date"]),
            c["district_code"] or "全市",
            str(c["baseline"]),
        )
    out.print(table)


@campaign_app.command("progress")
@handles_errors
def campaign_progress(
    campaign: Annotated[int, typer.Argument(help="campaign id")],
    level: Annotated[str, typer.Option("--level")] = "town",
    as_of: Annotated[str | None, typer.Option("--as-of", help="YYYY-MM-DD")] = None,
    grids: Annotated[str, typer.Option("--grids", help="frozen | current")] = "frozen",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Baseline, signed off, remaining and percent per grid, and the monthly trend."""
    from weijian.oversight import progress

    day = date.fromisoformat(as_of) if as_of else None
    result = progress.campaign_progress(
        case_service(), None, campaign, as_of=day, level=level, grids=grids
    )
    if as_json:
        print_json(result)
        return
    rows = result["levels"][level]
    months = [t["month"] for t in rows[0]["trend"]] if rows else []
    table = new_table(
        "编码",
        "名称",
        "基数",
        "已销号",
        "剩余",
        "完成率",
        *months,
        title=f"{result['campaign']['name']}（截至 {result['as_of']}）",
    )
    for r in rows:
        table.add_row(
            r["code"] or "",
            r["name"],
            str(r["baseline"]),
            str(r["signed_off"]),
            str(r["remaining"]),
            f"{r['percent']}%" if r["percent"] is not None else "—",
            *(f"{t['percent']}%" if t["percent"] is not None else "—" for t in r["trend"]),
        )
    out.print(table)
