"""The workbench's background jobs in headless Chromium (Debian's, driven by Playwright) on a
copy of the demo, with a real ``weijian worker`` slowed down a little per step so that the bar
is seen between its ends: on 统计, 按现行网格重新计算 (the campaign's progress on today's grids)
and 生成统计表 (the city's table); on the case list, 批量生成文书 (the listed cases' documents
as one zip) — each click showing the progress, then the download, read back — at desk (1366
px) and phone (390 px) width. Screenshots are saved in .weijian/artifacts/."""

from __future__ import annotations

import io
import os
import shutil
import zipfile

import pytest
from openpyxl import load_workbook
from sqlalchemy import text

from tests.conftest import SHARED_DATA, database_copy, serving
from weijian.db.engine import engine_for
from weijian.demo.users import DEMO_PASSWORD
from weijian.jobs.process import worker_process
from weijian.settings import Settings, get_settings

ARTIFACTS = get_settings().home / "artifacts"
STATS_LOADED = (
    "window.weijianWork && weijianWork.ready && weijianWork.stats "
    "&& weijianWork.stats.loads > 0 && !weijianWork.stats.loading"
)
INBOX_LOADED = (
    "window.weijianWork && weijianWork.ready && weijianWork.inbox "
    "&& weijianWork.inbox.loads > 0 && !weijianWork.inbox.loading"
)


@pytest.fixture(scope="module")
def served(demo_database, tmp_path_factory):
    from weijian.api.app import create_app

    folder = tmp_path_factory.mktemp("batches-page")
    evidence = folder / "evidence"
    shutil.copytree(demo_database.settings.evidence_dir, evidence)
    settings = Settings(evidence_dir=evidence, shared_data_dir=SHARED_DATA)
    with database_copy(demo_database.url) as url:
        engine = engine_for(url)
        with engine.connect() as conn:
            # the officer who issued the most documents: their 已办 lists those cases
            issuer = conn.execute(
                text(
                    "SELECT u.username FROM enforcement_document d JOIN app_user u "
                    "ON u.id = d.issued_by GROUP BY u.username ORDER BY count(*) DESC, "
                    "u.username LIMIT 1"
                )
            ).scalar_one()
        env = {**os.environ, "DATABASE_URL": url, "WEIJIAN_EVIDENCE_DIR": str(evidence)}
        with (
            serving(create_app(engine, settings=settings)) as base,
            open(folder / "worker.log", "ab") as log,
            worker_process("--heartbeat", "1", "--throttle", "0.3", env=env, output=log),
        ):
            yield base, issuer


