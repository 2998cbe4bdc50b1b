"""Background jobs that go through many units: a campaign's clear-to-zero progress recomputed on
today's grids (``grids=current``) and the enforcement documents of many cases, each asked for
over HTTP on a copy of the demo (its campaign, its issued documents), worked by a real
``weijian worker`` process and read back — the workbook against the synchronous
``?grids=current`` answer, the zip and the merged PDF through pdftotext; who may ask and read;
bad input refused in Chinese."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import time
import zipfile
from pathlib import Path

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy import text

from tests.conftest import SHARED_DATA, bearer, database_copy, serving
from weijian.db.engine import engine_for
from weijian.demo.users import DEMO_PASSWORD
from weijian.jobs.process import worker_process
from weijian.settings import Settings

LEVEL_SHEETS = {
    "city": "全市",
    "district": "区县",
    "town": "镇（街道）",
    "community": "社区",
    "compound": "小区",
}


class Demo:
    def __init__(self, url, engine, base, folder: Path):
        self.url, self.engine, self.base, self.folder = url, engine, base, folder
        self.tokens: dict[str, dict] = {}

    def headers(self, who: str) -> dict:
        if who not in self.tokens:
            body = {"username": who, "password": DEMO_PASSWORD}
            # the demo's passwords are hashed at full strength: slow on a busy machine
            answer = httpx.post(f"{self.base}/api/v1/auth/login", json=body, timeout=60)
            self.tokens[who] = bearer(answer)
        return self.tokens[who]

    def post(self, who: str, kind: str, parameters: dict) -> httpx.Response:
        body = {"kind": kind, "parameters": parameters}
        return httpx.post(
            f"{self.base}/api/v1/jobs", json=body, headers=self.headers(who), timeout=60
        )

    def get(self, who: str, path: str) -> httpx.Response:
        return httpx.get(f"{self.base}{path}", headers=self.headers(who), timeout=60)

    def finished(self, who: str, job_id: int, timeout: float = 300.0) -> list[dict]:
        seen, deadline = [], time.monotonic() + timeout
        while True:
            r = self.get(who, f"/api/v1/jobs/{job_id}")
            assert r.status_code == 200, r.text
            seen.append(r.json())
            if seen[-1]["state"] in ("succeeded", "failed"):
                assert seen[-1]["state"] == "succeeded", seen[-1]
                return seen
            assert time.monotonic() < deadline, f"job {job_id} stuck: {seen[-1]}"
            time.sleep(0.2)

    def one(self, sql: str, **params):
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).all()


@pytest.fixture(scope="module")
def demo(demo_database, tmp_path_factory):
    """A copy of the demo (with a copy of its evidence folder) served, and a worker on it."""
    from weijian.api.app import create_app

    folder = tmp_path_factory.mktemp("batches")
    evidence = folder / "evidence"
    shutil.copytree(demo_database.settings.evidence_dir, evidence)
    settings = Settings(evidence_dir=evidence, shared_data_dir=SHARED_DATA)
    with database_copy(demo_database.url) as url:
        engine = engine_for(url)
        env = {**os.environ, "DATABASE_URL": url, "WEIJIAN_EVIDENCE_DIR": str(evidence)}
        with (
            serving(create_app(engine, settings=settings)) as base,
            open(folder / "worker.log", "ab") as log,
            worker_process("--heartbeat", "1", env=env, output=log),
        ):
            yield Demo(url, engine, base, folder)


def _campaign(demo: Demo) -> int:
    return demo.one("SELECT id FROM campaign ORDER BY id DESC LIMIT 1")[0][0]


def _sheet_rows(book, title: str) -> list[tuple]:
    rows = list(book[title].iter_rows(values_only=True))
    assert rows[0][:4] == ("网格编码", "名称", "上级网格", "基数（件）")
    return [tuple(r) for r in rows[1:]]


def _expected(answer: dict, level: str, grid: str | None) -> list[tuple]:
    return [
        (r["code"] or "", r["name"], r["baseline"], r["signed_off"], r["remaining"], r["percent"])
        for r in answer["levels"][level]
        if grid is None or grid in (r.get("chain") or [])
    ]


def test_the_current_grids_progress_workbook_equals_the_synchronous_answer(demo):
    campaign = _campaign(demo)
    r = demo.post("supervisor", "progress_current", {"campaign": campaign})
    assert r.status_code == 202, r.text
    assert r.json()["parameters"] == {"campaign": campaign, "grid": None, "as_of": None}
    seen = demo.finished("supervisor", r.json()["id"])
    final = seen[-1]
    assert final["progress"]["done"] == final["progress"]["total"] == 6  # counted, five levels
    assert final["file_name"].endswith(".xlsx") and "全市-现行网格清零进度" in final["file_name"]
    got = demo.get("supervisor", final["download_url"])
    assert got.status_code == 200
    book = load_workbook(io.BytesIO(got.content))
    sync = demo.get("supervisor", f"/api/v1/campaigns/{campaign}/progress?grids=current")
    answer = sync.json()
    assert answer["grids"] == "current"
    counted = 0
    for level, title in LEVEL_SHEETS.items():
        expected = _expected(answer, level, None)
        if not expected:
            assert title not in book.sheetnames
            continue
        rows = _sheet_rows(book, title)
        assert [(r[0] or "", r[1], *r[3:]) for r in rows] == expected, level
        counted += len(rows)
    assert counted > 20
    city = _sheet_rows(book, "全市")[0]
    assert city[3] == sum(r[3] for r in _sheet_rows(book, "区县")) > 0
    about = [r for r in book["说明"].iter_rows(values_only=True)]
    assert about[0][0].endswith(f"清零进度（全市，按现行网格，截至 {answer['as_of']}）")


def test_a_district_user_recomputes_their_own_district(demo):
    campaign = _campaign(demo)
    district = demo.one("SELECT code FROM active_grid WHERE level = 'district' ORDER BY code")
    mine, other = district[0][0], district[1][0]
    who = f"chengguan-{mine}"
    missing = demo.post(who, "progress_current", {"campaign": campaign})
    assert missing.status_code == 422 and missing.json()["code"] == "job.grid_required"
    assert missing.json()["message"] == "请指定要重新计算的网格（本人负责的网格）"
    elsewhere = demo.post(who, "progress_current", {"campaign": campaign, "grid": other})
    assert elsewhere.status_code == 404 and elsewhere.json()["code"] == "grid.not_found"
    assert elsewhere.json()["message"].startswith(f"未找到网格 {other}（或不在您的权限范围内）")
    job = demo.post(who, "progress_current", {"campaign": campaign, "grid": mine}).json()
    final = demo.finished(who, job["id"])[-1]
    assert final["progress"]["done"] == final["progress"]["total"] == 5  # no city sheet
    book = load_workbook(io.BytesIO(demo.get(who, final["download_url"]).content))
    assert "全市" not in book.sheetnames
    answer = demo.get("supervisor", f"/api/v1/campaigns/{campaign}/progress?grids=current").json()
    for level in ("district", "town", "community", "compound"):
        expected = _expected(answer, level, mine)
        rows = _sheet_rows(book, LEVEL_SHEETS[level]) if expected else []
        assert [(r[0] or "", r[1], *r[3:]) for r in rows] == expected, level
    assert [r[0] for r in _sheet_rows(book, "区县")] == [mine]
    # another user does not see the job, nor its file
    for path in (f"/api/v1/jobs/{job['id']}", final["download_url"]):
        r = demo.get(f"chengguan-{other}", path)
        assert r.status_code == 404 and r.json()["code"] == "job.not_found"


def test_progress_parameters_are_refused_in_chinese(demo):
    campaign = _campaign(demo)
    cases = [
        ({}, 422, "job.parameters_invalid", "现行网格清零进度的参数有误：缺少清零行动"),
        (
            {"campaign": campaign, "grid": "浑江"},
            422,
            "job.parameters_invalid",
            "现行网格清零进度的参数有误：网格编码格式不正确",
        ),
        (
            {"campaign": campaign, "as_of": "2000-01-01"},
            422,
            "campaign.as_of_before_start",
            None,
        ),
        ({"campaign": 999999}, 404, "campaign.not_found", None),
        ({"campaign": campaign, "grid": "999999"}, 404, "grid.not_found", None),
    ]
    before = demo.one("SELECT count(*) FROM job")[0][0]
    for parameters, status, code, message in cases:
        r = demo.post("supervisor", "progress_current", parameters)
        assert r.status_code == status, (parameters, r.text)
        assert r.json()["code"] == code
        if message:
            assert r.json()["message"] == message
    assert demo.one("SELECT count(*) FROM job")[0][0] == before  # none kept


def _with_documents(demo: Demo) -> dict[str, list[str]]:
    """Each district's case numbers that have a valid document."""
    rows = demo.one(
        "SELECT c.district_code, c.number FROM violation_case c WHERE EXISTS (SELECT 1 FROM "
        "enforcement_document d WHERE d.case_id = c.id AND d.status = 'issued') ORDER BY c.number"
    )
    out: dict[str, list[str]] = {}
    for district, number in rows:
        out.setdefault(district, []).append(number)
    return out


