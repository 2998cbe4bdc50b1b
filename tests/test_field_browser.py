"""The field app (/m) in headless Chromium emulating a phone (390×844, touch, GPS set) on
127.0.0.1: a grid worker reports with two photos and gets a case number; the same done offline
— the context offline and every request failing, the page reloaded from the service worker's
cache — is sent once when the network returns, with both photos and the time it was made;
我的网格 lists the open cases nearest first, and 按巡查顺序 in the printed patrol map's order.
Screenshots in .weijian/artifacts/."""

from __future__ import annotations

import io
import time
from datetime import datetime

import pytest
from PIL import Image
from pyproj import Geod
from sqlalchemy import text

from tests.casekit import COMPOUND_CODE, PASSWORD, Api, add_users, build_city, lonlat
from tests.conftest import scratch_database, serving
from weijian.settings import get_settings

ARTIFACTS = get_settings().home / "artifacts"
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "zh-CN",
    "permissions": ["geolocation"],
}
# spots in km from the city's corner, inside the compound 江山花园 (0.2–0.4 km) and farther
# apart than the duplicate radius
ONLINE, OFFLINE = (0.25, 0.25), (0.35, 0.35)
OPEN_CASES = [(0.22, 0.38), (0.38, 0.22), (0.3, 0.32), (0.24, 0.3)]
STAND = (0.33, 0.27)


@pytest.fixture(scope="module")
def field(tmp_path_factory):
    """The hand-built city with a user per role, on the real clock (the phone's made_at is
    checked against it), served once for the module."""
    from weijian.api.app import create_app
    from weijian.db.engine import engine_for
    from weijian.settings import Settings

    folder = tmp_path_factory.mktemp("field-app")
    with scratch_database() as url:
        engine = engine_for(url)
        build_city(engine, folder / "city")
        add_users(engine)
        settings = Settings(evidence_dir=folder / "evidence", map_poll_seconds=0.5)
        app = create_app(engine, settings=settings)
        with serving(app) as base:
            api = Api(base, None, settings)
            api.engine = engine
            api.app = app
            yield api
        engine.dispose()


@pytest.fixture(scope="module")
def phone(browser, field):
    """One phone (a browser context) logged in as the grid worker, the app installed (its
    service worker controlling the page)."""
    context = browser.new_context(**PHONE)
    lon, lat = lonlat(ONLINE)
    context.set_geolocation({"longitude": lon, "latitude": lat, "accuracy": 12})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(field.url + "/m")
    page.wait_for_selector("#login input[name=username]")
    box = page.locator("#login .login-form").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    page.fill("#login input[name=username]", "gridder")
    page.fill("#login input[name=password]", PASSWORD)
    page.click("#login button[type=submit]")
    page.wait_for_function("window.weijianField && window.weijianField.ready", timeout=30000)
    page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=30000)
    page.errors = errors
    yield page
    context.close()


def jpeg(path, colour) -> str:
    """A camera-sized photo on disk (the app makes it smaller before it goes)."""
    out = io.BytesIO()
    Image.new("RGB", (2400, 1800), colour).save(out, "JPEG", quality=95)
    path.write_bytes(out.getvalue())
    return str(path)


def moment(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def report(page, photos: list[str], note: str, spot) -> None:
    lon, lat = lonlat(spot)
    page.context.set_geolocation({"longitude": lon, "latitude": lat, "accuracy": 12})
    page.click("#tabbar button[data-tab=report]")
    page.click("#report-fix + button")  # 重新定位
    page.wait_for_function(
        "([lon, lat]) => { const f = window.weijianReport.fix; "
        "return f && Math.abs(f.lon - lon) < 1e-7 && Math.abs(f.lat - lat) < 1e-7; }",
        arg=[lon, lat],
    )
    assert page.inner_text("#report-fix") == "精度约 12 米"
    page.set_input_files("#report-photos", photos)
    page.wait_for_function("(n) => window.weijianReport.photos === n", arg=len(photos))
    page.click("#report-kinds button[data-track=new]")
    page.fill("#report-note", note)


def cases_described(field, note: str) -> list:
    with field.engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT number, reported_at, created_at FROM violation_case WHERE description = :d"
            ),
            {"d": note},
        ).all()


