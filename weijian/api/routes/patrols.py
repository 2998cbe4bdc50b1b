"""Patrol tracks (巡查轨迹) from the field app, and the patrol coverage of a grid
(:mod:`weijian.patrol.tracks`, :mod:`weijian.oversight.coverage`)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from weijian.api.dependencies import CasesDep, CurrentUser
from weijian.oversight import coverage as patrol_coverage
from weijian.oversight import dashboard
from weijian.oversight.periods import period as day_period
from weijian.patrol import tracks

router = APIRouter(prefix="/api/v1/patrols", tags=["patrols"])


class StartIn(BaseModel):
    made_at: str = Field(description="when the patrol began on the device (ISO, with its zone)")


class PointIn(BaseModel):
    lon: float
    lat: float
    t: str = Field(description="when the point was taken (ISO, with its zone)")
    accuracy: float | None = Field(default=None, description="metres, as the device reports")


class PointsIn(BaseModel):
    points: list[PointIn] = Field(max_length=tracks.MAX_BATCH)
    crs: str = Field(default="wgs84", description="wgs84 (GPS), cgcs2000, gcj02 …")


@router.post("", status_code=201, summary="开始巡查: a new track (the same again for a repeat)")
def start(body: StartIn, cases: CasesDep, user: CurrentUser) -> dict:
    return tracks.start(cases.engine, user, body.made_at, cases.clock.now())


@router.post("/{track_id}/points", summary="A batch of points (repeats and any order are fine)")
def points(track_id: int, body: PointsIn, cases: CasesDep, user: CurrentUser) -> dict:
    return tracks.append(
        cases.engine, user, track_id, [p.model_dump() for p in body.points], body.crs
    )


@router.post("/{track_id}/stop", summary="结束巡查")
def stop(track_id: int, body: StartIn, cases: CasesDep, user: CurrentUser) -> dict:
    return tracks.stop(cases.engine, user, track_id, body.made_at)


def _days(start: date | None, end: date | None, period: str | None, cases) -> tuple:
    first, last, _label = dashboard.chosen_period(cases, start, end, period)
    return day_period(first, last)


@router.get("/coverage", summary="巡查覆盖率: compounds passed within 50 m, per sub-grid")
def coverage(
    cases: CasesDep,
    user: CurrentUser,
    grid: Annotated[str, Query(description="a grid's code")],
    period: Annotated[
        str | None,
        Query(description="2026 (year), 2026-Q1 (quarter) or 2026-03 (month); this month if none"),
    ] = None,
    start: Annotated[date | None, Query(alias="from", description="first day (included)")] = None,
    end: Annotated[date | None, Query(alias="to", description="last day (included)")] = None,
    geometry: Annotated[bool, Query(description="the outlines too (GeoJSON), for the map")] = False,
) -> dict:
    since, until = _days(start, end, period, cases)
    return patrol_coverage.coverage(
        cases.engine, user, grid, since, until, cases.clock.now(), geometry=geometry
    )


@router.get("", summary="The tracks you may read (yours; your grid's workers'), newest first")
def listing(
    cases: CasesDep,
    user: CurrentUser,
    start: Annotated[date | None, Query(alias="from", description="first day (included)")] = None,
    end: Annotated[date | None, Query(alias="to", description="last day (included)")] = None,
    username: Annotated[str | None, Query(alias="user", description="one worker")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict:
    since = until = None
    if start is not None or end is not None:
        since, until = _days(start, end, None, cases)
    found = tracks.listing(cases.engine, user, since, until, username, limit)
    return {"tracks": found, "count": len(found)}


@router.get("/{track_id}", summary="One track as GeoJSON (CGCS2000), with its points' times")
def one(track_id: int, cases: CasesDep, user: CurrentUser) -> dict:
    return tracks.feature(cases.engine, user, track_id)
