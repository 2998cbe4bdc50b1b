"""The gate log (门岗登记) over REST: a property company's entries, the warnings repeated
entries without a permit raise, and a warning made a report with one tap. Every route is a thin
call into :class:`weijian.cases.gatelog.GateLog`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field

from weijian.api.dependencies import CasesDep, CurrentUser
from weijian.cases.gatelog import GateEntry, GateLog
from weijian.cases.idempotency import STATE_KEY
from weijian.text import LIMITS

router = APIRouter(prefix="/api/v1/gate-log", tags=["gate log"])


class GateEntryIn(BaseModel):
    compound: str | None = Field(
        default=None, description="the compound grid's code (default: the user's own compound)"
    )
    made_at: datetime | None = Field(
        default=None, description="when the entry was made on the device (ISO with zone)"
    )
    unit: str = Field(max_length=LIMITS["address"], description="楼栋/单元/门牌, e.g. 3栋2单元502")
    materials: list[Annotated[str, Field(max_length=LIMITS["name"])]] = Field(
        default_factory=list, max_length=12, description="from the rule's list, e.g. 水泥、钢材"
    )
    material: str | None = Field(
        default=None, max_length=LIMITS["field"], description="other materials, in words"
    )
    permit_shown: bool = Field(description="whether a permit (审批手续) was shown")
    permit_no: str | None = Field(default=None, max_length=LIMITS["code"])
    decision: Literal["stopped", "let_in"] = Field(description="stopped 劝阻 / let_in 放行")
    note: str | None = Field(default=None, max_length=LIMITS["note"])
    lon: float | None = Field(default=None, description="the unit's point, if known (in crs)")
    lat: float | None = None
    crs: str = Field(default="wgs84", description="wgs84 | cgcs2000 | gcj02 | bd09 | EPSG:n")


@router.post("", status_code=201, summary="Record what came to a compound's gate")
def record(body: GateEntryIn, request: Request, cases: CasesDep, user: CurrentUser) -> dict:
    """The same ``Idempotency-Key`` again (a phone's queue retrying) records nothing new."""
    entry = GateEntry(
        unit=body.unit,
        materials=body.materials,
        material_note=body.material,
        permit_shown=body.permit_shown,
        permit_no=body.permit_no,
        decision=body.decision,
        note=body.note,
        compound=body.compound,
        made_at=body.made_at,
        lon=body.lon,
        lat=body.lat,
        crs=body.crs,
    )
    return GateLog(cases).record(user, entry, getattr(request.state, STATE_KEY, None))


@router.get("", summary="The gate log of the compounds in your scope, newest first")
def entries(
    cases: CasesDep,
    user: CurrentUser,
    compound: Annotated[str | None, Query(max_length=LIMITS["code"])] = None,
    made_from: Annotated[datetime | None, Query(alias="from")] = None,
    made_to: Annotated[datetime | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> dict:
    return GateLog(cases).entries(
        user, compound=compound, made_from=made_from, made_to=made_to, limit=limit
    )


@router.get("/warnings", summary="Warnings of repeated entries without a permit, open first")
def warnings(
    cases: CasesDep, user: CurrentUser, open_only: Annotated[bool, Query(alias="open")] = False
) -> dict:
    return GateLog(cases).warnings(user, open_only=open_only)


@router.post(
    "/warnings/{warning_id}/report", summary="Make a warning a case, one tap (again: the same)"
)
def report(
    warning_id: Annotated[int, Path(ge=1, le=2**62)],
    cases: CasesDep,
    user: CurrentUser,
    response: Response,
) -> dict:
    answer = GateLog(cases).report(user, warning_id)
    response.status_code = 201 if answer["created"] else 200
    return answer