def _pdf_text(content: bytes, tmp_path: Path, name: str) -> str:
    path = tmp_path / name
    path.write_bytes(content)
    assert content[:5] == b"%PDF-"
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True, text=True
    ).stdout


def test_documents_of_many_cases_as_one_zip_and_one_pdf(demo, tmp_path):
    by_district = _with_documents(demo)
    district = max(by_district, key=lambda d: len(by_district[d]))
    numbers = by_district[district][:6]
    assert len(numbers) >= 2, by_district
    without = demo.one(
        "SELECT number FROM violation_case c WHERE district_code = :d AND NOT EXISTS (SELECT 1 "
        "FROM enforcement_document e WHERE e.case_id = c.id) ORDER BY number LIMIT 1",
        d=district,
    )[0][0]
    who = f"chengguan-{district}"
    job = demo.post(who, "documents", {"cases": [*numbers, without, numbers[0].lower()]})
    assert job.status_code == 202, job.text
    assert job.json()["parameters"]["cases"] == [*numbers, without]  # upper-cased, once each
    seen = demo.finished(who, job.json()["id"])
    final = seen[-1]
    expected = demo.one(
        "SELECT c.number, d.number, d.title FROM enforcement_document d JOIN violation_case c "
        "ON c.id = d.case_id WHERE c.number = ANY(:n) AND d.status = 'issued'",
        n=numbers,
    )
    total = len(expected)
    assert final["progress"]["done"] == final["progress"]["total"] == total
    assert final["file_name"] == f"执法文书-{len(numbers)}件案件-{total}份.zip"
    got = demo.get(who, final["download_url"])
    assert got.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(got.content))
    names = archive.namelist()
    assert names[-1] == "文书清单.xlsx" and len(names) == total + 1
    for i, name in enumerate(names[:-1]):
        assert name.endswith(".pdf")
        case_number = next(n for n in numbers if name.startswith(n + "-"))
        pdf = _pdf_text(archive.read(name), tmp_path, f"{i}.pdf")
        assert case_number in pdf.replace(" ", ""), (name, pdf[:400])
    covered = {n for n in numbers if any(name.startswith(n + "-") for name in names)}
    assert covered == set(numbers)
    listing = load_workbook(io.BytesIO(archive.read("文书清单.xlsx"))).active
    rows = list(listing.iter_rows(values_only=True))
    assert rows[0][:4] == ("序号", "案件编号", "文书", "文号")
    assert sorted((r[1], r[3], r[2]) for r in rows[1:]) == sorted(expected)

    # another district's officer reads neither the job nor its file
    other = next(d for d in sorted(by_district) if d != district)
    for path in (f"/api/v1/jobs/{final['id']}", final["download_url"]):
        r = demo.get(f"chengguan-{other}", path)
        assert r.status_code == 404 and r.json()["code"] == "job.not_found"

    merged = demo.post(who, "documents", {"cases": numbers, "format": "pdf"}).json()
    final = demo.finished(who, merged["id"])[-1]
    assert final["file_name"] == f"执法文书-{len(numbers)}件案件-{total}份.pdf"
    content = demo.get(who, final["download_url"]).content
    whole = _pdf_text(content, tmp_path, "merged.pdf").replace(" ", "")
    for number in numbers:
        assert number in whole


