"""The queue: procrastinate over the product's own PostgreSQL (its schema applied by the
migrations), one task that works through a ``job`` row, the deferral the API makes, and the
worker ``weijian worker`` runs.

A worker sends a heartbeat every few seconds; a job whose worker stopped sending them (killed,
its machine gone) is found by procrastinate's ``get_stalled_jobs`` and handed back to the
queue by ``retry_job``, which every worker does every few seconds — so a job outlives its
worker and the server. A job that raises is retried by the task's ``RetryStrategy``. Before it
takes a job, a worker removes the uploads in ``job-inputs/`` that no job will read again
(:func:`weijian.jobs.imports.sweep_inputs`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from functools import lru_cache

import procrastinate
from sqlalchemy.engine import make_url

from weijian.cases.service import CaseService
from weijian.jobs import imports, runner, store

log = logging.getLogger("weijian.jobs")

TASK = "weijian.run_job"
QUEUE = "weijian"
#: an attempt that raised is tried again after a pause; the job's own row counts every start,
#: killed workers' too, and gives up after runner.MAX_ATTEMPTS
RETRY = procrastinate.RetryStrategy(max_attempts=runner.MAX_ATTEMPTS, wait=5)

#: the worker process's runtime, set by :func:`run_worker` before it takes a job
_RUNTIME: dict[str, runner.Runtime] = {}
#: the jobs this process is working: its own check for stalled jobs never hands them back (a
#: heartbeat held up while the process is busy is late, not dead)
_WORKING: set[int] = set()


def conninfo(url: str) -> str:
    """libpq's form of the SQLAlchemy URL the product uses (``postgresql+psycopg://…``)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _run_job(job_id: int) -> None:
    _WORKING.add(job_id)
    try:
        runner.execute(_RUNTIME["runtime"], job_id)
    finally:
        _WORKING.discard(job_id)


def _with_task(app: procrastinate.App) -> procrastinate.App:
    app.task(name=TASK, queue=QUEUE, retry=RETRY)(_run_job)
    return app


@lru_cache(maxsize=8)
def _deferring_app(info: str) -> procrastinate.App:
    # a pool that holds no connection while no job is asked for (min_size 0): a server asks
    # for one now and then, and a database dropped under it (tests) leaves nothing to retry
    connector = procrastinate.SyncPsycopgConnector(
        conninfo=info, min_size=0, max_size=4, max_idle=60
    )
    app = _with_task(procrastinate.App(connector=connector))
    app.open()
    return app


def defer(url: str, job_id: int) -> int:
    """The job queued: the queue's id of it."""
    return _deferring_app(conninfo(url)).configure_task(TASK, queue=QUEUE).defer(job_id=job_id)


async def _recover_stalled(
    app: procrastinate.App, cases: CaseService, stalled_after: float
) -> None:
    """Hand back to the queue the jobs of workers whose heartbeat stopped."""
    while True:
        try:
            stalled = await app.job_manager.get_stalled_jobs(
                seconds_since_heartbeat=stalled_after, task_name=TASK
            )
            for job in stalled:
                job_id = int(job.task_kwargs["job_id"])
                if job_id in _WORKING:
                    continue  # this very process works it: its heartbeat is late, not gone
                with contextlib.suppress(procrastinate.exceptions.ConnectorException):
                    await app.job_manager.retry_job(job)
                    log.warning("job %s: its worker stopped; queued again", job_id)
                    await asyncio.to_thread(
                        store.requeue, cases.engine, job_id, "工作进程中断，等待重新开始"
                    )
        except procrastinate.exceptions.ConnectorException:
            log.exception("the check for stalled jobs failed; trying again")
        await asyncio.sleep(max(0.5, stalled_after / 3))


async def _work(
    url: str,
    runtime: runner.Runtime,
    concurrency: int,
    heartbeat: float,
    stalled_after: float,
) -> None:
    _RUNTIME["runtime"] = runtime
    try:  # what jobs finished (or dead processes) left in job-inputs/, before any job is taken
        removed = await asyncio.to_thread(imports.sweep_inputs, runtime.cases)
        if removed:
            log.info("removed %s uploads no job will read again", removed)
    except OSError:
        log.exception("the sweep of job-inputs/ failed; the worker goes on")
    app = _with_task(
        procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo(url)))
    )
    async with app.open_async():
        recovery = asyncio.create_task(_recover_stalled(app, runtime.cases, stalled_after))
        try:
            await app.run_worker_async(
                queues=[QUEUE],
                name="weijian",
                concurrency=concurrency,
                update_heartbeat_interval=heartbeat,
                stalled_worker_timeout=stalled_after,
            )
        finally:
            recovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await recovery


def run_worker(
    url: str,
    runtime: runner.Runtime,
    *,
    concurrency: int = 1,
    heartbeat: float = 10.0,
    stalled_after: float = 30.0,
) -> None:
    """Take and work jobs until SIGINT or SIGTERM (the job at hand is finished first)."""
    asyncio.run(_work(url, runtime, concurrency, heartbeat, stalled_after))
