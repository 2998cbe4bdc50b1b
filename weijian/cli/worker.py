"""The background worker: takes the jobs the pages and the API queue (district atlases) and
works them until interrupted."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from weijian.cli.context import case_service
from weijian.cli.output import handles_errors, log
from weijian.settings import get_settings


@handles_errors
def worker(
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, help="jobs worked at the same time")
    ] = 1,
    heartbeat: Annotated[
        float, typer.Option("--heartbeat", min=0.1, help="seconds between the worker's heartbeats")
    ] = 10.0,
    stalled_after: Annotated[
        float,
        typer.Option(
            "--stalled-after",
            min=0.5,
            help="seconds without a heartbeat after which a worker's job is queued again",
        ),
    ] = 30.0,
    throttle: Annotated[float, typer.Option("--throttle", min=0.0, hidden=True)] = 0.0,
) -> None:
    """Work the background jobs (atlases) until Ctrl-C or SIGTERM; a job whose worker was
    killed is taken again once its heartbeat is --stalled-after seconds old."""
    from weijian.jobs import queue, runner
    from weijian.jurisdiction.engine import warm

    cases = case_service()  # the database started and migrated first
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    settings = get_settings()
    runtime = runner.Runtime(cases, runner.result_dir(settings.evidence_root), throttle=throttle)
    url = cases.engine.url.render_as_string(hide_password=False)
    # the snapshot and its compiled loops loaded before a job needs them (a first compile holds
    # the process for seconds, its heartbeat with it)
    warm(cases.jurisdiction.snapshot)
    log(f"worker: taking jobs (results in {runtime.results})")
    queue.run_worker(
        url,
        runtime,
        concurrency=concurrency,
        heartbeat=heartbeat,
        stalled_after=stalled_after,
    )
