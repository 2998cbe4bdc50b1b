"""The monthly ledger (台账) of a town over REST: read it as JSON, xlsx or CSV, submit it to the
district with the signed scan, see a month's submissions and which towns of a district have
submitted theirs, and accept or return a submission. Thin: the work is done by
:mod:`weijian.oversight.ledger` and :mod:`weijian.oversight.submissions`."""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field

from weijian.api.dependencies import CasesDep, CurrentUser
from weijian.cases.scope import Principal
from weijian.cases.service import CaseService
from weijian.errors import InputError, NotFoundError
from weijian.oversight import ledger, periods, submissions
from weijian.text import LIMITS

router = APIRouter(prefix="/api/v1/ledger", tags=["ledger"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ReviewIn(BaseModel):
    decision: Literal["accept", "return"] = Field(description="accept (接收) or return (退回)")
    reason: str | None = Field(
        default=None, max_length=LIMITS["reason"], description="why it is returned (退回理由)"
    )


def _attachment(content: bytes, media_type: str, filename: str, fallback: str) -> Response:
    """A download named in Chinese (RFC 6266 filename*), with an ASCII name for old clients."""
    disposition = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"
    return Response(content, media_type=media_type, headers={"Content-Disposition": disposition})


def _ledger(
    cases: CaseService, user: Principal, town_code: str, month: str
) -> tuple[dict, date, list[dict]]:
    """The town (in the user's scope) and its rows for the month, read in one snapshot."""
    first = periods.parse_month(month)
    with cases.engine.connect() as conn:
        conn.execution_options(isolation_level="REPEATABLE READ")
        town = ledger.town_info(conn, town_code)
        ledger.check_read(user, town)
        rows = ledger.ledger_rows(
            conn, cases.workflow, town_code, first, calendar=cases.calendar, now=cases.clock.now()
        )
    return town, first, rows


@router.get("/submissions", summary="Which towns of a district submitted a month's ledger")
def list_submissions(
    cases: CasesDep,
    user: CurrentUser,
    district: Annotated[str, Query(description="the district (区县) grid's code")],
    month: Annotated[
        str | None, Query(description="YYYY-MM; by default the last month (the latest due)")
    ] = None,
) -> dict:
    now = cases.clock.now()
    first = periods.parse_month(month) if month else periods.last_month(now)
    with cases.engine.connect() as conn:
        items = submissions.submissions(conn, district, first, now, cases.settings.ledger_due_day)
        name = ledger.district_name(conn, district)
    if not user.city_wide and user.grid_code != district:
        # a town sees its own row; anyone else outside the district sees nothing
        items = [i for i in items if i["town_code"] == user.grid_code and user.role == "town"]
        if not items:
            raise NotFoundError(
                f"未找到区县 {district}（或不在您的权限范围内）；各镇（街道）的台账报送情况"
                "只供本区县和全市用户查看",
                code="district.not_found",
                detail=f"no district {district} within your scope",
                hint="the district's and city-wide users see every town's submission",
            )
    counts = {code: sum(i["status"] == code for i in items) for code in submissions.STATUS_LABELS}
    states = {code: sum(i["state"] == code for i in items) for code in submissions.STATE_LABELS}
    return {
        "district": district,
        "district_name": name,
        "month": periods.month_text(first),
        "due_date": periods.due_date(first, cases.settings.ledger_due_day).isoformat(),
        "as_of": now,
        "count": len(items),
        "counts": counts,
        "state_counts": states,
        "can_review": any(
            submissions.can_review(user, {"code": i["town_code"], "district_code": district})
            for i in items[:1]
        ),
        "items": items,
    }


@router.get("/{town_code}/{month}", summary="A town's monthly ledger: JSON, xlsx or CSV")
def get_ledger(
    town_code: str,
    month: str,
    cases: CasesDep,
    user: CurrentUser,
    format: Annotated[
        Literal["json", "xlsx", "csv"], Query(description="json (default), xlsx or csv")
    ] = "json",
):
    town, first, rows = _ledger(cases, user, town_code, month)
    filename = f"台账-{town['name']}-{periods.month_text(first)}"
    fallback = f"ledger-{town_code}-{periods.month_text(first)}"
    if format == "xlsx":
        content = ledger.export_xlsx(rows, town["name"], first, generated_at=cases.clock.now())
        return _attachment(content, XLSX, filename + ".xlsx", fallback + ".xlsx")
    if format == "csv":
        content = ledger.export_csv(rows)
        return _attachment(content, "text/csv; charset=utf-8", filename + ".csv", fallback + ".csv")
    return {
        "town": town_code,
        "town_name": town["name"],
        "district": town["district_code"],
        "district_name": town["district_name"],
        "month": periods.month_text(first),
        "count": len(rows),
        "counts": ledger.summary_counts(rows),
        "headers": list(ledger.HEADERS),
        "rows": rows,
    }


@router.post(
    "/{town_code}/{month}/submission",
    status_code=201,
    summary="Submit the town's ledger of a month to the district (报区县城管执法部门备案)",
)
def submit_ledger(
    town_code: str,
    month: str,
    cases: CasesDep,
    user: CurrentUser,
    submitter: Annotated[str | None, Form(description="who filled it in (填报人), by name")] = None,
    reviewer: Annotated[str | None, Form(description="who checked it (审核人), by name")] = None,
    note: Annotated[str | None, Form(description="a remark for the district (备注)")] = None,
    scan: Annotated[
        UploadFile | None, File(description="the signed and stamped ledger: PDF, JPG or PNG")
    ] = None,
) -> dict:
    town, first, rows = _ledger(cases, user, town_code, month)
    if scan is None:
        raise InputError(
            "报送台账须以表单（multipart/form-data）提交：填报人（submitter）、审核人（reviewer，"
            "可不填）、备注（note），并附签字盖章的台账扫描件（scan，PDF 或 JPG、PNG 照片）",
            code="ledger.scan_required",
            detail="a submission is a multipart form with submitter and the signed scan (scan)",
            hint="scan or photograph the signed and stamped ledger and attach it as 'scan'",
        )
    submissions.person_name(submitter, "填报人", user, required=True)
    max_bytes = int(cases.settings.max_evidence_mb * 1024 * 1024)
    signed = submissions.read_scan(scan.file, scan.filename or "scan", max_bytes)
    now = cases.clock.now()
    content = ledger.export_xlsx(rows, town["name"], first, generated_at=now)
    with cases.engine.begin() as conn:
        return submissions.submit(
            conn,
            user,
            town_code,
            first,
            rows,
            hashlib.sha256(content).hexdigest(),
            now,
            note=note,
            due_day=cases.settings.ledger_due_day,
            submitter=submitter,
            reviewer=reviewer,
            scan=signed,
            store=cases.store,
        )


@router.get(
    "/{town_code}/{month}/submissions",
    summary="Every submission of a town's month, the latest first, with the district's decisions",
)
def submission_history(town_code: str, month: str, cases: CasesDep, user: CurrentUser) -> dict:
    first = periods.parse_month(month)
    with cases.engine.connect() as conn:
        return submissions.history(
            conn, user, town_code, first, cases.clock.now(), cases.settings.ledger_due_day
        )


@router.get("/submissions/{submission_id}/scan", summary="The signed scan of a submission")
def submission_scan(submission_id: int, cases: CasesDep, user: CurrentUser) -> Response:
    with cases.engine.connect() as conn:
        content, media_type, filename = submissions.scan_of(conn, user, submission_id, cases.store)
    disposition = f"inline; filename*=UTF-8''{quote(filename)}"
    return Response(content, media_type=media_type, headers={"Content-Disposition": disposition})


@router.post(
    "/submissions/{submission_id}/review",
    summary="The district accepts (接收) or returns (退回, with a reason) a submission",
)
def review_submission(
    submission_id: int, body: ReviewIn, cases: CasesDep, user: CurrentUser
) -> dict:
    with cases.engine.begin() as conn:
        return submissions.review(
            conn, user, submission_id, body.decision, body.reason, cases.clock.now()
        )
