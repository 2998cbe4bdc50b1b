"""Background jobs over REST: one asked for (202, queued for a worker), read with its progress
while it runs, and its file once done. Every route is a thin call into
:mod:`weijian.jobs.service`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel, Field

from weijian.api.dependencies import CasesDep, CurrentUser
from weijian.api.files import file_response
from weijian.jobs import service as jobs
from weijian.jobs.store import Job

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
STATE_LABELS = {"queued": "排队中", "running": "正在生成", "succeeded": "已完成", "failed": "失败"}


class JobIn(BaseModel):
    kind: str = Field(
        max_length=64,
        description="atlas: a district's patrol-map atlas (PDF); stats_export: the city's "
        "statistics table of a period (xlsx, city-wide users)",
    )
    parameters: dict[str, Any] = Field(
        default_factory=dict,
        description="atlas: district (code), level (town | community | compound, default "
        "community), paper (A4 | A3), orientation (portrait | landscape | auto); "
        "stats_export: period (2026, 2026-Q1 or 2026-03), table (district | town | "
        "community), sort (score | clear), campaign (id)",
    )


def _out(job: Job) -> dict:
    done = job.state == "succeeded"
    return {
        "id": job.id,
        "kind": job.kind,
        "parameters": job.parameters,
        "state": job.state,
        "state_label": STATE_LABELS.get(job.state, job.state),
        "progress": {
            "done": job.done,
            "total": job.total,
            "percent": 100 if done else (round(100 * job.done / job.total) if job.total else 0),
            "step": job.step,
        },
        "error": {"code": job.error_code, "message": job.error} if job.state == "failed" else None,
        "file_name": job.file_name if done else None,
        "download_url": f"/api/v1/jobs/{job.id}/result" if done else None,
        "attempts": job.attempts,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


@router.post("", status_code=202, summary="Ask for a background job (queued for a worker)")
def submit(body: JobIn, cases: CasesDep, user: CurrentUser) -> dict:
    return _out(jobs.submit(cases, user, body.kind, body.parameters))


@router.get("/{job_id}", summary="A job's state and progress, and its download once done")
def read(job_id: int, cases: CasesDep, user: CurrentUser) -> dict:
    return _out(jobs.read(cases, user, job_id))


@router.get(
    "/{job_id}/result",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}, XLSX: {}}}},
    summary="A finished job's file (an atlas: PDF; a statistics export: xlsx)",
)
def result(job_id: int, cases: CasesDep, user: CurrentUser) -> Response:
    job, content = jobs.result(cases, user, job_id)
    return file_response(
        content, job.media_type or "application/octet-stream", job.file_name or "", inline=False
    )
