"""Two kinds of background job that go through many units one by one: a campaign's clear-to-zero
progress recomputed on today's grid boundaries (``grids=current``) for the city or one grid and
its grids below, as a workbook; and the enforcement documents of many cases at once, as one zip
(one PDF per document) or one merged PDF.

Each kind's parameters, the check of the asker's scope made before the job is queued (the same
as the synchronous routes make), and the work, which reports its progress unit by unit and gives
back ``(content, media type, file name, suffix)`` for :mod:`weijian.jobs.kinds` to keep."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import text

from weijian.cases.clock import LOCAL
from weijian.cases.scope import Principal
from weijian.cases.service import CaseService
from weijian.enforcement.documents import Documents
from weijian.errors import InputError, NotFoundError
from weijian.oversight import progress as clear
from weijian.oversight import units
from weijian.text import LIMITS, cell

#: units done, how many in all, what is being done (Chinese)
Progress = Callable[[int, int, str], None]
#: the job's file: content, media type, file name, suffix
File = tuple[bytes, str, str, str]

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
GRID_CODE = r"^[0-9A-Za-z_-]+$"
#: the most cases one batch of documents may name
MAX_CASES = 500

FIELD_LABELS = {
    "grid": "网格编码",
    "as_of": "截止日期",
    "cases": "案件编号",
    "document_kind": "文书种类",
    "format": "文件格式",
}

#: what a job reads with once its asker's scope was checked before it was queued
READER = Principal(id=None, username="jobs", display_name="后台任务", role="supervisor")


def _safe_name(name: str) -> str:
    """A file name part without path separators or characters a zip or a desktop refuses."""
    return re.sub(r'[\\/:*?"<>|\x00-\x1f]+', "-", name).strip(" .-") or "文件"


# -- the clear-to-zero progress on today's grids ---------------------------------------------


class ProgressCurrentParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    campaign: int = Field(ge=1, le=2**31 - 1)
    #: the grid whose progress (with every grid below it) is recomputed; none: the whole city
    grid: str | None = Field(default=None, min_length=1, max_length=32, pattern=GRID_CODE)
    as_of: date | None = None


def check_progress_current(
    cases: CaseService, p: ProgressCurrentParameters, principal: Principal
) -> None:
    """The campaign within the asker's scope (else 404, as the progress route answers); a user
    below the city recomputes their own grid only, a city-wide one the city or any grid."""
    found = clear.grid_progress(cases, principal, p.campaign, "city", "")
    if p.as_of is not None and p.as_of.isoformat() < found["campaign"]["start_date"]:
        raise InputError(
            f"统计截止日期（{p.as_of}）早于清零行动的开始日期（{found['campaign']['start_date']}），"
            "请选择开始日期之后的日期",
            code="campaign.as_of_before_start",
            detail="as_of lies before the campaign's start",
        )
    if not principal.city_wide:
        if p.grid is None:
            raise InputError(
                "请指定要重新计算的网格（本人负责的网格）",
                code="job.grid_required",
                detail="a user below the city names their own grid",
                hint=f"parameters.grid = {principal.grid_code}",
            )
        if p.grid != principal.grid_code:
            raise _grid_not_found(p.grid)
    elif p.grid is not None:
        with cases.read_engine.connect() as conn:
            known = conn.execute(
                text("SELECT 1 FROM active_grid WHERE code = :g LIMIT 1"), {"g": p.grid}
            ).first()
        if known is None:
            raise _grid_not_found(p.grid)


def _grid_not_found(code: str) -> NotFoundError:
    return NotFoundError(
        f"未找到网格 {code}（或不在您的权限范围内），您只能重新计算本人负责的网格",
        code="grid.not_found",
        detail=f"no grid {code} within your scope",
    )


PROGRESS_COLUMNS = (
    ("网格编码", 16),
    ("名称", 24),
    ("上级网格", 24),
    ("基数（件）", 12),
    ("已销号（件）", 14),
    ("剩余（件）", 12),
    ("清零进度（%）", 14),
)


def current_rows(answer: dict, grid: str | None) -> dict[str, list[dict]]:
    """The answer's rows per level, of ``grid`` and the grids below it (all: the city)."""
    out = {}
    for level, rows in answer["levels"].items():
        kept = [r for r in rows if grid is None or grid in (r.get("chain") or [])]
        if kept:
            out[level] = kept
    return out


