"""A layer import whose worker is SIGKILLed in the middle of its transaction: nothing of it is
kept, its upload waits for the next worker, which imports the file again from the start — one
new version in the end, not two — on the hand-built city, over real HTTP and real workers."""

from __future__ import annotations

import json
import os
import signal
import time

from sqlalchemy import text

from tests import casekit
from tests.test_jobs_imports import ZIP, big_parcels, ready_worker

#: a worker that waits 2 s after each step: the import's transaction is open for a while
SLOW = ("--heartbeat", "0.5", "--stalled-after", "2", "--throttle", "2")


def test_a_layer_import_killed_halfway_is_imported_once_by_the_next_worker(tmp_path):
    archive = big_parcels(tmp_path)
    with casekit.served_city(tmp_path) as (api, engine):
        url = engine.url.render_as_string(hide_password=False)
        evidence = str(tmp_path / "evidence")
        env = {**os.environ, "DATABASE_URL": url, "WEIJIAN_EVIDENCE_DIR": evidence}
        api.headers("admin")
        params = {"family": "zones", "layer": "big_parcels", "kind": "farmland", "name_field": "MC"}
        r = api.post(
            "/api/v1/jobs/uploads",
            "admin",
            data={"kind": "layer_import", "parameters": json.dumps(params)},
            files={"file": (archive.name, archive.read_bytes(), ZIP)},
        )
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]

        def read() -> dict:
            return api.get(f"/api/v1/jobs/{job_id}", "admin").json()

        with ready_worker(env, tmp_path / "first.log", *SLOW) as first:
            deadline = time.monotonic() + 120
            while "个图斑" not in (job := read())["progress"]["step"]:
                assert job["state"] in ("queued", "running"), job
                assert time.monotonic() < deadline, job
                time.sleep(0.1)
            os.kill(first.pid, signal.SIGKILL)  # in the middle of the COPY's transaction
            first.wait(10)
        assert 0 < job["progress"]["done"] < 17_000, job
        with engine.connect() as conn:
            kept = conn.execute(
                text("SELECT count(*) FROM layer WHERE name = 'big_parcels'")
            ).scalar()
        assert kept == 0  # rolled back with the worker's connection
        inputs = tmp_path / "job-inputs"
        assert len(list(inputs.iterdir())) == 1  # the upload waits for the next attempt

        with ready_worker(env, tmp_path / "second.log", *SLOW[:4]):
            deadline = time.monotonic() + 240
            while (job := read())["state"] != "succeeded":
                assert job["state"] != "failed", job
                assert time.monotonic() < deadline, job
                time.sleep(0.2)
        assert job["attempts"] == 2
        with engine.connect() as conn:
            versions = conn.execute(
                text(
                    "SELECT v.number, v.feature_count FROM layer_version v"
                    " JOIN layer l ON l.id = v.layer_id WHERE l.name = 'big_parcels'"
                )
            ).all()
        assert [tuple(v) for v in versions] == [(1, 17_000)]
        assert list(inputs.iterdir()) == []
