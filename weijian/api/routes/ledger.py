"""The monthly ledger (台账) of a town over REST: read it as JSON, xlsx or CSV, submit it to the
district, and see which towns of a district have submitted theirs. Thin: the work is done by
:mod:`weijian.oversight.ledger`."""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from weijian.api.dependencies import CasesDep, CurrentUser
from weijian.cases.scope import Principal
from weijian.cases.service import CaseService
from weijian.errors import NotFoundError
from weijian.oversight import ledger, periods
from weijian.text import LIMITS

router = APIRouter(prefix="/api/v1/ledger", tags=["ledger"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class SubmissionIn(BaseModel):
    note: str | None = Field(
        default=None, max_length=LIMITS["note"], description="a remark for the district (备注)"
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
    month: Annotated[str, Query(description="YYYY-MM")],
) -> dict:
    first = periods.parse_month(month)
    now = cases.clock.now()
    with cases.engine.connect() as conn:
        items = ledger.submissions(conn, district, first, now, cases.settings.ledger_due_day)
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
    counts = {code: sum(i["status"] == code for i in items) for code in ledger.STATUS_LABELS}
    return {
        "district": district,
        "district_name": name,
        "month": periods.month_text(first),
        "due_date": periods.due_date(first, cases.settings.ledger_due_day).isoformat(),
        "count": len(items),
        "counts": counts,
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
    body: SubmissionIn | None = None,
) -> dict:
    town, first, rows = _ledger(cases, user, town_code, month)
    now = cases.clock.now()
    content = ledger.export_xlsx(rows, town["name"], first, generated_at=now)
    with cases.engine.begin() as conn:
        return ledger.submit(
            conn,
            user,
            town_code,
            first,
            rows,
            hashlib.sha256(content).hexdigest(),
            now,
            note=body.note if body else None,
            due_day=cases.settings.ledger_due_day,
        )
