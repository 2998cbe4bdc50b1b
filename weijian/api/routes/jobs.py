"""Background jobs over REST: one asked for (202, queued for a worker), read with its progress
while it runs, and its file once done. Every route is a thin call into
:mod:`weijian.jobs.service`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field

from weijian.api.dependencies import CasesDep, CurrentUser
from weijian.api.files import file_response
from weijian.api.routes.layers import uploaded
from weijian.jobs import service as jobs
from weijian.jobs import uploads
from weijian.jobs.store import Job

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
STATE_LABELS = {"queued": "排队中", "running": "正在生成", "succeeded": "已完成", "failed": "失败"}
#: the running state of the kinds that do not make a file but import one
RUNNING_LABELS = {"layer_import": "正在导入", "hotline_import": "正在导入"}


class JobIn(BaseModel):
    kind: str = Field(
        max_length=64,
        description="atlas: a district's patrol-map atlas (PDF); stats_export: the city's "
        "statistics table of a period (xlsx, city-wide users); progress_current: a campaign's "
        "clear-to-zero progress on today's grids (xlsx); documents: the valid enforcement "
        "documents of many cases (zip or one PDF); layer_import and hotline_import: through "
        "POST /api/v1/jobs/uploads with the file",
    )
    parameters: dict[str, Any] = Field(
        default_factory=dict,
        description="atlas: district (code), level (town | community | compound, default "
        "community), paper (A4 | A3), orientation (portrait | landscape | auto); "
        "stats_export: period (2026, 2026-Q1 or 2026-03), table (district | town | "
        "community), sort (score | clear), campaign (id); progress_current: campaign (id), "
        "grid (code; none: the city), as_of (date); documents: cases (numbers, ≤ 500), "
        "document_kind, format (zip | pdf)",
    )


def _out(job: Job) -> dict:
    done = job.state == "succeeded"
    return {
        "id": job.id,
        "kind": job.kind,
        "parameters": job.parameters,
        "state": job.state,
        "state_label": (
            RUNNING_LABELS.get(job.kind, STATE_LABELS["running"])
            if job.state == "running"
            else STATE_LABELS.get(job.state, job.state)
        ),
        "progress": {
            "done": job.done,
            "total": job.total,
            "percent": 100 if done else (round(100 * job.done / job.total) if job.total else 0),
            "step": job.step,
        },
        "error": {"code": job.error_code, "message": job.error} if job.state == "failed" else None,
        "file_name": job.file_name if done else None,
        # a finished job's figures (a hotline import: rows, created, exists, errors), or None
        "summary": job.summary if done else None,
        "download_url": f"/api/v1/jobs/{job.id}/result" if done else None,
        "attempts": job.attempts,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


@router.post("", status_code=202, summary="Ask for a background job (queued for a worker)")
def submit(body: JobIn, cases: CasesDep, user: CurrentUser) -> dict:
    uploads.refuse_without_file(body.kind)
    return _out(jobs.submit(cases, user, body.kind, body.parameters))


@router.post(
    "/uploads",
    status_code=202,
    summary="Ask for a background import of an uploaded file (queued for a worker)",
)
def submit_upload(
    cases: CasesDep,
    user: CurrentUser,
    kind: Annotated[
        str,
        Form(
            max_length=64,
            description="layer_import: a zone layer or a grid level (administrators; the "
            "result is the import's report as JSON); hotline_import: a 12345 export (CSV / "
            "xlsx; the result is the report of every row as xlsx)",
        ),
    ],
    file: Annotated[UploadFile, File(description="the file to import")],
    parameters: Annotated[
        str,
        Form(
            max_length=4000,
            description="a JSON object. layer_import: family (zones | grids) and the fields "
            "of POST /api/v1/imports/zones or /imports/grids (layer, kind, code_field, "
            "name_field, settlement_field, title, level, parent_field, responsible_field, "
            "phone_field, crs, encoding, member, dry_run, activate); hotline_import: crs "
            "(gcj02, wgs84, bd09 or cgcs2000) of coordinates without a 坐标系 column",
        ),
    ] = "{}",
) -> dict:
    name = uploads.kind_of(kind)
    given = uploads.parameters_of(parameters)
    with uploaded(file, uploads.SUFFIXES[name]) as path:
        job = uploads.submit(cases, user, name, given, path, file.filename or path.name)
    return _out(job)


@router.get("/{job_id}", summary="A job's state and progress, and its download once done")
def read(job_id: int, cases: CasesDep, user: CurrentUser) -> dict:
    return _out(jobs.read(cases, user, job_id))


@router.get(
    "/{job_id}/result",
    response_class=Response,
    responses={
        200: {
            "content": {
                "application/pdf": {},
                XLSX: {},
                "application/json": {},
                "application/zip": {},
            }
        }
    },
    summary="A finished job's file (an atlas: PDF; a statistics export or a hotline import's "
    "report: xlsx; a layer import's report: JSON)",
)
def result(job_id: int, cases: CasesDep, user: CurrentUser) -> Response:
    job, content = jobs.result(cases, user, job_id)
    return file_response(
        content, job.media_type or "application/octet-stream", job.file_name or "", inline=False
    )
