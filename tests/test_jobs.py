"""Background jobs on the PostgreSQL queue: a district's atlas asked for over HTTP, worked by a
real ``weijian worker`` process on the sample city, its PDF read back; the worker SIGKILLed
halfway and the job finished by a worker started afterwards; a job outliving the app; who may
read a job; bad kinds and parameters refused in Chinese; the queue's schema pinned."""

from __future__ import annotations

import io
import os
import signal
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from pypdf import PdfReader
from sqlalchemy import text

from tests.casekit import add_users
from tests.conftest import bearer, login, scratch_database, serving
from weijian.db.engine import engine_for
from weijian.jobs.process import start_worker, stop_worker, worker_process
from weijian.settings import Settings

DISTRICT = "220602"  # 浑江区 of the sample city: 3 towns, 11 communities
PASSWORD = "jobs-password"
#: a worker that beats its heart twice a second and takes a dead one's job after two seconds
FAST = ("--heartbeat", "0.5", "--stalled-after", "2")


@pytest.fixture(scope="module")
def jobs_city(sample_dir, tmp_path_factory):
    """A database of the module's own with the sample city and four users; the API served
    over it; the environment its workers get (the same database and evidence folder)."""
    from weijian.api.app import create_app
    from weijian.demo.city import load_samples

    folder = tmp_path_factory.mktemp("jobs")
    with scratch_database() as url:
        engine = engine_for(url)
        load_samples(engine, sample_dir, log=lambda *_: None)
        with engine.connect() as conn:
            other_town = conn.execute(
                text(
                    "SELECT code FROM active_grid WHERE level = 'town' AND code LIKE '220605%' "
                    "ORDER BY code LIMIT 1"
                )
            ).scalar_one()
        people = [
            ("root", "admin", None),
            ("chief", "supervisor", None),
            ("chief2", "supervisor", None),
            ("jy_town", "town", other_town),
        ]
        add_users(engine, people, PASSWORD)
        settings = Settings(evidence_dir=folder / "evidence")
        env = {**os.environ, "DATABASE_URL": url, "WEIJIAN_EVIDENCE_DIR": str(folder / "evidence")}
        with serving(create_app(engine, settings=settings)) as base:
            yield City(url, engine, base, env, folder, settings)


class City:
    def __init__(self, url, engine, base, env, folder: Path, settings):
        self.url, self.engine, self.base, self.env = url, engine, base, env
        self.folder, self.settings = folder, settings
        self.tokens: dict[str, dict] = {}

    def headers(self, who: str, base: str | None = None) -> dict:
        if who not in self.tokens:
            self.tokens[who] = bearer(login(base or self.base, who, PASSWORD))
        return self.tokens[who]

    def post(self, who: str, body, base: str | None = None) -> httpx.Response:
        return httpx.post(
            f"{base or self.base}/api/v1/jobs", json=body, headers=self.headers(who), timeout=30
        )

    def get(self, who: str, path: str, base: str | None = None) -> httpx.Response:
        return httpx.get(f"{base or self.base}{path}", headers=self.headers(who), timeout=60)

    @contextmanager
    def worker(self, *options: str, name: str = "worker"):
        with (
            open(self.folder / f"{name}.log", "ab") as log,
            worker_process(*FAST, *options, env=self.env, output=log) as process,
        ):
            yield process

    def wait(self, who: str, job_id: int, until, timeout: float = 240.0) -> list[dict]:
        """Read the job until ``until(job)``: every answer read on the way."""
        seen, deadline = [], time.monotonic() + timeout
        while True:
            r = self.get(who, f"/api/v1/jobs/{job_id}")
            assert r.status_code == 200, r.text
            seen.append(r.json())
            if until(seen[-1]):
                return seen
            assert seen[-1]["state"] != "failed", seen[-1]
            assert time.monotonic() < deadline, f"job {job_id} stuck: {seen[-1]}"
            time.sleep(0.2)


def atlas(level: str = "town", district: str = DISTRICT) -> dict:
    return {"kind": "atlas", "parameters": {"district": district, "level": level}}


def done(job: dict) -> bool:
    return job["state"] == "succeeded"


def pdf(content: bytes) -> PdfReader:
    assert content[:5] == b"%PDF-"
    return PdfReader(io.BytesIO(content))


