"""Construction projects (项目追踪) over REST: the register — imported from a red-line file or
drawn — its stages, its inspections with photos, and a finding that opens a case. Every route
is a thin call into :class:`weijian.projects.register.Projects`."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field

from weijian.api.dependencies import CasesDep, CurrentUser
from weijian.api.routes.layers import uploaded
from weijian.cases.intake import Intake
from weijian.errors import InputError
from weijian.projects.register import Projects
from weijian.text import LIMITS

router = APIRouter(prefix="/api/v1", tags=["projects"])
FINDING_HELP = (
    'a violation found: JSON {"lon", "lat", "crs", "description", "track", "footprint"}; it '
    "opens a case from the project_tracking channel"
)

Stage = Literal["approved", "under_construction", "completion_acceptance", "done"]


@router.get("/projects", summary="The construction projects of your scope with their figures")
def list_projects(
    cases: CasesDep,
    user: CurrentUser,
    stage: Stage | None = None,
    overdue: Annotated[bool, Query(description="only those with an overdue inspection")] = False,
    format: Literal["json", "geojson"] = "json",
):
    projects = Projects(cases)
    if format == "geojson":
        return projects.geojson(user)
    return {"projects": projects.list(user, stage=stage, overdue=overdue)}


class ProjectIn(BaseModel):
    name: str = Field(max_length=LIMITS["name"], examples=["江山花园二期"])
    red_line: dict[str, Any] = Field(description="GeoJSON Polygon / MultiPolygon, drawn, in crs")
    crs: str = "wgs84"
    code: str | None = Field(default=None, max_length=LIMITS["code"])
    developer: str | None = Field(default=None, max_length=LIMITS["name"])
    planning_permit: str | None = Field(default=None, max_length=LIMITS["code"])
    construction_permit: str | None = Field(default=None, max_length=LIMITS["code"])
    stage: Stage = "approved"


@router.post("/projects", status_code=201, summary="Register a project with a drawn red line")
def create_project(body: ProjectIn, cases: CasesDep, user: CurrentUser) -> dict:
    return Projects(cases).create(user, **body.model_dump())


@router.post("/projects/import", status_code=201, summary="Register projects from a red-line file")
def import_projects(
    cases: CasesDep,
    user: CurrentUser,
    file: Annotated[UploadFile, File(description=".zip shapefile, .gpkg or .geojson")],
    name_field: Annotated[str, Form(description="the field of the project's name, e.g. XMMC")],
    code_field: Annotated[str | None, Form()] = None,
    developer_field: Annotated[str | None, Form()] = None,
    planning_permit_field: Annotated[str | None, Form(description="规划许可证号")] = None,
    construction_permit_field: Annotated[str | None, Form(description="施工许可证号")] = None,
    stage: Annotated[Stage, Form()] = "approved",
    crs: Annotated[str | None, Form()] = None,
    encoding: Annotated[str | None, Form()] = None,
    member: Annotated[str | None, Form()] = None,
) -> dict:
    fields = {k: v or None for k, v in locals().items() if k.endswith("_field")}
    with uploaded(file) as path:
        return Projects(cases).import_file(
            user,
            path,
            **fields,
            stage=stage,
            crs=crs or None,
            encoding=encoding or None,
            member=member or None,
            source_name=file.filename,
        )


@router.get("/projects/{ref}", summary="One project: figures, inspections, cases")
def get_project(ref: str, cases: CasesDep, user: CurrentUser) -> dict:
    return Projects(cases).get(user, ref)


class StageIn(BaseModel):
    stage: Stage


@router.put("/projects/{ref}/stage", summary="Move a project to its next stage")
def set_stage(ref: str, body: StageIn, cases: CasesDep, user: CurrentUser) -> dict:
    return Projects(cases).set_stage(user, ref, body.stage)


def _finding(raw: str | None) -> Intake | None:
    """The violation an inspection found, as JSON: lon, lat, crs, description, track,
    footprint."""
    if not raw:
        return None
    try:
        given = json.loads(raw)
        return Intake(
            lon=float(given["lon"]),
            lat=float(given["lat"]),
            crs=str(given.get("crs") or "wgs84"),
            description=str(given.get("description") or ""),
            track=str(given.get("track") or "new"),
            footprint=given.get("footprint"),
        )
    except (ValueError, TypeError, KeyError, AttributeError):
        raise InputError(
            '发现的违建应写明位置：{"lon": 经度, "lat": 纬度, "crs": "wgs84", "description": "…"}',
            code="project.finding_invalid",
            detail="finding must be JSON with lon, lat and optionally crs, description, track, "
            "footprint",
        ) from None


@router.post(
    "/projects/{ref}/inspections",
    status_code=201,
    summary="Record an inspection (photos; a finding opens a case)",
)
def inspect(
    ref: str,
    cases: CasesDep,
    user: CurrentUser,
    kind: Annotated[Literal["construction", "completion"], Form()],
    findings: Annotated[str, Form(max_length=LIMITS["note"])],
    passed: Annotated[bool, Form(description="the project as approved (no violation)")] = True,
    inspected_at: Annotated[datetime | None, Form()] = None,
    finding: Annotated[
        str | None,
        Form(description=FINDING_HELP),
    ] = None,
    photos: Annotated[list[UploadFile] | None, File()] = None,
) -> dict:
    return Projects(cases).inspect(
        user,
        ref,
        kind=kind,
        findings=findings,
        passed=passed,
        inspected_at=inspected_at,
        finding=_finding(finding),
        photos=[(p.file, p.filename or "photo.jpg") for p in photos or []],
    )


@router.get("/projects/{ref}/photos/{sha256}", summary="A photo of an inspection")
def photo(ref: str, sha256: str, cases: CasesDep, user: CurrentUser) -> Response:
    content, media_type = Projects(cases).photo(user, ref, sha256)
    return Response(
        content, media_type=media_type, headers={"Cache-Control": "private, max-age=86400"}
    )
