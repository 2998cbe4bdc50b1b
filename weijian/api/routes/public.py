"""The public's part over REST, without a login (the pages at ``/report`` use it): following a
report by its receipt, its photos and its rating (随手拍 · 大家评), the proof-of-work challenge
past an address's hourly share of reports, and the public statistics (``/report/stats``).
Every route is a thin call into :mod:`weijian.cases.public`, :mod:`weijian.cases.challenge` or
:mod:`weijian.oversight.public_stats`; none of them answers a name, a phone or a case's point."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Query, UploadFile
from pydantic import BaseModel, Field

from weijian.api.dependencies import CasesDep
from weijian.cases import challenge as challenges
from weijian.cases.evidence import Device
from weijian.cases.public import MAX_COMMENT, PublicFollowUp
from weijian.oversight import public_stats
from weijian.text import LIMITS
from weijian.web_map.basemaps import basemap_config

router = APIRouter(prefix="/api/v1", tags=["public"])


@router.get("/receipts/{code}", summary="A citizen's receipt: the state, steps and outcome")
def receipt(code: str, cases: CasesDep) -> dict:
    return PublicFollowUp(cases).receipt(code)


@router.post(
    "/receipts/{code}/photos",
    status_code=201,
    summary="A photo of one's own report (at most 3, within a day of sending it)",
)
def add_photo(
    code: str,
    cases: CasesDep,
    file: Annotated[UploadFile, File(description="JPEG, PNG or WebP")],
    taken_at: Annotated[datetime | None, Form(description="when the phone took it")] = None,
    lon: Annotated[float | None, Form(description="where the phone took it, in crs")] = None,
    lat: Annotated[float | None, Form()] = None,
    crs: Annotated[str, Form(max_length=LIMITS["code"])] = "wgs84",
) -> dict:
    device = Device(taken_at=taken_at, lon=lon, lat=lat, crs=crs)
    return PublicFollowUp(cases).add_photo(code, file.file, file.filename or "photo", device)


class RatingIn(BaseModel):
    score: int = Field(strict=True, description="1 很不满意 … 5 很满意 (an integer)")
    comment: str | None = Field(default=None, max_length=MAX_COMMENT)


@router.post("/receipts/{code}/rating", summary="The reporter rates a closed case (once)")
def rate(code: str, body: RatingIn, cases: CasesDep) -> dict:
    return PublicFollowUp(cases).rate(code, body.score, body.comment)


@router.post(
    "/challenges", status_code=201, summary="A proof-of-work challenge for an anonymous report"
)
def new_challenge(cases: CasesDep) -> dict:
    """What a browser solves once its address has sent its hour's share of anonymous reports:
    an integer n such that SHA-256 of "<nonce>:<n>" begins with ``bits`` zero bits; the report
    then carries the header ``X-Weijian-Challenge: <nonce>:<n>``. Each challenge opens one
    report within ten minutes."""
    with cases.engine.begin() as conn:
        return challenges.issue(conn, cases.clock.now(), cases.settings.citizen_challenge_bits)


@router.get("/public/basemap", summary="The basemap the public pages draw under their maps")
def basemap(cases: CasesDep) -> dict | None:
    """The configured basemap's tile layers (as the supervisors' map has them), or null."""
    return basemap_config(cases.settings)


Month = Annotated[str | None, Query(description="YYYY-MM; this month if none")]


@router.get("/public/stats", summary="Public statistics per district for a month")
def stats(cases: CasesDep, month: Month = None) -> dict:
    """New cases, backlog at the month's end, signed off, 清零 %, average handling time and
    average rating, per district and for the city: counts only, nothing personal."""
    return public_stats.month_figures(cases, month)


@router.get("/public/stats/grids", summary="The grids of a level with their 清零 % (GeoJSON)")
def stats_grids(
    cases: CasesDep,
    level: Literal["district", "town", "community"] = "community",
    month: Month = None,
) -> dict:
    return public_stats.grid_map(cases, level, month)
