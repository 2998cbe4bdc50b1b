"""Uploads in ``job-inputs/`` do not pile up, on the hand-built city over real HTTP with a real
``weijian worker``: a job that has been taken too often fails for good and its upload goes with
it; at its start the worker sweeps away the uploads of finished jobs and those no job names
once they are a day old, and keeps those of jobs still queued, whatever their age. (An upload
let go once its job succeeded or its import was refused, and one kept for the next worker after
a SIGKILL: tests/test_jobs_imports.py and tests/test_jobs_imports_retry.py.) Migration 0021's
``job.summary`` goes down and up again."""

from __future__ import annotations

import json
import os
import secrets
import time

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from tests import casekit
from tests.test_hotline_import import XLSX, good_rows, xlsx
from tests.test_jobs_imports import UPLOADS, ready_worker
from weijian.db.engine import MIGRATIONS, engine_for
from weijian.jobs import runner, store

DAY = 24 * 3600


def kept_upload(inputs, age: float) -> str:
    """A folder as an upload is kept in, its file written ``age`` seconds ago: its token."""
    token = secrets.token_hex(16)
    folder = inputs / token
    folder.mkdir(parents=True)
    (folder / "12345.xlsx").write_bytes(b"x")
    then = time.time() - age
    for path in (folder / "12345.xlsx", folder):
        os.utime(path, (then, then))
    return token


def test_a_job_given_up_lets_its_upload_go_and_the_worker_sweeps_what_is_left(tmp_path):
    with casekit.served_city(tmp_path) as (api, engine):
        url = engine.url.render_as_string(hide_password=False)
        evidence = str(tmp_path / "evidence")
        env = {**os.environ, "DATABASE_URL": url, "WEIJIAN_EVIDENCE_DIR": evidence}
        inputs = tmp_path / "job-inputs"
        r = api.post(
            UPLOADS,
            "supervisor",
            data={"kind": "hotline_import", "parameters": json.dumps({"crs": "cgcs2000"})},
            files={"file": ("12345导出.xlsx", xlsx(good_rows()), XLSX)},
        )
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        given_up = r.json()["parameters"]["input"]
        with engine.begin() as conn:  # as if its workers had been killed that many times
            conn.execute(
                text("UPDATE job SET attempts = :n WHERE id = :id"),
                {"n": runner.MAX_ATTEMPTS, "id": job_id},
            )

        # what the worker's start finds: a finished job's upload, one no job names (a day old
        # and just now), and a queued job's upload of two days ago (never taken: not deferred)
        finished = store.create(engine, "hotline_import", {"input": kept_upload(inputs, 60)}, None)
        store.fail(engine, finished.id, "导入失败", "test.failed")
        stale, fresh = kept_upload(inputs, DAY + 600), kept_upload(inputs, 600)
        waiting = kept_upload(inputs, 2 * DAY)
        store.create(engine, "hotline_import", {"input": waiting}, None)
        assert len(list(inputs.iterdir())) == 5

        with ready_worker(env, tmp_path / "worker.log", "--heartbeat", "0.5"):
            deadline = time.monotonic() + 120
            while (job := api.get(f"/api/v1/jobs/{job_id}", "supervisor").json())[
                "state"
            ] != "failed":
                assert job["state"] in ("queued", "running"), job
                assert time.monotonic() < deadline, job
                time.sleep(0.2)
        assert job["error"]["code"] == "job.gave_up", job
        assert job["summary"] is None and job["download_url"] is None
        assert sorted(p.name for p in inputs.iterdir()) == sorted([fresh, waiting])
        assert given_up not in {fresh, waiting} and stale not in {fresh, waiting}
        with engine.connect() as conn:  # nothing imported by the job given up
            made = conn.execute(
                text("SELECT count(*) FROM violation_case WHERE channel = 'hotline'")
            ).scalar()
        assert made == 0


def test_the_summary_column_goes_down_and_up_again():
    from tests.conftest import scratch_database

    with scratch_database() as url:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["url"] = url
        engine = engine_for(url)

        def columns() -> set[str]:
            with engine.connect() as conn:
                return set(
                    conn.execute(
                        text(
                            "SELECT column_name FROM information_schema.columns "
                            "WHERE table_name = 'job'"
                        )
                    ).scalars()
                )

        assert "summary" in columns()
        for step, has in (("0020", False), ("0021", True)):
            with engine.begin() as conn:
                config.attributes["connection"] = conn
                (command.downgrade if step == "0020" else command.upgrade)(config, step)
            assert ("summary" in columns()) is has
        engine.dispose()