def test_atlas_job_is_worked_by_a_worker_and_read_back(jobs_city):
    city = jobs_city
    r = city.post("chief", atlas("town"))
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["state"] == "queued" and job["state_label"] == "排队中"
    assert job["download_url"] is None and job["error"] is None
    assert job["parameters"] == {
        "district": DISTRICT,
        "level": "town",
        "paper": "A4",
        "orientation": "auto",
    }
    early = city.get("chief", f"/api/v1/jobs/{job['id']}/result")
    assert early.status_code == 409 and early.json()["code"] == "job.not_finished"
    assert "尚未完成" in early.json()["message"]

    with city.worker(name="first"):
        seen = city.wait("chief", job["id"], done)
    final = seen[-1]
    assert final["progress"]["done"] == final["progress"]["total"] == 3  # the district's towns
    assert final["progress"]["percent"] == 100 and final["attempts"] == 1
    assert final["file_name"] == "浑江区镇（街道）巡查图集.pdf"
    assert final["download_url"] == f"/api/v1/jobs/{job['id']}/result"
    got = city.get("chief", final["download_url"])
    assert got.status_code == 200
    assert got.headers["content-type"] == "application/pdf"
    assert "attachment" in got.headers["content-disposition"]
    assert got.headers["cache-control"] == "private, no-store"
    reader = pdf(got.content)
    # the same atlas as the synchronous route prints, page for page
    sync = city.get("chief", f"/api/v1/patrol-maps/districts/{DISTRICT}.pdf?level=town")
    assert sync.status_code == 200
    assert len(reader.pages) == len(pdf(sync.content).pages) == 1 + 3
    cover = reader.pages[0].extract_text()
    assert "浑江区违法建设巡查图集" in cover and "共 3 个网格" in cover
    assert "违法建设巡查图" in reader.pages[1].extract_text()
    # the file lies beside the evidence folder, named by the job
    kept = city.folder / "job-results" / f"{job['id']}.pdf"
    assert kept.read_bytes() == got.content


def test_a_worker_killed_halfway_leaves_the_job_to_the_next(jobs_city):
    city = jobs_city
    job = city.post("chief", atlas("community")).json()
    with city.worker("--throttle", "0.8", name="killed") as first:
        seen = city.wait(
            "chief", job["id"], lambda j: j["state"] == "running" and j["progress"]["done"] >= 3
        )
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
    halfway = seen[-1]
    assert halfway["progress"]["total"] == 11 and 3 <= halfway["progress"]["done"] < 11
    assert halfway["attempts"] == 1
    time.sleep(1.5)
    stuck = city.get("chief", f"/api/v1/jobs/{job['id']}").json()
    assert stuck["state"] == "running" and stuck["progress"]["done"] == halfway["progress"]["done"]
    with city.engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT status FROM procrastinate_jobs WHERE id = :q"),
                {"q": _queue_id(city, job["id"])},
            ).scalar()
            == "doing"
        )
    started = time.monotonic()
    with city.worker(name="restarted"):
        seen = city.wait("chief", job["id"], done)
        took = time.monotonic() - started
        # the job's row is marked done inside the task, just before the queue records the task
        # itself as finished: the worker is stopped only after that, or the queue says cancelled
        deadline = time.monotonic() + 30
        while _queue_status(city, job["id"]) == "doing" and time.monotonic() < deadline:
            time.sleep(0.1)
    final = seen[-1]
    assert final["attempts"] == 2  # begun again by the second worker, from the first grid
    assert final["progress"]["done"] == final["progress"]["total"] == 11
    reader = pdf(city.get("chief", final["download_url"]).content)
    assert len(reader.pages) >= 1 + 11
    assert "浑江区违法建设巡查图集" in reader.pages[0].extract_text()
    assert "共 11 个网格" in reader.pages[0].extract_text()
    with city.engine.connect() as conn:
        events = conn.execute(
            text("SELECT type::text FROM procrastinate_events WHERE job_id = :q ORDER BY id"),
            {"q": _queue_id(city, job["id"])},
        ).scalars()
        events = list(events)
    # the queue's own account: started, handed back once its worker was found dead, started
    # again, succeeded
    assert events.count("started") == 2 and events[-1] == "succeeded", events
    assert took < 180


