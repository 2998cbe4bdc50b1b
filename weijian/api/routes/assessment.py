"""Assessment (考评), clear-to-zero campaigns (清零) and responsibility tracing (责任倒查)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from weijian.api.bodies import json_response
from weijian.api.dependencies import AdminUser, CasesDep, CurrentUser
from weijian.errors import InputError
from weijian.oversight import assessment as assessing
from weijian.oversight import periods, progress
from weijian.oversight import tracing as tracer
from weijian.text import LIMITS

router = APIRouter(prefix="/api/v1", tags=["assessment"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Level = Literal["city", "district", "town", "community", "compound"]
Grids = Annotated[
    Literal["frozen", "current"],
    Query(description="frozen: the grids cases were given at intake; current: today's boundaries"),
]


def _dates(start: date | None, end: date | None, month: str | None) -> tuple[date, date]:
    if month:
        return periods.month_period(month)
    if start is None or end is None:
        raise InputError(
            "请给出统计期间：月份 month=年-月（如 2026-03），或起止日期 from 和 to（含首尾两天）",
            code="period.missing",
            detail="give month=YYYY-MM, or from and to (dates, both included)",
        )
    return start, end


From = Annotated[date | None, Query(alias="from", description="first day (included)")]
To = Annotated[date | None, Query(alias="to", description="last day (included)")]
Month = Annotated[str | None, Query(description="YYYY-MM, instead of from/to")]


@router.get("/assessment", summary="Indicators, score and rank of every unit of a level")
def assessment(
    cases: CasesDep,
    user: CurrentUser,
    start: From = None,
    end: To = None,
    month: Month = None,
    level: Level = "town",
    district: str | None = None,
    grids: Grids = "frozen",
    format: Literal["json", "xlsx"] = "json",
):
    first, last = _dates(start, end, month)
    result = assessing.assess(cases, user, first, last, level=level, district=district, grids=grids)
    if format == "xlsx":
        name = f"考评-{result['level_label']}-{first}-{last}.xlsx"
        return Response(
            assessing.assessment_xlsx(result),
            media_type=XLSX,
            headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"},
        )
    return json_response(result)


@router.get("/assessment/levels", summary="Counts and indicators of every unit at every level")
def assessment_levels(
    cases: CasesDep,
    user: CurrentUser,
    start: From = None,
    end: To = None,
    month: Month = None,
    district: str | None = None,
    grids: Grids = "frozen",
):
    first, last = _dates(start, end, month)
    return json_response(
        assessing.all_levels(cases, user, first, last, district=district, grids=grids)
    )


@router.get("/assessment/property-companies", summary="Property companies' rating")
def property_companies(
    cases: CasesDep,
    user: CurrentUser,
    start: From = None,
    end: To = None,
    month: Month = None,
    district: str | None = None,
) -> dict:
    first, last = _dates(start, end, month)
    return assessing.property_companies(cases, user, first, last, district)


@router.get("/assessment/tracing", summary="责任倒查: late or missing steps in a grid and period")
def tracing(
    cases: CasesDep,
    user: CurrentUser,
    grid: str,
    start: From = None,
    end: To = None,
    month: Month = None,
) -> dict:
    first, last = _dates(start, end, month)
    return tracer.trace(cases, user, grid, first, last)


@router.get("/assessment/definitions", summary="The indicator definitions in force")
def definitions(cases: CasesDep, user: CurrentUser) -> dict:
    with cases.engine.connect() as conn:
        version, defs = assessing.active_definitions(conn)
    return {"version": version, **defs.document}


class DefinitionsIn(BaseModel):
    document: dict
    note: str = Field(min_length=1)


@router.post("/assessment/definitions", status_code=201, summary="New indicator definitions")
def load_definitions(body: DefinitionsIn, cases: CasesDep, admin: AdminUser) -> dict:
    with cases.engine.begin() as conn:
        version = assessing.load_definitions(conn, body.document, admin.username, body.note)
    return {"version": version}


class CampaignIn(BaseModel):
    name: str = Field(min_length=1, max_length=LIMITS["name"], examples=["2026年存量违建清零行动"])
    start_date: date
    district: str | None = None
    note: str | None = Field(default=None, max_length=LIMITS["note"])


@router.post("/campaigns", status_code=201, summary="Start a clear-to-zero campaign")
def create_campaign(body: CampaignIn, cases: CasesDep, user: CurrentUser) -> dict:
    return progress.create_campaign(
        cases, user, body.name, body.start_date, district=body.district, note=body.note
    )


@router.get("/campaigns", summary="Clear-to-zero campaigns")
def list_campaigns(cases: CasesDep, user: CurrentUser) -> list[dict]:
    return progress.campaigns(cases)


@router.get("/campaigns/{campaign_id}/progress", summary="Clear-to-zero progress per grid")
def campaign_progress(
    campaign_id: int,
    cases: CasesDep,
    user: CurrentUser,
    as_of: date | None = None,
    level: Level | None = None,
    grids: Grids = "frozen",
) -> dict:
    return progress.campaign_progress(
        cases, user, campaign_id, as_of=as_of, level=level, grids=grids
    )
