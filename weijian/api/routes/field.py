"""The field app's own reads (移动端): 我的网格 (:mod:`weijian.patrol.field`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from weijian.api.dependencies import CasesDep, CurrentUser
from weijian.patrol import field

router = APIRouter(prefix="/api/v1/field", tags=["field app"])


@router.get("/grid", summary="我的网格: the user's grid, its zones and open cases, nearest first")
def my_grid(
    cases: CasesDep,
    user: CurrentUser,
    lon: Annotated[float | None, Query(description="where the phone is (longitude) in crs")] = None,
    lat: Annotated[float | None, Query(description="latitude in crs")] = None,
    crs: Annotated[str, Query(max_length=40, description="wgs84 (GPS), cgcs2000, gcj02 …")] = (
        "wgs84"
    ),
) -> dict:
    return field.my_grid(cases, user, lon, lat, crs)
