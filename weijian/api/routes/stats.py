"""The supervisors' dashboard (统计): one endpoint, the figures of the user's scope for a
period, and each ranking table as a workbook (:mod:`weijian.oversight.dashboard`)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query
from fastapi.responses import Response

from weijian.api.bodies import json_response
from weijian.api.dependencies import CasesDep, CurrentUser
from weijian.oversight import dashboard

router = APIRouter(prefix="/api/v1", tags=["assessment"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get("/stats", summary="统计: totals, rankings and trends of your scope for a period")
def stats(
    cases: CasesDep,
    user: CurrentUser,
    period: Annotated[
        str | None,
        Query(description="2026 (year), 2026-Q1 (quarter) or 2026-03 (month); this month if none"),
    ] = None,
    start: Annotated[date | None, Query(alias="from", description="first day (included)")] = None,
    end: Annotated[date | None, Query(alias="to", description="last day (included)")] = None,
    campaign: Annotated[int | None, Query(description="清零行动; the latest by default")] = None,
    format: Literal["json", "xlsx"] = "json",
    table: Annotated[str, Query(description="xlsx: district, town or community")] = "town",
    sort: Literal["score", "clear"] = "score",
):
    first, last, label = dashboard.chosen_period(cases, start, end, period)
    result = dashboard.dashboard(cases, user, first, last, label=label, campaign_id=campaign)
    if format == "xlsx":
        body = dashboard.table_xlsx(result, table, sort)
        name = f"统计-{result['scope']['name']}-{result['levels'][table]}-{first}-{last}.xlsx"
        return Response(
            body,
            media_type=XLSX,
            headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"},
        )
    return json_response(result)
