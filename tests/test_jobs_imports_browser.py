"""The imports' pages in headless Chromium, with a real ``weijian worker`` slowed a little per
step so that every state is seen: on 系统管理 an administrator uploads a zipped GBK shapefile
with a Gauss-Krüger .prj, sees 排队中 → 正在读取和检查文件 → 已完成, the report and the new version
waiting for 启用, takes it up again after a reload, and sees a refused file fail with its reason
while the versions stay; on the workbench's home page a supervisor uploads a 12345 export, sees
the work orders done of all, then the import's counts beside the download of the result of
every row — at desk (1366 px) and phone (390 px) width. Screenshots in .weijian/artifacts/."""

from __future__ import annotations

import io
import os

import pytest
from openpyxl import load_workbook

from tests import adminkit, casekit, city
from tests.test_hotline_import import bad_rows, good_rows, xlsx
from tests.test_jobs_imports import ready_worker
from tests.test_workbench_browser import PHONE, Bench

DESK = {"viewport": {"width": 1366, "height": 800}}
LAYERS = "window.weijianWork && weijianWork.ready && weijianWork.admin.layers"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("job-import-pages")
    with casekit.served_city(folder) as (api, engine):
        url = engine.url.render_as_string(hide_password=False)
        env = {**os.environ, "DATABASE_URL": url, "WEIJIAN_EVIDENCE_DIR": str(folder / "evidence")}
        options = ("--heartbeat", "0.5", "--stalled-after", "2", "--throttle", "1.2")
        with ready_worker(env, folder / "worker.log", *options):
            yield api


def versions(api, layer: str) -> list[tuple[int, bool]]:
    r = api.get(f"/api/v1/layers/{layer}/versions", "admin")
    return [(v["number"], v["active"]) for v in r.json()]


def seen(bench) -> list[dict]:
    """Every state the page's panels saw, job after job."""
    return bench.js("Object.values(window.weijianJobs.seen).flat()")


def test_an_administrator_imports_a_layer_in_the_background(browser, served, tmp_path):
    api = served
    archive = adminkit.urban_wider(tmp_path)
    bench = Bench(browser, api.url, "admin", DESK)
    bench.page.on("dialog", lambda dialog: dialog.accept())  # 启用's confirmation
    try:
        bench.page.goto(f"{api.url}/work/admin")
        bench.wait(LAYERS)
        form = "#import-form"
        bench.page.fill(f"{form} input[name=layer]", "urban_managed")
        bench.page.select_option(f"{form} select[name=kind]", "urban_managed")
        bench.page.fill(f"{form} input[name=name_field]", "MC")
        bench.page.set_input_files(f"{form} input[name=file]", str(archive))
        bench.page.click(f"{form} button[type=submit]")
        bench.wait("document.querySelector('#import-job .job-status') !== null")
        assert bench.page.locator(f"{form} button[type=submit]").is_disabled()
        bench.wait(
            "/正在读取和检查文件|正在生成导入报告/.test(document.querySelector('#import-job').textContent)",
            timeout=60000,
        )
        assert bench.page.locator("#import-job progress").count() == 1
        bench.screenshot("admin-import-job-running.png")
        # the page stays usable meanwhile: another layer's versions open
        bench.page.click("#layer-list tr[data-layer=landuse] a")
        bench.wait("weijianWork.admin.layers.layer === 'landuse' && weijianWork.pending === 0")

        bench.wait("weijianWork.admin.layers.report && weijianWork.admin.layers.preview > 0",
                   timeout=90000)  # fmt: skip
        bench.wait("weijianWork.pending === 0")
        assert bench.text("#import-job .job-status") == "已完成"
        download = bench.text("#import-job .job-download")
        assert download == "下载 图层导入报告-urban_managed-第2版.json"
        states = [s["state"] for s in seen(bench)]
        assert states[0] == "queued" and "running" in states and states[-1] == "succeeded"
        report = bench.text("#import-report")
        assert "第 2 版已导入，尚未启用" in report
        assert "GBK" in bench.text("#import-report .encoding")
        assert "EPSG:4551" in bench.text("#import-report .crs")
        assert versions(api, "urban_managed") == [(1, True), (2, False)]
        assert not bench.page.locator(f"{form} button[type=submit]").is_disabled()
        bench.screenshot("admin-import-job-done.png")

        # a reload takes the job up again: its report shown once more
        bench.page.reload()
        bench.wait(LAYERS)
        bench.wait("weijianWork.admin.layers.report && weijianWork.admin.layers.preview > 0",
                   timeout=30000)  # fmt: skip
        assert bench.text("#import-job .job-status") == "已完成"
        bench.page.click("#import-report button.activate-new")
        bench.wait("weijianWork.admin.layers.versions.some((v) => v.number === 2 && v.active)")
        assert versions(api, "urban_managed") == [(1, False), (2, True)]

        # a refused file: the job fails with the import's reason, the versions stay
        before = versions(api, "landuse")
        spoilt = adminkit.zipped(
            tmp_path / "spoilt",
            "三调地类图斑",
            [{"DLBM": "9999", "DLMC": "不明地类", "geometry": city.box(1, 2, 2, 3)}],
        )
        bench.page.fill(f"{form} input[name=layer]", "landuse")
        bench.page.select_option(f"{form} select[name=kind]", "")
        bench.page.fill(f"{form} input[name=code_field]", "DLBM")
        bench.page.fill(f"{form} input[name=name_field]", "DLMC")
        bench.page.set_input_files(f"{form} input[name=file]", str(spoilt))
        bench.page.click(f"{form} button[type=submit]")
        bench.wait("document.querySelector('#import-job').dataset.state === 'failed'",
                   timeout=90000)  # fmt: skip
        status = bench.text("#import-job .job-status")
        assert status.startswith("失败：") and "9999" in status, status
        assert versions(api, "landuse") == before
        bench.screenshot("admin-import-job-failed.png")
        bench.check_clean()
    finally:
        bench.close()