def test_report_with_two_photos(phone, field, tmp_path):
    page = phone
    # made for one hand: nothing wider than the screen, the tab bar at the bottom
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    bar = page.locator("#tabbar").bounding_box()
    assert bar["y"] + bar["height"] == pytest.approx(844, abs=1) and bar["height"] >= 48
    labels = page.locator("#tabbar .tab-label").all_inner_texts()
    assert labels[:2] == ["上报", "我的网格"]

    photos = [jpeg(tmp_path / "a.jpg", (160, 90, 40)), jpeg(tmp_path / "b.jpg", (40, 90, 160))]
    report(page, photos, "楼顶新建彩钢房（联网上报）", ONLINE)
    # before sending, the server says who will be responsible
    page.wait_for_function("(c => c && typeof c === 'object')(window.weijianReport.check)")
    check = page.inner_text("#report-check")
    assert check.startswith(page.evaluate("window.weijianReport.check.responsible"))
    assert "负责" in check
    page.screenshot(path=str(ARTIFACTS / "field-report.png"))
    page.click("#report-send")
    page.wait_for_selector("#case-number", timeout=30000)
    number = page.inner_text("#case-number")
    page.wait_for_function("window.weijianField.queue.pending === 0", timeout=30000)

    case = field.case("gridder", number)
    assert case["description"] == "楼顶新建彩钢房（联网上报）"
    shots = [e for e in case["evidence"] if e["kind"] == "photo"]
    assert len(shots) == 2
    # compressed on the phone: the long side 1600 px, JPEG; the phone's time and place kept
    assert {(e["width"], e["height"]) for e in shots} == {(1600, 1200)}
    assert all(e["media_type"] == "image/jpeg" and e["device_taken_at"] for e in shots)
    lon, lat = lonlat(ONLINE)
    for e in shots:
        assert abs(e["device_lon"] - lon) < 1e-6 and abs(e["device_lat"] - lat) < 1e-6
    page.screenshot(path=str(ARTIFACTS / "field-report-sent.png"))
    assert page.errors == []


def test_report_offline_is_sent_once_when_online(phone, field, tmp_path):
    page = phone
    context = page.context
    note = "院内私搭板房（离线上报）"
    photos = [jpeg(tmp_path / "c.jpg", (90, 160, 40)), jpeg(tmp_path / "d.jpg", (200, 200, 40))]
    context.set_offline(True)
    context.route("**/*", lambda route: route.abort())  # a service worker's fetches too
    try:
        page.reload()  # the shell comes from the service worker's cache
        page.wait_for_function("window.weijianField && window.weijianField.ready", timeout=30000)
        assert page.is_visible("#net")
        report(page, photos, note, OFFLINE)
        page.wait_for_selector("#report-check .check.offline")
        assert "离线：责任部门和重复检查将在发送时由服务器判定" in page.inner_text("#report-check")
        page.click("#report-send")
        page.wait_for_selector("#report-result .number")
        assert page.inner_text("#report-result .number") == "已保存，联网后自动发送"
        page.wait_for_function("window.weijianField.queue.pending === 3")
        assert "待发送 3 项" in page.inner_text("#queue-banner")
        item = page.evaluate("weijianApp.queued(window.weijianReport.item)")
        made_at = moment(item["made_at"])
        page.screenshot(path=str(ARTIFACTS / "field-report-offline.png"))
        time.sleep(2.5)  # sent later than made
        assert cases_described(field, note) == []
    finally:
        context.unroute("**/*")
        context.set_offline(False)
    page.wait_for_selector("#case-number", timeout=60000)
    page.wait_for_function("window.weijianField.queue.pending === 0", timeout=30000)
    (row,) = cases_described(field, note)
    number = page.inner_text("#case-number")
    assert row.number == number
    assert row.reported_at == made_at  # the time it was made on the phone
    assert (row.created_at - made_at).total_seconds() >= 2.5
    case = field.case("gridder", number)
    assert len([e for e in case["evidence"] if e["kind"] == "photo"]) == 2
    assert page.errors == []


