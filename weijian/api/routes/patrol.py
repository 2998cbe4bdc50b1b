"""Printed patrol maps as PDF: one grid, or a district's atlas."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query
from fastapi.responses import Response

from weijian.api.dependencies import CasesDep, CurrentUser
from weijian.patrol import service as patrol

router = APIRouter(prefix="/api/v1/patrol-maps", tags=["patrol maps"])

Paper = Annotated[Literal["A4", "A3"], Query(description="paper size")]
Orientation = Annotated[
    Literal["portrait", "landscape", "auto"], Query(description="auto: the grid's shape decides")
]


def _pdf(content: bytes, filename: str) -> Response:
    return Response(
        content,
        media_type="application/pdf",
        headers={"Content-Disposition": f"inline; filename*=UTF-8''{quote(filename)}"},
    )


@router.get("/grids/{code}.pdf", summary="A grid's patrol map (PDF)")
def grid_map(
    code: str,
    cases: CasesDep,
    user: CurrentUser,
    paper: Paper = "A4",
    orientation: Orientation = "auto",
) -> Response:
    content, info = patrol.grid_map(cases, code, paper, orientation, user)
    return _pdf(content, f"{info['name']}违法建设巡查图.pdf")


@router.get("/districts/{code}.pdf", summary="A district's atlas: cover and a page per grid")
def atlas(
    code: str,
    cases: CasesDep,
    user: CurrentUser,
    level: Annotated[Literal["town", "community", "compound"], Query()] = "community",
    paper: Paper = "A4",
    orientation: Orientation = "auto",
) -> Response:
    content, info = patrol.atlas(cases, code, level, paper, orientation, user, processes=1)
    return _pdf(content, info["filename"])