def test_a_worker_whose_heartbeat_is_late_keeps_its_own_job(jobs_city):
    """A busy process's heartbeat can come late (a loaded machine, a first compile): the
    worker's own check for stalled jobs does not hand back the job it is working, which would
    leave the page on 排队中 while the job runs on."""
    city = jobs_city
    job = city.post("chief", atlas("community")).json()
    # a beat every 30 s, a job called stalled after 2 s: the heartbeat is late all along
    with city.worker("--heartbeat", "30", "--stalled-after", "2", "--throttle", "0.5",
                     name="late") as worker:  # fmt: skip
        seen = city.wait("chief", job["id"], done)
        deadline = time.monotonic() + 30
        while _queue_status(city, job["id"]) == "doing" and time.monotonic() < deadline:
            time.sleep(0.1)
    assert worker.returncode == 0
    states = [j["state"] for j in seen]
    running = states.index("running")
    assert "queued" not in states[running:], states
    assert seen[-1]["attempts"] == 1
    # more than 2 s of work: the check ran while the heartbeat was late
    assert seen[-1]["progress"]["total"] == 11
    log = (city.folder / "late.log").read_text("utf-8")
    assert "queued again" not in log
    with city.engine.connect() as conn:
        events = conn.execute(
            text("SELECT type::text FROM procrastinate_events WHERE job_id = :q ORDER BY id"),
            {"q": _queue_id(city, job["id"])},
        ).scalars()
        assert list(events).count("started") == 1


def _queue_status(city: City, job_id: int) -> str:
    with city.engine.connect() as conn:
        return conn.execute(
            text("SELECT status::text FROM procrastinate_jobs WHERE id = :q"),
            {"q": _queue_id(city, job_id)},
        ).scalar_one()


def _queue_id(city: City, job_id: int) -> int:
    with city.engine.connect() as conn:
        return conn.execute(
            text("SELECT queue_job_id FROM job WHERE id = :id"), {"id": job_id}
        ).scalar_one()


def test_a_job_outlives_the_app_that_queued_it(jobs_city):
    from weijian.api.app import create_app

    city = jobs_city
    with serving(create_app(city.engine, settings=city.settings)) as first:
        r = httpx.post(
            f"{first}/api/v1/jobs",
            json=atlas("town"),
            headers=bearer(login(first, "chief2", PASSWORD)),
            timeout=30,
        )
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
    # that app is gone; another one reads the job from the database, and a worker works it
    with serving(create_app(city.engine, settings=city.settings)) as second:
        headers = bearer(login(second, "chief2", PASSWORD))
        again = httpx.get(f"{second}/api/v1/jobs/{job_id}", headers=headers).json()
        assert again["state"] == "queued" and again["progress"]["step"] == "排队中"
        process = start_worker(*FAST, env=city.env)
        try:
            deadline = time.monotonic() + 240
            while (state := httpx.get(f"{second}/api/v1/jobs/{job_id}", headers=headers).json())[
                "state"
            ] != "succeeded":
                assert state["state"] != "failed", state
                assert time.monotonic() < deadline, state
                time.sleep(0.3)
        finally:
            stop_worker(process)
        assert process.returncode == 0  # SIGTERM: a graceful stop
        got = httpx.get(f"{second}{state['download_url']}", headers=headers, timeout=60)
        assert len(pdf(got.content).pages) == 4


def test_only_the_asker_or_an_administrator_reads_a_job(jobs_city):
    city = jobs_city
    job = city.post("chief", atlas("town")).json()
    for who in ("chief2", "jy_town"):
        r = city.get(who, f"/api/v1/jobs/{job['id']}")
        assert r.status_code == 404, r.text
        assert r.json()["code"] == "job.not_found"
        assert r.json()["message"] == f"未找到任务 {job['id']}（或不是您提交的任务）"
        assert city.get(who, f"/api/v1/jobs/{job['id']}/result").status_code == 404
    assert city.get("root", f"/api/v1/jobs/{job['id']}").json()["id"] == job["id"]
    assert city.get("chief", "/api/v1/jobs/999999").json()["code"] == "job.not_found"
    assert httpx.get(f"{city.base}/api/v1/jobs/{job['id']}").status_code == 401
    assert httpx.post(f"{city.base}/api/v1/jobs", json=atlas()).status_code == 401