def run_progress_current(
    cases: CaseService, p: ProgressCurrentParameters, progress: Progress
) -> File:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    levels = [lvl for lvl in units.LEVELS if lvl != "city" or p.grid is None]
    total = len(levels) + 1
    progress(0, total, "正在按现行网格统计")
    answer = clear.campaign_progress(cases, None, p.campaign, as_of=p.as_of, grids="current")
    by_level = current_rows(answer, p.grid)
    with cases.read_engine.connect() as conn:
        names = units.grid_names(conn)
    scope = "全市" if p.grid is None else names.get(p.grid, p.grid)
    campaign = answer["campaign"]
    title = f"{campaign['name']} 清零进度（{scope}，按现行网格，截至 {answer['as_of']}）"
    book = Workbook()
    about = book.active
    about.title = "说明"
    about.append([cell(title)])
    about["A1"].font = Font(bold=True, size=13)
    for label, value in (
        ("清零行动", campaign["name"]),
        ("开始日期", campaign["start_date"]),
        ("统计截止", answer["as_of"]),
        ("范围", scope),
        ("网格口径", "现行网格：按今天的网格边界归属，基数案件不变"),
    ):
        about.append([label, cell(value)])
    about.column_dimensions["A"].width = 14
    about.column_dimensions["B"].width = 60
    for done, level in enumerate(levels, start=1):
        label = units.LEVEL_LABELS[level]
        progress(done, total, f"正在写入{label}")
        rows = by_level.get(level, [])
        if not rows:
            continue
        sheet = book.create_sheet(label)
        sheet.append([name for name, _ in PROGRESS_COLUMNS])
        for i, (_, width) in enumerate(PROGRESS_COLUMNS):
            sheet.column_dimensions[chr(ord("A") + i)].width = width
        for c in sheet[1]:
            c.font = Font(bold=True)
        for r in rows:
            parent = names.get(r["parent"], r["parent"]) if r.get("parent") else ""
            sheet.append(
                [
                    cell(r["code"] or ""),
                    cell(r["name"]),
                    cell(parent),
                    r["baseline"],
                    r["signed_off"],
                    r["remaining"],
                    r["percent"],
                ]
            )
        sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    name = f"{_safe_name(campaign['name'])}-{_safe_name(scope)}-现行网格清零进度-{answer['as_of']}"
    return buffer.getvalue(), XLSX, f"{name}.xlsx", ".xlsx"


# -- documents of many cases -------------------------------------------------------------------

CaseNumber = Annotated[str, Field(min_length=1, max_length=LIMITS["code"])]


class DocumentsParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cases: list[CaseNumber] = Field(min_length=1, max_length=MAX_CASES)
    #: one kind of document only (e.g. stop_order); none: every valid document of the cases
    document_kind: str | None = Field(default=None, min_length=1, max_length=LIMITS["code"])
    #: zip: one PDF per document; pdf: one PDF of them all, in the cases' order
    format: Literal["zip", "pdf"] = "zip"

    @field_validator("cases")
    @classmethod
    def _distinct(cls, numbers: list[str]) -> list[str]:
        seen: dict[str, None] = {}
        for number in numbers:
            seen.setdefault(number.strip().upper(), None)
        return list(seen)


DOCUMENTS_SQL = (
    "SELECT d.id, d.kind, d.title, d.number, d.sha256, d.issued_at, c.number AS case_number "
    "FROM enforcement_document d JOIN violation_case c ON c.id = d.case_id "
    "WHERE c.number = ANY(:numbers) AND d.status = 'issued' "
    "AND (CAST(:kind AS text) IS NULL OR d.kind = :kind) "
    "ORDER BY array_position(CAST(:numbers AS text[]), c.number), d.id"
)


def _documents(conn, p: DocumentsParameters) -> list:
    return conn.execute(text(DOCUMENTS_SQL), {"numbers": p.cases, "kind": p.document_kind}).all()


def check_documents(cases: CaseService, p: DocumentsParameters, principal: Principal) -> None:
    """Every case one the asker may read (else 404, as the single document's route answers),
    the kind a known one, and at least one valid document among them."""
    if p.document_kind is not None:
        Documents(cases).catalogue.kind(p.document_kind)
    with cases.engine.connect() as conn:
        for number in p.cases:
            cases._visible(conn, number, principal)
        found = _documents(conn, p)
    if not found:
        what = "该种类的" if p.document_kind else ""
        raise InputError(
            f"所选的 {len(p.cases)} 件案件没有{what}有效执法文书，无需批量生成",
            code="job.documents_none",
            detail="none of the cases has a valid document (of that kind)",
            hint="issue documents on the cases first, or choose other cases",
        )


def run_documents(cases: CaseService, p: DocumentsParameters, progress: Progress) -> File:
    with cases.engine.connect() as conn:
        found = _documents(conn, p)
    total = len(found)
    parts: list[tuple[str, bytes]] = []
    listing = []
    for i, doc in enumerate(found):
        progress(i, total, f"正在生成文书，已完成 {i}/{total}")
        content, _ = cases.evidence_bytes(READER, doc.case_number, doc.sha256)
        name = _safe_name(f"{doc.case_number}-{doc.title}-{doc.number}") + ".pdf"
        parts.append((name, content))
        listing.append(doc)
    progress(total, total, "正在打包")
    count = len({d.case_number for d in found})
    stem = f"执法文书-{count}件案件-{total}份"
    if p.format == "pdf":
        from pypdf import PdfWriter

        writer = PdfWriter()
        for _, content in parts:
            writer.append(io.BytesIO(content))
        buffer = io.BytesIO()
        writer.write(buffer)
        return buffer.getvalue(), "application/pdf", f"{stem}.pdf", ".pdf"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts:
            archive.writestr(name, content)
        archive.writestr("文书清单.xlsx", _listing(listing, [n for n, _ in parts]))
    return buffer.getvalue(), "application/zip", f"{stem}.zip", ".zip"


def _listing(found: list, names: list[str]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = "文书清单"
    sheet.append(["序号", "案件编号", "文书", "文号", "签发时间", "文件名"])
    for c in sheet[1]:
        c.font = Font(bold=True)
    for i, (doc, name) in enumerate(zip(found, names, strict=True), start=1):
        issued = doc.issued_at.astimezone(LOCAL).strftime("%Y-%m-%d %H:%M")
        sheet.append(
            [i, cell(doc.case_number), cell(doc.title), cell(doc.number), issued, cell(name)]
        )
    for column, width in zip("ABCDEF", (6, 18, 22, 30, 18, 60), strict=True):
        sheet.column_dimensions[column].width = width
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
