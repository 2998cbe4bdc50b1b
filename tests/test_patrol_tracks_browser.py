"""Patrol tracks in headless Chromium. The field app's 巡查 tab on an emulated phone: a grid
worker starts a patrol, walks (the phone's position set step by step), reloads the app halfway,
walks on and stops; the track arrives through the offline queue, and the grid's coverage from
the API equals the share computed with shapely. The 巡查覆盖率 layer of the supervisors' map:
a town's user turns it on, the grids are coloured by the coverage the API computes — checked
against shapely — and the legend says what the colours mean. Screenshots in
.weijian/artifacts/."""

from __future__ import annotations

import time

import pyproj
import shapely

from tests import city
from tests.casekit import COMMUNITY, PASSWORD, START, TOWN1
from tests.test_field_browser import ARTIFACTS, PHONE
from tests.test_field_browser import field as field  # the field app's server, real clock
from tests.test_patrol_tracks import COMPOUNDS, add_compounds, record, walk_points
from tests.test_web_map_browser import Page

#: the phone's walk (km from the city's corner): east along y = 0.3 in 25 m steps, between
#: 江山花园 (x ≤ 0.4) and 东山小区 (x ≥ 0.6); the app reloaded after the fourth point
WALK = [(0.42 + 0.025 * i, 0.3) for i in range(7)]
RELOAD_AFTER = 4
STEP_PAUSE_S = 1.3  # 25 m in 1.3 s is 69 km/h: under the server's 150 km/h
TO_GK = pyproj.Transformer.from_crs(4490, 4551, always_xy=True)


def open_app(page, base: str) -> None:
    page.goto(base + "/m#patrol")
    page.wait_for_selector("#login input[name=username]")
    page.fill("#login input[name=username]", "gridder")
    page.fill("#login input[name=password]", PASSWORD)
    page.click("#login button[type=submit]")
    page.wait_for_function("window.weijianField && window.weijianField.ready", timeout=30000)


def step(page, spot, count: int) -> None:
    lon, lat = city.lonlat(*spot)
    page.context.set_geolocation({"longitude": lon, "latitude": lat, "accuracy": 9})
    page.wait_for_function("(n) => window.weijianPatrol.points === n", arg=count, timeout=15000)


def test_patrol_tab(browser, field, tmp_path):
    add_compounds(field.engine, tmp_path)
    context = browser.new_context(**PHONE)
    lon, lat = city.lonlat(*WALK[0])
    context.set_geolocation({"longitude": lon, "latitude": lat, "accuracy": 9})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: d.accept())  # 确定结束本次巡查吗？
    try:
        open_app(page, field.url)
        assert "巡查" in page.locator("#tabbar .tab-label").all_inner_texts()
        page.wait_for_selector("#patrol-start")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.click("#patrol-start")
        page.wait_for_function("window.weijianPatrol.points === 1", timeout=15000)
        assert page.inner_text("#patrol-status").startswith("巡查中")
        for i, spot in enumerate(WALK[1:RELOAD_AFTER], start=2):
            time.sleep(STEP_PAUSE_S)
            step(page, spot, i)
        # the app reloaded mid-patrol carries on with the same patrol and its points
        page.reload()
        page.wait_for_function("window.weijianField && window.weijianField.ready", timeout=30000)
        page.wait_for_function("window.weijianPatrol && window.weijianPatrol.running")
        assert page.evaluate("window.weijianPatrol.points") == RELOAD_AFTER
        for i, spot in enumerate(WALK[RELOAD_AFTER:], start=RELOAD_AFTER + 1):
            time.sleep(STEP_PAUSE_S)
            step(page, spot, i)
        shown_km = float(page.inner_text("#patrol-distance").split()[0])
        assert shown_km == round(0.025 * (len(WALK) - 1), 2)
        assert page.inner_text("#patrol-points") == f"{len(WALK)} 个点"
        page.screenshot(path=str(ARTIFACTS / "field-patrol-walking.png"))
        page.click("#patrol-stop")
        # sent through the queue: the server's answer to the stop shown
        page.wait_for_function(
            "(n) => { const s = window.weijianPatrol.synced; "
            "return s && s.ended_at && s.point_count === n; }",
            arg=len(WALK),
            timeout=30000,
        )
        track = page.evaluate("window.weijianPatrol.synced")
        assert page.inner_text("#patrol-synced").startswith(f"已上传 {len(WALK)} 个点")
        page.wait_for_function("window.weijianPatrol.recent.length === 1")
        assert page.evaluate("window.weijianField.queue.pending") == 0
        page.screenshot(path=str(ARTIFACTS / "field-patrol-stopped.png"))
        assert errors == [] and page.evaluate("window.weijianField.errors") == []
    finally:
        context.close()

    # the track on the server: the walk's points, each once, in order
    feature = field.get(f"/api/v1/patrols/{track['id']}", "gridder").json()
    coords = feature["geometry"]["coordinates"]
    assert len(coords) == len(WALK)
    for (x, y), (got_lon, got_lat) in zip(WALK, coords, strict=True):
        want_lon, want_lat = city.lonlat(x, y)
        assert abs(got_lon - want_lon) < 1e-6 and abs(got_lat - want_lat) < 1e-6
    walked = shapely.LineString([TO_GK.transform(*city.lonlat(x, y)) for x, y in WALK])
    assert abs(feature["properties"]["length_m"] - walked.length) < 0.5
    # the grid's coverage this month equals the share computed by hand
    passed = {code: walked.distance(city.box(*b)) <= 50.0 for code, (_n, b) in COMPOUNDS.items()}
    assert sum(passed.values()) == 2  # 江山花园 and 东山小区, 20 m and 30 m away
    answer = field.get("/api/v1/patrols/coverage", "town1", grid=TOWN1).json()
    assert answer["coverage"] == round(sum(passed.values()) / len(COMPOUNDS), 4)
    (sub,) = answer["subgrids"]
    assert sub["code"] == COMMUNITY
    assert {d["code"]: d["passed"] for d in sub["detail"]} == passed


def test_coverage_layer(browser, case_api, engine, tmp_path):
    api = case_api
    add_compounds(engine, tmp_path)
    points = walk_points(START)
    record(api, "gridder", START, points)
    to_gk = pyproj.Transformer.from_crs(4490, 4551, always_xy=True)
    walked = shapely.LineString([to_gk.transform(*city.lonlat(x, y)) for x, y, _ in points])
    passed = sum(walked.distance(city.box(*b)) <= 50.0 for _name, b in COMPOUNDS.values())

    page = Page(browser, api.url, "town1")
    try:
        assert not page.js("weijianMap.map.hasLayer(weijianMap.layers.coverage)")
        page.page.click(".leaflet-control-layers label:has-text('巡查覆盖率')")
        page.wait("weijianMap.coverage && weijianMap.coverage.length === 1")
        answer = page.js("weijianMap.coverage[0]")
        assert answer["coverage"] == round(passed / len(COMPOUNDS), 4)
        (sub,) = answer["subgrids"]
        assert sub["code"] == COMMUNITY and sub["passed"] == passed
        # a sub-grid, its compounds and the month's track the town may read drawn
        assert page.js("weijianMap.tracksDrawn") == 1
        assert page.js("weijianMap.layers.coverage.getLayers().length") == 2 + len(COMPOUNDS)
        legend = page.page.inner_text(".legend")
        assert "巡查覆盖率" in legend and "从未巡查" in legend
        page.view((0.5, 0.5), 15)
        page.screenshot("patrol-coverage-layer.png")
        assert page.errors == []
    finally:
        page.close()