def test_my_grid_nearest_first_and_in_tour_order(phone, field):
    from weijian.patrol.pages import load_page

    page = phone
    for spot in OPEN_CASES:
        field.report("gridder", spot, description=f"网格内案件 {spot}")
    lon, lat = lonlat(STAND)
    page.context.set_geolocation({"longitude": lon, "latitude": lat, "accuracy": 8})
    page.click("#tabbar button[data-tab=grid]")
    page.wait_for_function("window.weijianGrid && window.weijianGrid.loaded")
    page.click("#grid-refresh")  # here, with this position
    geod = Geod(ellps="GRS80")
    with field.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT number, ST_X(geom) AS x, ST_Y(geom) AS y FROM violation_case "
                "WHERE compound_code = :c AND is_open"
            ),
            {"c": COMPOUND_CODE},
        ).all()
    distance = {r.number: geod.inv(lon, lat, r.x, r.y)[2] for r in rows}
    nearest = sorted(distance, key=distance.get)
    page.wait_for_function(
        "(n) => JSON.stringify(window.weijianGrid.numbers) === JSON.stringify(n)", arg=nearest
    )
    first = page.locator("#grid-cases .case-item").first
    metres = round(distance[nearest[0]])
    assert f"{metres} 米" in first.inner_text()
    page.screenshot(path=str(ARTIFACTS / "field-grid.png"))

    # 按巡查顺序: the visiting order of the printed patrol map
    services = field.app.state.cases
    with field.engine.connect() as conn:
        printed = load_page(
            conn,
            services.jurisdiction.snapshot,
            services.workflow,
            services.calendar,
            COMPOUND_CODE,
            services.clock.now(),
        )
    tour = [c.number for c in printed.cases]
    assert sorted(tour) == sorted(nearest)
    page.click(".toggle button[data-order=tour]")
    page.wait_for_function(
        "(n) => JSON.stringify(window.weijianGrid.numbers) === JSON.stringify(n)", arg=tour
    )
    ranks = page.locator("#grid-cases .rank").all_inner_texts()
    assert ranks == [str(n) for n in range(1, len(tour) + 1)]
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(ARTIFACTS / "field-grid-tour.png"))

    # a case opened: its details, and a step the role may take sent through the queue
    page.click(f"#grid-cases .case-item[data-number='{tour[0]}']")
    page.wait_for_selector("#case-sheet button[data-action=dissuade]")
    assert "网格内案件" in page.inner_text("#case-sheet")
    page.click("#case-sheet button[data-action=dissuade]")
    page.fill("#case-sheet textarea[name=note]", "已劝阻业主停止施工")
    page.screenshot(path=str(ARTIFACTS / "field-case-step.png"))
    sent = page.evaluate("window.weijianField.sent")
    page.click("#case-sheet .step-form button.primary")
    page.wait_for_function(
        "(n) => window.weijianField.queue.pending === 0 && window.weijianField.sent > n", arg=sent
    )
    events = field.case("gridder", tour[0])["events"]
    assert events[-1]["action"] == "dissuade" and events[-1]["note"] == "已劝阻业主停止施工"
    assert events[-1]["made_at"]
    assert page.errors == []


def test_my_grid_api_refuses_in_chinese(field):
    lon, lat = lonlat(STAND)
    r = field.get("/api/v1/field/grid", "gridder", lon=lon)
    assert r.status_code == 422 and r.json()["code"] == "field.position_incomplete"
    # a user of the whole city: the finest grid under the phone, or a word that it is needed
    r = field.get("/api/v1/field/grid", "supervisor")
    assert r.status_code == 422 and r.json()["code"] == "field.position_needed"
    assert "定位" in r.json()["message"]
    r = field.get("/api/v1/field/grid", "supervisor", lon=lon, lat=lat, crs="wgs84")
    assert r.status_code == 200 and [g["code"] for g in r.json()["grids"]] == [COMPOUND_CODE]
    r = field.get("/api/v1/field/grid", "gridder", lon=lon, lat=lat, crs="no-such-crs")
    assert r.status_code == 422
    assert field.get("/api/v1/field/grid", None).status_code == 401


# -- 门岗 -----------------------------------------------------------------------------------------


def test_without_a_position_the_own_grid_is_drawn_and_the_spot_tapped(browser, field):
    """A phone that gives no position (permission refused): the report's map shows the grid
    worker's own grid, the message says the spot can be tapped, and a tap places it."""
    context = browser.new_context(**{**PHONE, "permissions": []})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{field.url}/m#report")
    page.fill("#login input[name=username]", "gridder")
    page.fill("#login input[name=password]", PASSWORD)
    page.click("#login button[type=submit]")
    page.wait_for_function("window.weijianField && window.weijianField.ready", timeout=30000)
    page.wait_for_function("window.weijianReport.outlines > 0", timeout=30000)
    message = page.inner_text("#report-fix")
    assert "定位" in message and "地图上点选" in message, message
    # the grid's outline fills the map: its middle lies inside the compound 江山花园
    page.locator("#report-map .leaflet-overlay-pane path").first.wait_for()
    where = page.locator("#report-map")
    box = where.bounding_box()
    where.tap(position={"x": box["width"] / 2, "y": box["height"] / 2})  # scrolled to first
    page.wait_for_function("window.weijianReport.fix && window.weijianReport.fix.moved")
    assert page.inner_text("#report-fix") == "位置已在地图上校正"
    lon, lat = page.evaluate("[window.weijianReport.fix.lon, window.weijianReport.fix.lat]")
    (x0, y0), (x1, y1) = lonlat((0.2, 0.2)), lonlat((0.4, 0.4))
    assert x0 < lon < x1 and y0 < lat < y1
    # and the server says who is responsible for the tapped spot
    page.wait_for_function("(c => c && typeof c === 'object')(window.weijianReport.check)")
    page.screenshot(path=str(ARTIFACTS / "field-report-no-position.png"))
    assert errors == []
    context.close()


