"""Background jobs for the API: one asked for (checked, recorded, queued), one read by its
asker or an administrator, its result file."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from weijian.cases.scope import Principal
from weijian.cases.service import CaseService
from weijian.errors import ConflictError, EnvironmentProblem, NotFoundError
from weijian.jobs import kinds, queue, store
from weijian.jobs.store import Job


def submit(cases: CaseService, principal: Principal, kind: object, parameters: object) -> Job:
    """The job checked as its synchronous twin checks the request (parameters, the asker's
    scope), recorded and queued: a worker takes it. The answer is the job as accepted."""
    spec = kinds.find(kind)
    checked = spec.parse(parameters if parameters is not None else {})
    spec.check(cases, checked, principal)
    engine = cases.engine
    job = store.create(engine, spec.name, checked.model_dump(), principal.id)
    try:
        queue_id = queue.defer(engine.url.render_as_string(hide_password=False), job.id)
    except Exception as exc:
        store.fail(engine, job.id, "任务未能排入队列，请稍后重新提交", "job.queue_unavailable")
        raise EnvironmentProblem(
            "任务队列暂不可用，请稍后重新提交",
            code="job.queue_unavailable",
            detail=f"the job could not be queued: {type(exc).__name__}",
        ) from exc
    store.queued(engine, job.id, queue_id)
    # the job as it was accepted, queued: a worker may have taken it meanwhile, which the
    # asker reads at its next GET (so a page always shows 排队中 first, then what follows)
    return dataclasses.replace(job, queue_job_id=queue_id)


def read(cases: CaseService, principal: Principal, job_id: int) -> Job:
    """A job, for the user who asked for it or an administrator (others: not found)."""
    job = store.get(cases.engine, job_id)
    if job is None or not (principal.role == "admin" or job.user_id == principal.id):
        raise store.not_found(job_id)
    return job


def result(cases: CaseService, principal: Principal, job_id: int) -> tuple[Job, bytes]:
    job = read(cases, principal, job_id)
    if job.state != store.SUCCEEDED or not job.result_path:
        raise ConflictError(
            f"任务 {job_id} 尚未完成，完成后才能下载",
            code="job.not_finished",
            detail=f"job {job_id} is {job.state}",
            hint="read GET /api/v1/jobs/{id} until its state is succeeded",
        )
    try:
        content = Path(job.result_path).read_bytes()
    except OSError:
        raise NotFoundError(
            f"任务 {job_id} 的结果文件已不存在，请重新提交",
            code="job.result_missing",
            detail=f"the result file of job {job_id} is gone",
        ) from None
    return job, content
