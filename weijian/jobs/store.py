"""The ``job`` table: one row per background job — who asked for what, its state, its
progress and where its result lies. The queue (procrastinate) only carries the row's id."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, text

from weijian.errors import NotFoundError

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
FINISHED = (SUCCEEDED, FAILED)

COLUMNS = (
    "id, kind, parameters, user_id, state, done, total, step, result_path, media_type, "
    "file_name, error_code, error, queue_job_id, attempts, created_at, started_at, finished_at, "
    "summary"
)


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    parameters: dict[str, Any]
    user_id: int | None
    state: str
    done: int
    total: int
    step: str
    result_path: str | None
    media_type: str | None
    file_name: str | None
    error_code: str | None
    error: str | None
    queue_job_id: int | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    #: what a finished job's file says in a few figures (a hotline import's counts), or None
    summary: dict[str, Any] | None


def _job(row) -> Job:
    return Job(**row._mapping)


def create(engine: Engine, kind: str, parameters: dict, user_id: int | None) -> Job:
    with engine.begin() as conn:
        row = conn.execute(
            text(
                "INSERT INTO job (kind, parameters, user_id) "
                f"VALUES (:kind, CAST(:parameters AS jsonb), :user_id) RETURNING {COLUMNS}"
            ),
            {"kind": kind, "parameters": json.dumps(parameters), "user_id": user_id},
        ).one()
    return _job(row)


def get(engine: Engine, job_id: int) -> Job | None:
    with engine.connect() as conn:
        row = conn.execute(
            text(f"SELECT {COLUMNS} FROM job WHERE id = :id"), {"id": job_id}
        ).first()
    return _job(row) if row else None


def require(engine: Engine, job_id: int) -> Job:
    job = get(engine, job_id)
    if job is None:
        raise not_found(job_id)
    return job


def not_found(job_id: int) -> NotFoundError:
    return NotFoundError(
        f"未找到任务 {job_id}（或不是您提交的任务）",
        code="job.not_found",
        detail=f"no job {job_id} of yours",
        hint="a job is read by the user who asked for it or by an administrator",
    )


def queued(engine: Engine, job_id: int, queue_job_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE job SET queue_job_id = :q WHERE id = :id"),
            {"id": job_id, "q": queue_job_id},
        )


def start(engine: Engine, job_id: int) -> Job | None:
    """The job taken by a worker: running, one attempt more, its progress from nought. None if
    it is already finished (a retry of a job another attempt completed)."""
    with engine.begin() as conn:
        row = conn.execute(
            text(
                "UPDATE job SET state = 'running', attempts = attempts + 1, done = 0, "
                "step = '正在准备', started_at = now(), error = NULL, error_code = NULL "
                f"WHERE id = :id AND state IN ('queued', 'running') RETURNING {COLUMNS}"
            ),
            {"id": job_id},
        ).first()
    return _job(row) if row else None


def progress(engine: Engine, job_id: int, done: int, total: int, step: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE job SET done = :done, total = :total, step = :step "
                "WHERE id = :id AND state = 'running'"
            ),
            {"id": job_id, "done": done, "total": total, "step": step},
        )


def requeue(engine: Engine, job_id: int, step: str) -> None:
    """A job whose worker stopped answering, handed back to the queue."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE job SET state = 'queued', step = :step WHERE id = :id AND state = 'running'"
            ),
            {"id": job_id, "step": step},
        )


def succeed(
    engine: Engine,
    job_id: int,
    path: str,
    media_type: str,
    file_name: str,
    step: str,
    summary: dict[str, Any] | None = None,
) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE job SET state = 'succeeded', done = total, step = :step, "
                "result_path = :path, media_type = :media_type, file_name = :file_name, "
                "summary = CAST(:summary AS jsonb), finished_at = now() WHERE id = :id"
            ),
            {
                "id": job_id,
                "path": path,
                "media_type": media_type,
                "file_name": file_name,
                "step": step,
                "summary": None if summary is None else json.dumps(summary),
            },
        )


def fail(engine: Engine, job_id: int, message: str, code: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE job SET state = 'failed', step = '失败', error = :message, "
                "error_code = :code, finished_at = now() WHERE id = :id"
            ),
            {"id": job_id, "message": message, "code": code},
        )


def states_of_inputs(engine: Engine, tokens: list[str]) -> dict[str, str]:
    """The state of the job of each kept upload named in ``tokens`` (its ``input``
    parameter); an upload no job names is left out."""
    if not tokens:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT parameters->>'input' AS input, state FROM job "
                "WHERE parameters->>'input' = ANY(:tokens)"
            ),
            {"tokens": tokens},
        ).all()
    states: dict[str, str] = {}
    for token, state in rows:  # one upload, one job; were there more, an unfinished one wins
        if states.get(token) not in (QUEUED, RUNNING):
            states[token] = state
    return states
