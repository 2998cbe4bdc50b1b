"""One job worked through in a worker: the row marked running, the kind's work with its
progress written to the row, the result file kept, the row finished — or failed with the
product's Chinese message. A job taken again after its worker died starts from nought."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from weijian.cases.evidence import write_durably
from weijian.cases.service import CaseService
from weijian.errors import WeijianError
from weijian.jobs import imports, kinds, store

log = logging.getLogger("weijian.jobs")

#: a job started this many times (its workers killed, or failing) is given up
MAX_ATTEMPTS = 3


@dataclass
class Runtime:
    """What a worker process's jobs run with."""

    cases: CaseService
    results: Path
    #: seconds waited after each step of a job: for tests that must catch a job halfway
    throttle: float = 0.0


def result_dir(evidence_root: Path) -> Path:
    """Where the results of jobs are kept: beside the evidence folder."""
    return evidence_root.parent / "job-results"


def execute(runtime: Runtime, job_id: int) -> None:
    engine = runtime.cases.engine
    job = store.start(engine, job_id)
    if job is None:
        log.info("job %s: already finished or unknown, nothing to do", job_id)
        return
    _work(runtime, job)  # raises when the job is left to a retry
    # finished for good (succeeded, refused, or failed after its last attempt): its upload, if
    # it was made from one, is let go — never before, as a retry reads it again
    imports.release_input(runtime.cases, job.parameters)


def _work(runtime: Runtime, job: store.Job) -> None:
    """The job worked to its end: succeeded or failed for good — or, when an attempt that may
    be retried went wrong, the exception raised again for the queue's retry."""
    engine, job_id = runtime.cases.engine, job.id
    if job.attempts > MAX_ATTEMPTS:
        store.fail(
            engine,
            job_id,
            f"任务已中断 {MAX_ATTEMPTS} 次，不再重试；请重新提交",
            "job.gave_up",
        )
        return
    kind = kinds.find(job.kind)
    last = [0.0]

    def progress(done: int, total: int, step: str) -> None:
        now = time.monotonic()
        if done >= total or now - last[0] >= 0.2 or runtime.throttle:
            last[0] = now
            store.progress(engine, job_id, done, total, step)
        if runtime.throttle:
            time.sleep(runtime.throttle)

    try:
        result = kind.run(runtime.cases, kind.parse(job.parameters), progress)
    except WeijianError as exc:
        log.warning("job %s failed: %s", job_id, exc.en)
        store.fail(engine, job_id, exc.readable, exc.code)
        return
    except Exception:
        log.exception("job %s: attempt %s failed", job_id, job.attempts)
        if job.attempts >= MAX_ATTEMPTS:
            store.fail(engine, job_id, "生成失败（系统内部错误），请稍后重新提交", "job.internal")
            return
        store.requeue(engine, job_id, "出错，等待重试")
        raise  # the queue's retry strategy tries again
    path = runtime.results / f"{job_id}{result.suffix}"
    write_durably(path, result.content)  # on disk before the job is said to be done
    store.succeed(
        engine, job_id, str(path), result.media_type, result.file_name, "已完成", result.summary
    )
    log.info("job %s (%s) done: %s bytes", job_id, job.kind, len(result.content))
