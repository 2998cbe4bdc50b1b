"""Imports as background jobs, over real HTTP and a real ``weijian worker`` process on the
hand-built city (tests/casekit.py): a zipped GBK shapefile with a Gauss-Krüger .prj uploaded as
a ``layer_import`` job becomes a waiting version with the same report as the synchronous
import; a large one reports the parcels streamed in; a refused import fails the job with the
import's Chinese message and leaves the versions as they were; a 12345 export uploaded as a
``hotline_import`` job registers its work orders and gives back the report of every row as a
workbook. Who may ask, and bad input, are answered as the synchronous routes answer them."""

from __future__ import annotations

import io
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import shapely
from openpyxl import load_workbook
from sqlalchemy import text

from tests import adminkit, casekit, catalogue, city
from tests.test_hotline_import import XLSX, bad_rows, good_rows, xlsx
from weijian.jobs.process import worker_process

UPLOADS = "/api/v1/jobs/uploads"
ZIP = "application/zip"
#: a worker that beats twice a second, waits a little after each step (so that a step is seen)
WORKER = ("--heartbeat", "0.5", "--stalled-after", "2", "--throttle", "0.3")


@contextmanager
def ready_worker(env: dict, log: Path, *options: str):
    """A ``weijian worker`` on ``env``'s database, once it has said that it takes jobs (its
    start, which imports and migrates, is over: it takes no core from what the test times)."""
    with open(log, "ab") as output, worker_process(*options, env=env, output=output) as worker:
        deadline = time.monotonic() + 120
        while b"worker: taking jobs" not in log.read_bytes():
            assert worker.poll() is None, log.read_text("utf-8", "replace")
            assert time.monotonic() < deadline, "the worker did not start"
            time.sleep(0.2)
        yield worker


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The hand-built city served over its own database, and a worker on the same database
    and evidence folder."""
    folder = tmp_path_factory.mktemp("job-imports")
    with casekit.served_city(folder) as (api, engine):
        url = engine.url.render_as_string(hide_password=False)
        env = {**os.environ, "DATABASE_URL": url, "WEIJIAN_EVIDENCE_DIR": str(folder / "evidence")}
        with ready_worker(env, folder / "worker.log", *WORKER):
            yield Served(api, engine, folder)


class Served:
    def __init__(self, api, engine, folder):
        self.api, self.engine, self.folder = api, engine, folder
        self.inputs = folder / "job-inputs"

    def upload(self, who, job_kind, content, name, media_type, **parameters):
        return self.api.post(
            UPLOADS,
            who,
            data={"kind": job_kind, "parameters": json.dumps(parameters, ensure_ascii=False)},
            files={"file": (name, content, media_type)},
        )

    def wait(self, who, job_id, timeout=240.0) -> list[dict]:
        """The job read until it is finished: every answer on the way."""
        seen, deadline = [], time.monotonic() + timeout
        while True:
            r = self.api.get(f"/api/v1/jobs/{job_id}", who)
            assert r.status_code == 200, r.text
            seen.append(r.json())
            if seen[-1]["state"] in ("succeeded", "failed"):
                return seen
            assert time.monotonic() < deadline, seen[-1]
            time.sleep(0.1)

    def versions(self, layer: str) -> list[tuple[int, bool]]:
        r = self.api.get(f"/api/v1/layers/{layer}/versions", "admin")
        return [(v["number"], v["active"]) for v in r.json()]

    def kept(self) -> list[str]:
        """The uploads waiting in job-inputs/."""
        return sorted(p.name for p in self.inputs.iterdir()) if self.inputs.exists() else []

    def let_go(self, timeout: float = 10.0) -> list[str]:
        """The uploads still kept once the worker has had a moment to let a finished job's go
        (it does so right after the job's row says it is finished)."""
        deadline = time.monotonic() + timeout
        while (kept := self.kept()) and time.monotonic() < deadline:
            time.sleep(0.05)
        return kept


def comparable(report: dict) -> dict:
    """A report without its timings and version number (and without the empty fields the
    synchronous route's answer model adds)."""
    skip = ("seconds", "version", "sha256")
    return {k: v for k, v in report.items() if k not in skip and v is not None}


URBAN = {"family": "zones", "layer": "urban_managed", "kind": "urban_managed", "name_field": "MC"}


def test_a_layer_import_job_makes_the_version_the_synchronous_import_makes(served, tmp_path):
    archive = adminkit.urban_wider(tmp_path)
    r = served.upload("admin", "layer_import", archive.read_bytes(), archive.name, ZIP,
                      **URBAN, activate=False)  # fmt: skip
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["kind"] == "layer_import" and job["state"] == "queued"
    assert job["parameters"]["file_name"] == "城市化管理区域.zip"
    assert job["parameters"]["asker"]["username"] == "admin"
    seen = served.wait("admin", job["id"])
    final = seen[-1]
    assert final["state"] == "succeeded", final
    steps = [s["progress"]["step"] for s in seen if s["state"] == "running"]
    assert {"正在读取和检查文件", "正在生成导入报告"} & set(steps), steps
    assert final["file_name"] == "图层导入报告-urban_managed-第2版.json"
    assert final["summary"] is None  # a layer's report says it all
    got = served.api.get(final["download_url"], "admin")
    assert got.status_code == 200 and got.headers["content-type"].startswith("application/json")
    report = got.json()
    assert report["version"] == 2 and report["activated"] is False
    assert report["source"] == "城市化管理区域.zip"
    assert report["encoding"]["encoding"] == "gbk" and report["encoding"]["source"] == "cpg"
    assert report["source_crs"]["crs"].startswith("EPSG:4551 ")
    assert report["source_crs"]["origin"] == "prj"
    assert served.versions("urban_managed") == [(1, True), (2, False)]  # waits for 启用
    version = served.api.get("/api/v1/layers/urban_managed/versions/2", "admin").json()
    assert version["created_by"] == "admin" and version["feature_count"] == 1
    assert served.let_go() == []  # the upload is let go once imported

    # the same file through the synchronous route: the same report
    sync = served.api.post(
        "/api/v1/imports/zones",
        "admin",
        data={**{k: v for k, v in URBAN.items() if k != "family"}, "activate": "false"},
        files={"file": (archive.name, archive.read_bytes(), ZIP)},
    )
    assert sync.status_code == 201, sync.text
    assert sync.json()["version"] == 3
    assert comparable(sync.json()) == comparable(report)


def big_parcels(folder, count: int = 17_000):
    """``count`` parcels of 20 m on a grid in the urban area, GBK DBF, Gauss-Krüger CM 126E:
    large enough for the streamed import."""
    side = int(np.ceil(np.sqrt(count)))
    xs, ys = np.meshgrid(np.arange(side) * 25.0, np.arange(side) * 25.0)
    x0, y0 = city.X0 + 100.0, city.Y0 + 100.0
    xs, ys = x0 + xs.ravel(), y0 + ys.ravel()
    geoms = shapely.box(xs, ys, xs + 20, ys + 20)
    rows = [{"MC": f"图斑{i}"} for i in range(count)]
    frame = catalogue.gpd.GeoDataFrame(rows, geometry=geoms[:count], crs="EPSG:4551")
    shp = catalogue.write_shapefile(frame, folder, "大图层", encoding="GBK")
    return catalogue.zip_gbk(catalogue.shapefile_parts(shp), folder / "大图层.zip", "大图层")


def test_a_large_layer_reports_the_parcels_streamed_in(served, tmp_path):
    archive = big_parcels(tmp_path)
    r = served.upload("admin", "layer_import", archive.read_bytes(), archive.name, ZIP,
                      family="zones", layer="big_parcels", kind="farmland", name_field="MC",
                      activate=False)  # fmt: skip
    assert r.status_code == 202, r.text
    seen = served.wait("admin", r.json()["id"])
    assert seen[-1]["state"] == "succeeded", seen[-1]
    streamed = [s["progress"] for s in seen if "个图斑" in s["progress"]["step"]]
    assert streamed, [s["progress"] for s in seen]
    assert all(p["total"] == 17_000 for p in streamed)
    assert any(p["step"] == "正在导入，已完成 8,192/17,000 个图斑" for p in streamed) or any(
        0 < p["done"] < 17_000 for p in streamed
    )
    report = served.api.get(seen[-1]["download_url"], "admin").json()
    assert report["streamed"]["chunks"] == 3
    assert report["features"] == {"read": 17_000, "imported": 17_000}
    with served.engine.connect() as conn:
        waiting = conn.execute(
            text(
                "SELECT v.number, v.activated_at IS NULL FROM layer_version v"
                " JOIN layer l ON l.id = v.layer_id WHERE l.name = 'big_parcels'"
            )
        ).all()
    assert [tuple(r) for r in waiting] == [(1, True)]  # stored, waiting for 启用


def test_a_refused_layer_import_fails_the_job_and_keeps_the_versions(served, tmp_path):
    before = served.versions("landuse")
    spoilt = adminkit.zipped(
        tmp_path,
        "三调地类图斑",
        [
            {"DLBM": "0103", "DLMC": "旱地", "geometry": city.box(0, 2, 1, 3)},
            {"DLBM": "9999", "DLMC": "不明地类", "geometry": city.box(1, 2, 2, 3)},
        ],
    )
    params = {"family": "zones", "layer": "landuse", "code_field": "DLBM", "name_field": "DLMC"}
    r = served.upload("admin", "layer_import", spoilt.read_bytes(), spoilt.name, ZIP, **params)
    assert r.status_code == 202, r.text
    final = served.wait("admin", r.json()["id"])[-1]
    assert final["state"] == "failed" and final["download_url"] is None
    sync = served.api.post(
        "/api/v1/imports/zones",
        "admin",
        data={k: v for k, v in params.items() if k != "family"},
        files={"file": (spoilt.name, spoilt.read_bytes(), ZIP)},
    )
    assert sync.status_code == 422
    assert final["error"] == {"code": sync.json()["code"], "message": sync.json()["message"]}
    assert final["error"]["code"] == "landuse.code_unknown"
    assert "9999" in final["error"]["message"]
    assert served.versions("landuse") == before  # nothing added, the active version kept
    assert served.let_go() == []


def test_a_hotline_import_job_gives_back_every_row_in_a_workbook(served):
    content = xlsx(good_rows() + bad_rows())
    r = served.upload("supervisor", "hotline_import", content, "12345导出.xlsx", XLSX,
                      crs="cgcs2000")  # fmt: skip
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["parameters"]["crs"] == "cgcs2000"
    seen = served.wait("supervisor", job["id"])
    final = seen[-1]
    assert final["state"] == "succeeded", final
    rows_done = [s["progress"] for s in seen if "条工单" in s["progress"]["step"]]
    # the four rows read as work orders are registered one by one (the other two were refused
    # as they were read, and the one outside the city is refused as it is registered)
    assert rows_done and all(p["total"] == 4 for p in rows_done), seen
    assert all(p["step"] == f"正在导入，已完成 {p['done']}/4 条工单" for p in rows_done)
    assert final["progress"]["done"] == final["progress"]["total"] == 4
    assert final["file_name"] == "12345工单导入结果-12345导出.xlsx"
    # the counts kept on the job for the page, the workbook's own (unfinished: none yet)
    assert final["summary"] == {"rows": 6, "created": 3, "exists": 0, "errors": 3}
    assert all(s["summary"] is None for s in seen[:-1])
    got = served.api.get(final["download_url"], "supervisor")
    assert got.headers["content-type"] == XLSX
    sheet = load_workbook(io.BytesIO(got.content)).active
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0][0] == "12345 热线工单导入结果"
    counts = {r[0]: r[1] for r in rows[1:6]}
    assert counts == {
        "文件": "12345导出.xlsx",
        "数据行": 6,
        "新建案件": 3,
        "已导入过（未重复立案）": 0,
        "未导入（见说明）": 3,
    }
    header = rows.index(["行号", "工单编号", "结果", "案件编号", "说明"])
    table = rows[header + 1 :]
    assert [r[0] for r in table] == [2, 3, 4, 5, 6, 7]
    assert [r[2] for r in table] == ["已创建"] * 3 + ["错误"] * 3
    assert all(r[3] for r in table[:3]) and not any(r[3] for r in table[3:])
    assert all(r[4] for r in table[3:])  # every refusal with its reason
    with served.engine.connect() as conn:
        made = conn.execute(
            text("SELECT count(*) FROM violation_case WHERE channel = 'hotline'")
        ).scalar()
    assert made == 3

    # the same file again: nothing new, every work order reported as imported before
    again = served.upload("supervisor", "hotline_import", content, "12345导出.xlsx", XLSX,
                          crs="cgcs2000")  # fmt: skip
    final = served.wait("supervisor", again.json()["id"])[-1]
    sheet = load_workbook(io.BytesIO(served.api.get(final["download_url"], "supervisor").content))
    rows = [list(r) for r in sheet.active.iter_rows(values_only=True)]
    assert rows[3][1] == 0 and rows[4][1] == 3
    assert final["summary"] == {"rows": 6, "created": 0, "exists": 3, "errors": 3}
    assert served.let_go() == []
    # another user does not see the job; an administrator does
    assert served.api.get(f"/api/v1/jobs/{job['id']}", "ue_hj").status_code == 404
    assert served.api.get(final["download_url"], "ue_hj").status_code == 404
    assert served.api.get(f"/api/v1/jobs/{job['id']}", "admin").status_code == 200