def logged_in(browser, field, username: str, tab: str):
    """A new phone logged in as ``username``, the app open on ``tab``."""
    context = browser.new_context(**PHONE)
    lon, lat = lonlat(STAND)
    context.set_geolocation({"longitude": lon, "latitude": lat, "accuracy": 12})
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(f"{field.url}/m#{tab}")
    page.fill("#login input[name=username]", username)
    page.fill("#login input[name=password]", PASSWORD)
    page.click("#login button[type=submit]")
    page.wait_for_function("window.weijianField && window.weijianField.ready", timeout=30000)
    return page


def gate_entry(page, unit: str, material: str) -> None:
    page.fill("#gate-send >> xpath=ancestor::div[1] >> input[name=unit]", unit)
    page.click(f"[data-name=materials] button[data-value='{material}']")
    page.click("[data-name=permit] button[data-value=no]")
    page.click("[data-name=decision] button[data-value=let_in]")
    page.click("#gate-send")


def test_gate_log_warning_becomes_a_report(browser, field):
    """The property company records two entries for one unit without a permit: the second
    raises the warning; the compound's grid worker sees it and reports it with one tap."""
    gate = logged_in(browser, field, "property", "gate")
    try:
        assert "门岗" in gate.locator("#tabbar .tab-label").all_inner_texts()
        gate.wait_for_function("window.weijianGate && window.weijianGate.ready")
        gate_entry(gate, "5栋1单元301", "水泥")
        gate.wait_for_selector("#gate-notice:not([hidden])")
        assert gate.inner_text("#gate-notice").startswith("已登记：5栋1单元301")
        assert gate.evaluate("window.weijianGate.raised") is None
        gate_entry(gate, "5 栋 1 单元 301", "钢材")  # spelt otherwise: the same unit
        gate.wait_for_function("window.weijianGate.raised !== null")
        notice = gate.inner_text("#gate-notice")
        assert notice.startswith("已触发预警") and "已通知网格员" in notice
        gate.wait_for_selector("#gate-warnings li")
        assert gate.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        gate.screenshot(path=str(ARTIFACTS / "field-gate-property.png"), full_page=True)
        assert gate.errors == []
    finally:
        gate.context.close()
    worker = logged_in(browser, field, "gridder", "gate")
    try:
        worker.wait_for_function("window.weijianGate && window.weijianGate.ready")
        assert worker.locator("#gate-send").count() == 0  # the grid worker does not record
        card = worker.locator("#gate-warnings li").first
        assert "5栋1单元301" in card.inner_text() and "2 次未出示手续" in card.inner_text()
        card.locator("button", has_text="一键上报").click()
        worker.wait_for_function("window.weijianGate.reported !== null")
        number = worker.evaluate("window.weijianGate.reported")
        assert number in card.inner_text()
        assert worker.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        worker.screenshot(path=str(ARTIFACTS / "field-gate-grid-worker.png"), full_page=True)
        assert worker.errors == []
    finally:
        worker.context.close()
    # one case, in the compound, by the grid worker's channel, named on the warning
    warnings = field.get("/api/v1/gate-log/warnings", "supervisor").json()["warnings"]
    mine = [w for w in warnings if w["unit"] == "5栋1单元301"]
    assert [w["case_number"] for w in mine] == [number]
    with field.engine.connect() as conn:
        made = conn.execute(
            text("SELECT channel, compound_code FROM violation_case WHERE external_id = :e"),
            {"e": f"门岗预警-{mine[0]['id']}"},
        ).all()
    assert [tuple(m) for m in made] == [("grid_worker", COMPOUND_CODE)]
