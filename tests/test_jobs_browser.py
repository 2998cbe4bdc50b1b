"""The map page's 生成图集 in headless Chromium (Debian's, driven by Playwright): a click on a
district, 生成图集, the progress bar moving page by page while the map still pans, then the
download of the atlas a real ``weijian worker`` drew — at desk (1366 px) and phone (390 px)
width. Screenshots are saved in .weijian/artifacts/."""

from __future__ import annotations

import os
import re

import pytest
from pypdf import PdfReader
from sqlalchemy import text

from tests.casekit import add_users
from tests.conftest import scratch_database, serving
from weijian.db.engine import engine_for
from weijian.jobs.process import worker_process
from weijian.settings import Settings, get_settings

DISTRICT = "220602"  # 浑江区 of the sample city: 11 communities
PASSWORD = "atlas-password"
ARTIFACTS = get_settings().home / "artifacts"


@pytest.fixture(scope="module")
def atlas_city(sample_dir, tmp_path_factory):
    """The sample city with a city-wide supervisor, the app served over it and a worker slowed
    down a little per grid, so that the bar is seen between its ends."""
    from weijian.api.app import create_app
    from weijian.demo.city import load_samples

    folder = tmp_path_factory.mktemp("atlas-page")
    with scratch_database() as url:
        engine = engine_for(url)
        load_samples(engine, sample_dir, log=lambda *_: None)
        with engine.connect() as conn:
            lon, lat = conn.execute(
                text(
                    "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p "
                    "FROM active_grid WHERE code = :d AND level = 'district') s"
                ),
                {"d": DISTRICT},
            ).one()
        add_users(engine, [("chief", "supervisor", None)], PASSWORD)
        settings = Settings(evidence_dir=folder / "evidence", map_poll_seconds=0.5)
        env = {**os.environ, "DATABASE_URL": url, "WEIJIAN_EVIDENCE_DIR": str(folder / "evidence")}
        with (
            serving(create_app(engine, settings=settings)) as base,
            open(folder / "worker.log", "ab") as log,
            worker_process("--heartbeat", "1", "--throttle", "0.4", env=env, output=log),
        ):
            yield base, (lat, lon)


@pytest.mark.parametrize("width,height", [(1366, 800), (390, 844)])
def test_the_atlas_is_drawn_in_the_background_with_its_progress(
    browser, atlas_city, tmp_path, width, height
):
    base, (lat, lon) = atlas_city
    context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(base + "/")
    page.wait_for_selector("#login-form input[name=username]", state="visible")
    page.fill("input[name=username]", "chief")
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button")
    page.wait_for_function("window.weijianMap && window.weijianMap.ready", timeout=60000)
    page.evaluate(
        "([lat, lon]) => weijianMap.map.setView([lat, lon], 9, {animate: false})", [lat, lon]
    )
    page.wait_for_function("weijianMap.map.getZoom() === 9 && weijianMap.pending === 0")
    point = page.evaluate(
        "([lat, lon]) => { const p = weijianMap.map.latLngToContainerPoint([lat, lon]);"
        " const r = document.getElementById('map').getBoundingClientRect();"
        " return [p.x + r.left, p.y + r.top]; }",
        [lat, lon],
    )
    page.mouse.click(*point)
    button = page.locator("#grid-atlas")
    button.wait_for(state="visible", timeout=30000)
    assert button.inner_text() == "生成图集"
    assert page.locator("#atlas-job").is_hidden()

    button.click()
    status = page.locator("#atlas-job .job-status")
    status.wait_for(timeout=30000)
    assert button.is_disabled()  # one atlas at a time from this panel
    page.wait_for_function(
        "() => /正在生成，已完成 [1-8]\\/11/"
        ".test(document.querySelector('#atlas-job').textContent)",
        timeout=180000,
    )
    bar = page.locator("#atlas-job progress")
    assert bar.get_attribute("max") == "11"
    halfway = int(bar.evaluate("b => b.value"))
    assert 1 <= halfway < 11
    page.screenshot(path=str(ARTIFACTS / f"map-atlas-job-progress-{width}.png"))
    # the page is not blocked meanwhile: the map moves and answers
    page.evaluate("weijianMap.map.setZoom(10, {animate: false})")
    page.wait_for_function("weijianMap.map.getZoom() === 10 && weijianMap.pending === 0")
    assert re.search(r"正在生成，已完成 \d+/11|正在生成：", status.inner_text())

    link = page.locator("#atlas-job .job-download")
    link.wait_for(timeout=240000)
    assert status.inner_text() == "已完成"
    assert link.inner_text() == "下载 浑江区社区巡查图集.pdf"
    assert not button.is_disabled()
    seen = page.evaluate("Object.values(weijianJobs.seen)[0]")
    running = sorted({s["done"] for s in seen if s["state"] == "running"})
    assert len(running) >= 3, seen  # the bar moved, grid by grid
    assert seen[-1]["state"] == "succeeded"
    page.screenshot(path=str(ARTIFACTS / f"map-atlas-job-done-{width}.png"))
    with page.expect_download() as download:
        link.click()
    saved = tmp_path / f"atlas-{width}.pdf"
    download.value.save_as(saved)
    assert download.value.suggested_filename == "浑江区社区巡查图集.pdf"
    reader = PdfReader(saved)
    assert len(reader.pages) >= 12
    assert "浑江区违法建设巡查图集" in reader.pages[0].extract_text()
    assert errors == []
    context.close()