def test_documents_scope_and_input_are_checked_before_queueing(demo):
    by_district = _with_documents(demo)
    mine, theirs = sorted(by_district)[:2]
    who = f"chengguan-{mine}"
    before = demo.one("SELECT count(*) FROM job")[0][0]
    elsewhere = demo.post(
        who, "documents", {"cases": [by_district[mine][0], by_district[theirs][0]]}
    )
    assert elsewhere.status_code == 404, elsewhere.text
    assert elsewhere.json()["code"] == "case.not_found"
    # the same answer as the single document's route gives that user
    doc = demo.one(
        "SELECT d.id FROM enforcement_document d JOIN violation_case c ON c.id = d.case_id "
        "WHERE c.number = :n LIMIT 1",
        n=by_district[theirs][0],
    )[0][0]
    assert demo.get(who, f"/api/v1/documents/{doc}.pdf").json()["code"] == "case.not_found"
    without = demo.one(
        "SELECT number FROM violation_case c WHERE district_code = :d AND NOT EXISTS (SELECT 1 "
        "FROM enforcement_document e WHERE e.case_id = c.id) ORDER BY number LIMIT 1",
        d=mine,
    )[0][0]
    refused = [
        ({"cases": []}, 422, "job.parameters_invalid"),
        ({}, 422, "job.parameters_invalid"),
        ({"cases": [without]}, 422, "job.documents_none"),
        ({"cases": by_district[mine][:1], "format": "doc"}, 422, "job.parameters_invalid"),
        ({"cases": by_district[mine][:1], "document_kind": "nope"}, 422, "document.kind_unknown"),
        ({"cases": [f"C{i}" for i in range(501)]}, 422, "job.parameters_invalid"),
    ]
    for parameters, status, code in refused:
        r = demo.post(who, "documents", parameters)
        assert r.status_code == status, (parameters, r.text)
        assert r.json()["code"] == code, r.text
    none = demo.post(who, "documents", {"cases": [without]}).json()
    assert none["message"] == "所选的 1 件案件没有有效执法文书，无需批量生成"
    assert (
        demo.post(who, "documents", {}).json()["message"] == "批量执法文书的参数有误：缺少案件编号"
    )
    assert demo.one("SELECT count(*) FROM job")[0][0] == before