def _login(browser, base: str, who: str, path: str, width: int, height: int):
    context = browser.new_context(
        viewport={"width": width, "height": height}, locale="zh-CN", accept_downloads=True
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(base + path)
    page.wait_for_selector("#login input[name=username]", state="visible")
    page.fill("#login input[name=username]", who)
    page.fill("#login input[name=password]", DEMO_PASSWORD)
    page.click("#login button[type=submit]")
    page.wait_for_function("window.weijianWork && weijianWork.ready", timeout=60000)
    return context, page, errors


def _download(page, link, tmp_path, name: str) -> bytes:
    with page.expect_download() as download:
        link.click()
    saved = tmp_path / name
    download.value.save_as(saved)
    return saved.read_bytes(), download.value.suggested_filename


def _seen(page, panel: str) -> list[dict]:
    """What the page's panel showed of its job, state by state."""
    job = page.evaluate(f"sessionStorage.getItem('weijian.job.{panel}')")
    return page.evaluate(f"weijianJobs.seen[{job}]")


@pytest.mark.parametrize("width,height", [(1366, 900), (390, 844)])
def test_statistics_page_jobs_show_progress_then_the_download(
    browser, served, tmp_path, width, height
):
    base, _ = served
    context, page, errors = _login(browser, base, "supervisor", "/work/stats", width, height)
    page.wait_for_function(STATS_LOADED, timeout=60000)
    button = page.locator("#recompute")
    button.wait_for(state="visible")
    assert button.inner_text() == "按现行网格重新计算"
    assert page.locator("#recompute-job").is_hidden()
    button.click()
    panel = page.locator("#recompute-job")
    page.wait_for_function(
        "() => /正在按现行网格统计，已完成 [1-5]\\/6/"
        ".test(document.querySelector('#recompute-job').textContent)",
        timeout=120000,
    )
    assert button.is_disabled()
    assert panel.locator("progress").get_attribute("max") == "6"
    page.screenshot(path=str(ARTIFACTS / f"stats-recompute-progress-{width}.png"))
    link = panel.locator(".job-download")
    link.wait_for(timeout=180000)
    assert panel.locator(".job-status").inner_text() == "已完成"
    assert "现行网格清零进度" in link.inner_text() and link.inner_text().endswith(".xlsx")
    page.screenshot(path=str(ARTIFACTS / f"stats-recompute-done-{width}.png"))
    content, name = _download(page, link, tmp_path, "progress.xlsx")
    assert name.endswith(".xlsx") and "全市-现行网格清零进度" in name
    book = load_workbook(io.BytesIO(content))
    assert {"说明", "全市", "区县"} <= set(book.sheetnames)
    running = {s["done"] for s in _seen(page, "progress_current") if s["state"] == "running"}
    assert running & {1, 2, 3, 4, 5}, running  # seen between its ends

    # 生成统计表: the city's town table, beside the direct 导出 Excel
    towns = page.locator(".ranking[data-level=town]")
    generate = towns.locator("button.city-export")
    assert generate.inner_text() == "生成统计表"
    assert towns.locator("button.export").inner_text() == "导出 Excel"
    generate.scroll_into_view_if_needed()
    generate.click()
    table = towns.locator(".job-panel")
    link = table.locator(".job-download")
    link.wait_for(timeout=180000)
    assert link.inner_text().startswith("下载 统计-全市-")
    table.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / f"stats-city-table-done-{width}.png"))
    content, name = _download(page, link, tmp_path, "table.xlsx")
    assert name.startswith("统计-全市-") and name.endswith(".xlsx")
    sheet = load_workbook(io.BytesIO(content)).active
    assert sheet.max_row > 5
    seen = _seen(page, "stats_export.town")
    assert [s["state"] for s in seen][-1] == "succeeded"
    assert errors == []
    context.close()


@pytest.mark.parametrize("width,height", [(1366, 900), (390, 844)])
def test_case_list_documents_batch_shows_progress_then_the_zip(
    browser, served, tmp_path, width, height
):
    base, issuer = served
    context, page, errors = _login(browser, base, issuer, "/work?tab=done", width, height)
    page.wait_for_function(INBOX_LOADED, timeout=60000)
    numbers = page.evaluate("weijianWork.inbox.items.map((i) => i.number)")
    assert numbers
    button = page.locator(".inbox-batch-documents")
    assert button.inner_text() == f"批量生成文书（{len(numbers)} 件）"
    button.scroll_into_view_if_needed()
    button.click()
    panel = page.locator(".inbox-batch .job-panel")
    page.wait_for_function(
        "() => /正在生成文书，已完成 [1-9]\\d*\\/\\d+/"
        ".test(document.querySelector('.inbox-batch .job-panel').textContent)",
        timeout=120000,
    )
    assert button.is_disabled()
    panel.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / f"inbox-documents-progress-{width}.png"))
    link = panel.locator(".job-download")
    link.wait_for(timeout=240000)
    assert panel.locator(".job-status").inner_text() == "已完成"
    page.screenshot(path=str(ARTIFACTS / f"inbox-documents-done-{width}.png"))
    content, name = _download(page, link, tmp_path, "documents.zip")
    assert name.startswith("执法文书-") and name.endswith(".zip")
    archive = zipfile.ZipFile(io.BytesIO(content))
    pdfs = [n for n in archive.namelist() if n.endswith(".pdf")]
    assert pdfs and "文书清单.xlsx" in archive.namelist()
    assert all(any(n.startswith(number + "-") for number in numbers) for n in pdfs)
    assert all(archive.read(n)[:5] == b"%PDF-" for n in pdfs)
    seen = _seen(page, "documents.inbox")
    running = sorted({s["done"] for s in seen if s["state"] == "running"})
    assert len(running) >= 2, seen  # the bar moved, document by document
    assert errors == []
    context.close()