def test_bad_kinds_parameters_and_scope_are_refused_in_chinese(jobs_city):
    city = jobs_city
    with city.engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM job")).scalar()
    unknown = city.post("chief", {"kind": "nope", "parameters": {}})
    assert unknown.status_code == 422
    assert unknown.json()["code"] == "job.kind_unknown"
    assert unknown.json()["message"].startswith("不支持的任务类型“nope”，可选：atlas（巡查图集）")
    cases = [
        ({"level": "town"}, "巡查图集的参数有误：缺少区县代码"),
        ({"district": DISTRICT, "paper": "A5"}, "巡查图集的参数有误：纸张只能是 'A4' or 'A3'"),
        ({"district": DISTRICT, "colour": "red"}, "巡查图集的参数有误：不认识的参数 colour"),
        ({"district": "浑江区"}, "巡查图集的参数有误：区县代码格式不正确"),
    ]
    for parameters, message in cases:
        r = city.post("chief", {"kind": "atlas", "parameters": parameters})
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "job.parameters_invalid"
        assert r.json()["message"] == message
    # the scope as the synchronous route checks it: a town of 江源区 prints no atlas of 浑江区
    elsewhere = city.post("jy_town", atlas())
    assert elsewhere.status_code == 404
    assert elsewhere.json()["code"] == "district.not_found"
    sync = city.get("jy_town", f"/api/v1/patrol-maps/districts/{DISTRICT}.pdf")
    assert sync.json()["code"] == elsewhere.json()["code"] == "district.not_found"
    missing = city.post("chief", atlas(district="999"))
    assert missing.status_code == 404 and missing.json()["code"] == "district.not_found"
    malformed = httpx.post(
        f"{city.base}/api/v1/jobs", json={"parameters": {}}, headers=city.headers("chief")
    )
    assert malformed.status_code == 422
    with city.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM job")).scalar() == before  # none kept


def test_the_migration_applies_the_queue_schema_of_the_pinned_release(jobs_city):
    """The frozen copy is what the installed procrastinate ships: a new release changes its
    schema through a migration of ours, never silently."""
    from procrastinate.schema import SchemaManager

    from weijian.db.engine import MIGRATIONS

    frozen = (MIGRATIONS / "versions" / "0017_procrastinate_schema.sql").read_text("utf-8")
    assert frozen == SchemaManager.get_schema()
    with jobs_city.engine.connect() as conn:
        tables = conn.execute(
            text("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'procrastinate%'")
        ).scalar()
        assert tables == 4


def test_the_city_statistics_export_is_a_job_of_city_wide_users(jobs_city):
    from openpyxl import load_workbook

    city = jobs_city
    month = datetime.now(UTC).strftime("%Y-%m")
    body = {"kind": "stats_export", "parameters": {"period": month, "table": "town"}}
    town = city.post("jy_town", body)
    assert town.status_code == 403 and town.json()["code"] == "job.city_wide_only"
    assert town.json()["message"].startswith("全市统计导出仅限全市督导人员和系统管理员")
    bad = city.post("chief", {"kind": "stats_export", "parameters": {"period": "2026-13"}})
    assert bad.status_code == 422 and bad.json()["code"] == "stats.period_invalid"
    missing = city.post("chief", {"kind": "stats_export", "parameters": {}})
    assert missing.json()["message"] == "全市统计表的参数有误：缺少统计期间"

    job = city.post("chief", body).json()
    assert job["state"] == "queued"
    with city.worker(name="stats"):
        final = city.wait("chief", job["id"], done)[-1]
    assert final["progress"]["done"] == final["progress"]["total"] == 2
    assert final["file_name"].startswith("统计-全市-") and final["file_name"].endswith(".xlsx")
    got = city.get("chief", final["download_url"])
    assert got.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(got.content)).active
    # the same table the dashboard's own export gives the same user
    sync = city.get("chief", f"/api/v1/stats?period={month}&format=xlsx&table=town")
    mine = load_workbook(io.BytesIO(sync.content)).active
    rows = [[c for c in r] for r in sheet.iter_rows(values_only=True)]
    assert rows == [[c for c in r] for r in mine.iter_rows(values_only=True)]
    with city.engine.connect() as conn:
        towns = conn.execute(
            text("SELECT name FROM active_grid WHERE level = 'town' AND code LIKE '2206%'")
        ).scalars()
        cells = {str(c) for r in rows for c in r if c}
        assert set(towns) <= cells  # every town of the city has its row