@contextmanager
def nothing_kept(served):
    with served.engine.connect() as conn:
        jobs = conn.execute(text("SELECT count(*) FROM job")).scalar()
    yield
    assert served.kept() == []
    with served.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM job")).scalar() == jobs


def test_who_may_import_and_bad_input_are_answered_as_the_synchronous_routes(served, tmp_path):
    archive = adminkit.urban_wider(tmp_path)
    content = xlsx(good_rows())
    with nothing_kept(served):
        # layers: administrators only, as POST /api/v1/imports/zones
        r = served.upload("supervisor", "layer_import", archive.read_bytes(), archive.name, ZIP,
                          **URBAN)  # fmt: skip
        sync = served.api.post(
            "/api/v1/imports/zones", "supervisor", data={"layer": "urban_managed"},
            files={"file": (archive.name, archive.read_bytes(), ZIP)},
        )  # fmt: skip
        assert r.status_code == sync.status_code == 403
        assert r.json()["code"] == sync.json()["code"] == "permission.admin_required"
        assert r.json()["message"] == sync.json()["message"]
        # hotline: administrators, supervisors and departments, as POST …/imports/hotline
        r = served.upload("gridder", "hotline_import", content, "12345.xlsx", XLSX)
        sync = served.api.post(
            "/api/v1/cases/imports/hotline", "gridder",
            files={"file": ("12345.xlsx", content, XLSX)},
        )  # fmt: skip
        assert r.status_code == sync.status_code == 403
        assert r.json()["code"] == sync.json()["code"] == "hotline.role_not_allowed"
        assert r.json()["message"] == sync.json()["message"]
        assert served.upload(None, "hotline_import", content, "1.xlsx", XLSX).status_code == 401

        # the file judged before it is queued, in Chinese, with the synchronous route's code
        old = served.upload("supervisor", "hotline_import", b"\xd0\xcf\x11\xe0", "旧.xls", XLSX)
        assert old.status_code == 422 and old.json()["code"] == "hotline.xls_unsupported"
        headless = xlsx([["GD1", "2026-03-01 08:00", "违建"]], ["工单编号", "受理时间", "诉求内容"])
        missing = served.upload("supervisor", "hotline_import", headless, "缺列.xlsx", XLSX)
        assert missing.status_code == 422 and missing.json()["code"] == "hotline.columns_missing"
        assert "经度" in missing.json()["message"]
        shp = served.upload("admin", "layer_import", b"shp", "图层.shp", ZIP, **URBAN)
        assert shp.status_code == 422 and shp.json()["code"] == "import.format_unsupported"
        cases = [
            ({"family": "zones", "layer": "urban_managed"}, "import.kind_or_code_field"),
            ({"family": "zones", "kind": "farmland"}, "job.parameters_invalid"),
            ({"family": "grids", "level": "town", "code_field": "DM"}, "job.parameters_invalid"),
            ({**URBAN, "colour": "red"}, "job.parameters_invalid"),
            ({**URBAN, "input": "0" * 32}, "job.parameters_invalid"),
            ({**URBAN, "layer": "城市 管理"}, "layer.name_invalid"),
        ]
        for parameters, code in cases:
            r = served.upload("admin", "layer_import", archive.read_bytes(), archive.name, ZIP,
                              **parameters)  # fmt: skip
            assert r.status_code == 422, (parameters, r.text)
            assert r.json()["code"] == code, (parameters, r.json())
            assert any("\u4e00" <= ch <= "\u9fff" for ch in r.json()["message"])
        missing_kind = served.upload("admin", "layer_import", b"x", "a.zip", ZIP, family="zones",
                                     kind="farmland")  # fmt: skip
        assert missing_kind.json()["message"] == "图层导入的参数有误：缺少图层名"
        odd = served.api.post(
            UPLOADS, "admin", data={"kind": "atlas", "parameters": "{}"},
            files={"file": ("a.zip", b"x", ZIP)},
        )  # fmt: skip
        assert odd.status_code == 422 and odd.json()["code"] == "job.upload_kind_unknown"
        not_json = served.api.post(
            UPLOADS, "admin", data={"kind": "layer_import", "parameters": "layer=x"},
            files={"file": ("a.zip", b"x", ZIP)},
        )  # fmt: skip
        assert not_json.status_code == 422 and not_json.json()["code"] == "job.parameters_invalid"
        # a kind made from a file is not asked for without one
        bare = served.api.post(
            "/api/v1/jobs", "admin", json={"kind": "layer_import", "parameters": URBAN}
        )
        assert bare.status_code == 422 and bare.json()["code"] == "job.upload_required"