@pytest.mark.parametrize("device", [DESK, PHONE], ids=["desk", "phone"])
def test_a_supervisor_imports_a_hotline_export_in_the_background(browser, served, tmp_path, device):
    api = served
    width = device["viewport"]["width"]
    export = tmp_path / "12345导出.xlsx"
    rows = good_rows() + bad_rows()
    if width < 1000:  # the second import: other work-order numbers, so that cases are made
        rows = [[f"P{r[0]}", *r[1:]] for r in rows]
    export.write_bytes(xlsx(rows))
    bench = Bench(browser, api.url, "supervisor", device)
    try:
        bench.wait("document.querySelector('#hotline h2') !== null")
        assert bench.text("#hotline h2") == "12345 热线工单导入"
        bench.page.select_option("#hotline-form select[name=crs]", "cgcs2000")
        bench.page.set_input_files("#hotline-form input[name=file]", str(export))
        bench.page.click("#hotline-form button[type=submit]")
        bench.wait(
            "/正在导入，已完成 [0-3]\\/4 条工单/"
            ".test(document.querySelector('#hotline-job').textContent)",
            timeout=60000,
        )
        assert bench.page.locator("#hotline-form button[type=submit]").is_disabled()
        scroll = bench.js("document.documentElement.scrollWidth")
        assert scroll <= width, scroll
        bench.screenshot(f"hotline-import-job-running-{width}.png")
        link = bench.page.locator("#hotline-job .job-download")
        link.wait_for(timeout=90000)
        assert bench.text("#hotline-job .job-status") == "已完成"
        assert link.inner_text() == "下载 12345工单导入结果-12345导出.xlsx"
        # the import's counts beside the download, within the page's width
        counts = bench.page.locator("#hotline-job .job-counts")
        counts.wait_for(timeout=10000)
        assert counts.inner_text() == "新增 3 条，已存在 0 条，未通过 3 条"
        box, panel = counts.bounding_box(), bench.page.locator("#hotline-job").bounding_box()
        assert box["x"] >= panel["x"] and box["x"] + box["width"] <= panel["x"] + panel["width"]
        assert bench.js("document.documentElement.scrollWidth") <= width
        running = {s["done"] for s in seen(bench) if s["state"] == "running"}
        assert len(running) >= 2, seen(bench)  # the work orders counted as they were registered
        bench.screenshot(f"hotline-import-job-done-{width}.png")
        with bench.page.expect_download() as download:
            link.click()
        saved = tmp_path / "result.xlsx"
        download.value.save_as(saved)
        assert download.value.suggested_filename == "12345工单导入结果-12345导出.xlsx"
        sheet = load_workbook(io.BytesIO(saved.read_bytes())).active
        table = [list(r) for r in sheet.iter_rows(values_only=True)]
        assert table[2][:2] == ["数据行", 6] and table[3][:2] == ["新建案件", 3]
        assert sum(1 for r in table if r[2:3] == ["错误"]) == 3
        bench.check_clean()
    finally:
        bench.close()

    # a role that may not import does not see the card
    other = Bench(browser, api.url, "gridder", device)
    try:
        assert other.page.locator("#hotline").is_hidden()
    finally:
        other.close()
