"""The assessment (考评) of every grid unit and of the property companies for a period: the
counts from :mod:`.figures` (grouped SQL), the indicators and the ranking from
:mod:`.indicators` (definitions as data), joined to periods, scopes and grid names for the API
and the CLI alike; and the ranking as a workbook."""

from __future__ import annotations

import io
from datetime import date, datetime

from sqlalchemy import Connection

from weijian.cases import definitions as stored
from weijian.cases.scope import Principal
from weijian.cases.service import CaseService
from weijian.errors import InputError, PermissionDenied
from weijian.oversight import figures, indicators, units
from weijian.oversight.periods import period
from weijian.text import cell as safe_cell


def active_definitions(conn: Connection) -> tuple[int, indicators.Definitions]:
    version = stored.active_version(conn, "assessment_definition")
    return version, indicators.parse(stored.document(conn, "assessment_definition", version))


def load_definitions(conn: Connection, document: dict, by: str, note: str) -> int:
    indicators.parse(document)
    return stored.store(conn, "assessment_definition", document, by, note)


def counts(
    cases: CaseService,
    conn: Connection,
    definitions: indicators.Definitions,
    lo: datetime,
    hi: datetime,
    *,
    grids: str = "frozen",
    district: str | None = None,
    deepest: str = "compound",
) -> dict:
    """Every unit's counts for [lo, hi) as the assessment counts them, by the service's clock
    and the city's ledger due day: the one call behind the assessment and the dashboard;
    ``deepest``: the lowest level counted."""
    return figures.unit_counts(
        conn,
        definitions,
        lo,
        hi,
        grids=grids,
        district=district,
        now=cases.clock.now(),
        ledger_due_day=cases.settings.ledger_due_day,
        kept=cases.engine,
        deepest=deepest,
    )


def assess(
    cases: CaseService,
    principal: Principal | None,
    start: date,
    end: date,
    *,
    level: str = "town",
    district: str | None = None,
    grids: str = "frozen",
) -> dict:
    """Indicators and the ranking of every unit of ``level`` (and every level's counts)."""
    if level not in units.LEVELS:
        raise InputError(
            f"考评层级“{level}”无效，应为以下之一：{'、'.join(units.LEVELS)}",
            code="assessment.level_invalid",
            detail=f"level must be one of {', '.join(units.LEVELS)}",
        )
    if principal is not None and principal.role in ("grid_worker", "property_company"):
        raise PermissionDenied(
            "考评结果只供督导人员、职能部门和镇（街道）查看，网格员和物业公司无权查看",
            code="assessment.role_not_allowed",
            detail="the assessment is read by supervisors, departments and towns",
        )
    lo, hi = period(start, end)
    district = units.district_filter(principal, district)
    with cases.read_engine.connect() as conn:
        version, definitions = active_definitions(conn)
        deepest = level if level != "city" else "district"  # nothing below the level ranked
        counted = counts(
            cases, conn, definitions, lo, hi, grids=grids, district=district, deepest=deepest
        )
        names = units.grid_names(conn)
    rows = units.rows(counted, level, names, principal)
    ranked = indicators.rank(definitions.indicators, rows, definitions.empty_rate)
    return {
        "period": {"from": start.isoformat(), "to": end.isoformat()},
        "level": level,
        "level_label": units.LEVEL_LABELS[level],
        "grids": grids,
        "district": district,
        "definitions_version": version,
        "empty_rate": definitions.empty_rate,
        "formulas": {i.code: i.formula() for i in definitions.indicators},
        "definitions_name": definitions.name,
        "indicators": [i.as_json() for i in definitions.indicators],
        "units": ranked,
    }


def all_levels(
    cases: CaseService,
    principal: Principal | None,
    start: date,
    end: date,
    *,
    district: str | None = None,
    grids: str = "frozen",
) -> dict[str, list[dict]]:
    """Counts and indicators of every unit at every level (one query)."""
    lo, hi = period(start, end)
    district = units.district_filter(principal, district)
    with cases.read_engine.connect() as conn:
        _, definitions = active_definitions(conn)
        counted = counts(cases, conn, definitions, lo, hi, grids=grids, district=district)
        names = units.grid_names(conn)
    return {
        level: [
            {**row, "indicators": indicators.values(definitions.indicators, row["counts"])}
            for row in units.rows(counted, level, names, principal)
        ]
        for level in units.LEVELS
    }


def property_companies(
    cases: CaseService, principal: Principal | None, start: date, end: date, district=None
) -> dict:
    lo, hi = period(start, end)
    district = units.district_filter(principal, district)
    with cases.read_engine.connect() as conn:
        _, definitions = active_definitions(conn)
        companies = figures.property_counts(conn, lo, hi, district)
        names = units.grid_names(conn)
    for company in companies:
        company["compound"] = names.get(company["grid_code"], company["grid_code"])
    return {
        "period": {"from": start.isoformat(), "to": end.isoformat()},
        "indicators": [i.as_json() for i in definitions.property_indicators],
        "companies": indicators.rank(
            definitions.property_indicators, companies, definitions.empty_rate
        ),
    }


def assessment_xlsx(result: dict) -> bytes:
    """The ranking table as a workbook: Chinese headers, frozen, filtered, widths that fit."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    sheet.title = f"{result['level_label']}考评"
    headers = ["排名", "编码", "名称", "综合得分"]
    for ind in result["indicators"]:
        headers.append(f"{ind['name']}（{ind['unit']}）")
    sheet.append(headers)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for unit in result["units"]:
        row = [unit["rank"], safe_cell(unit["code"] or ""), safe_cell(unit["name"]), unit["score"]]
        for item in unit["indicators"]:
            value = item["value"]
            if value is not None and item["unit"] == "%":
                value = round(100 * value, 2)
            elif value is None:
                value = "无应办事项" if item.get("empty") else "—"
            row.append(value)
        sheet.append(row)
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{sheet.max_row}"
    for i, header in enumerate(headers, start=1):
        width = max(
            len(str(header)) * 2,
            *(len(str(c.value or "")) * 1.2 for c in sheet[get_column_letter(i)]),
        )
        sheet.column_dimensions[get_column_letter(i)].width = min(max(width, 8), 40)
    info = book.create_sheet("说明")
    for row in (
        ("考评期间", f"{result['period']['from']} 至 {result['period']['to']}"),
        ("考评层级", result["level_label"]),
        ("指标定义版本", result["definitions_version"]),
        ("网格口径", "立案时所属网格" if result["grids"] == "frozen" else "现行网格边界"),
        (),
        ("综合得分", "Σ（权重 × 得分比例）÷ Σ权重 × 100，满分 100；得分相同者名次相同"),
        ("无应办事项", indicators.EMPTY_RATE_RULES[result["empty_rate"]]),
        (),
        ("指标", "权重", "计算公式与计分方法"),
    ):
        info.append(row)
    for ind in result["indicators"]:
        info.append((ind["name"], ind["weight"], result["formulas"][ind["code"]]))
    info.column_dimensions["A"].width = 28
    info.column_dimensions["C"].width = 90
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
