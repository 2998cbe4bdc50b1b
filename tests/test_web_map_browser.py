"""The map page end to end in headless Chromium (Debian's, driven by Playwright), over the app
served on 127.0.0.1 by the test: nothing leaves 127.0.0.1; grids, zones, cases and the heatmap
draw; a click on a grid shows the API's figures; a filter changes what is shown; a town's user
sees its town only. Screenshots are saved in .weijian/artifacts/."""

from __future__ import annotations

from pathlib import Path

from tests.casekit import COMPOUND, PASSWORD, RED_FLAG, STREET, TOWN1, lonlat
from weijian.settings import get_settings

ARTIFACTS = get_settings().home / "artifacts"
VIEWPORT = {"width": 1400, "height": 900}


# polled once an animation frame: true once the map has been settled on two frames in a row
SETTLED_FOR_TWO_FRAMES = """() => {
    const settled = !weijianMap.moving && weijianMap.pending === 0
        && Object.values(weijianMap.layers).every((l) => !l || !l._loading);
    window.settledFrames = settled ? window.settledFrames + 1 : 0;
    return window.settledFrames >= 2;
}"""


class Page:
    """One logged-in map page, with every request it made."""

    def __init__(self, browser, url: str, who: str):
        self.url = url
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.context = browser.new_context(viewport=VIEWPORT, locale="zh-CN")
        self.page = self.context.new_page()
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(url + "/")
        self.page.wait_for_selector("#login-form input[name=username]", state="visible")
        self.page.fill("input[name=username]", who)
        self.page.fill("input[name=password]", PASSWORD)
        self.page.click("#login-form button")
        self.page.wait_for_function("window.weijianMap && window.weijianMap.ready", timeout=30000)

    def js(self, expression: str, arg=None):
        return self.page.evaluate(expression, arg)

    def wait(self, expression: str, arg=None, timeout: float = 20000):
        self.page.wait_for_function(expression, arg=arg, timeout=timeout)

    def view(self, spot, zoom: int) -> None:
        lon, lat = lonlat(spot)
        self.js(
            "([lat, lon, z]) => weijianMap.map.setView([lat, lon], z, {animate: false})",
            [lat, lon, zoom],
        )
        self.wait("(z) => weijianMap.map.getZoom() === z", zoom)
        self.idle()

    def idle(self) -> None:
        """The map has stopped moving and its requests are answered (tiles included) — and
        stays so from one animation frame to the next, so that what a move's end sets off (its
        requests, a pan back inside the bounds) has started before the map counts as idle."""
        self.js("window.settledFrames = 0")
        self.page.wait_for_function(SETTLED_FOR_TWO_FRAMES, polling="raf", timeout=20000)

    def click_at(self, spot) -> None:
        lon, lat = lonlat(spot)
        point = self.js(
            "([lat, lon]) => { const p = weijianMap.map.latLngToContainerPoint([lat, lon]);"
            " const r = document.getElementById('map').getBoundingClientRect();"
            " return [p.x + r.left, p.y + r.top]; }",
            [lat, lon],
        )
        self.page.mouse.click(*point)

    def figure(self, key: str) -> str:
        return self.page.inner_text(f"#details tr[data-figure={key}] td.num")

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / name
        self.page.screenshot(path=str(path))
        return path

    def close(self) -> None:
        self.context.close()


def test_supervisor_map(browser, city):
    api = city.api
    page = Page(browser, api.url, "supervisor")
    try:
        # the whole city in view: the totals count every open case
        page.wait("weijianMap.cells && weijianMap.cells.open === 6")
        assert page.js("weijianMap.cells.total") == 6  # the page opens on open cases
        # with a campaign its colours come first: the heatmap is one click away, and counts
        # the cases of the filters when shown
        assert not page.js("weijianMap.map.hasLayer(weijianMap.layers.heat)")
        page.page.click(".leaflet-control-layers label:has-text('案件热力图')")
        page.wait("weijianMap.layers.heat._latlngs.length > 0")
        page.page.click(".leaflet-control-layers label:has-text('案件热力图')")
        assert page.page.get_attribute(".leaflet-control-zoom-in", "title") == "放大"
        assert "当前视图：6 件" in page.page.inner_text("#totals")
        # overdue at the current stage: the patrol case never visited and the three open
        # backlog cases whose 15-day nature determination ran out on 03-17
        assert "超期未办 4 件" in page.page.inner_text("#totals")
        assert page.js("weijianMap.features.grids") > 0
        # with a campaign the choropleth is on and the zones are a click away
        assert page.js("weijianMap.map.hasLayer(weijianMap.layers.choropleth)")
        assert not page.js("weijianMap.map.hasLayer(weijianMap.layers.zones)")
        page.page.click(".leaflet-control-layers label:has-text('规划分区')")
        page.wait("weijianMap.features.zones > 0")
        assert "城管执法部门负责" in page.page.inner_text(".legend")
        # clusters stand for the cases below zoom 14
        page.view((4, 2), 12)
        page.wait("weijianMap.clusters && weijianMap.clusters.total === 6")
        assert page.page.locator("#map .cluster").count() >= 1

        # zoom in: case points, coloured, the overdue one ringed
        page.view(STREET, 16)
        page.wait("weijianMap.features.cases >= 2 && weijianMap.overdueDrawn >= 1")

        # a click on a case: its details and timeline
        page.click_at((1.6, 1.55))
        page.wait("weijianMap.caseDetail !== null")
        number = city.numbers["street_new"]
        assert page.js("weijianMap.caseDetail.number") == number
        details = page.page.inner_text("#details")
        assert number in details and "办理过程" in details and "超期" in details
        link = page.page.get_attribute("#details a:has-text('在工作台中打开')", "href")
        assert link == f"/work/cases/{number}"

        # a click on a grid: the same figures as the API's
        page.view(STREET, 11)
        page.js("weijianMap.figures = null")
        page.page.click(".leaflet-control-layers label:has-text('违建案件')")  # clusters off
        assert not page.js("weijianMap.map.hasLayer(weijianMap.layers.cases)")
        page.click_at(STREET)
        page.wait("weijianMap.figures !== null && weijianMap.figures.grid.level === 'town'")
        progress = api.get(
            f"/api/v1/campaigns/{city.campaign}/progress", "supervisor", level="town"
        ).json()
        row = next(r for r in progress["levels"]["town"] if r["code"] == TOWN1)
        levels = api.get("/api/v1/assessment/levels", "supervisor", month="2026-03").json()
        unit = next(u for u in levels["town"] if u["code"] == TOWN1)
        assert page.page.inner_text("#details h2") == "新建街道"
        assert page.figure("baseline") == str(row["baseline"]) == "3"
        assert page.figure("signed_off") == str(row["signed_off"]) == "1"
        assert page.figure("remaining") == str(row["remaining"]) == "2"
        assert page.figure("percent") == f"{row['percent']}%" == "33.3%"
        # overdue at the current stage now, as the totals and the case list count it
        overdue = api.get(
            "/api/v1/cases", "supervisor", grid=TOWN1, overdue="true", with_total="true"
        ).json()["total"]
        assert page.figure("overdue") == str(overdue) == "3"
        assert page.figure("new_this_month") == str(unit["counts"]["reported"])
        page.wait("weijianMap.gridCases && weijianMap.gridCases.total === 3")
        assert city.numbers["street_new"] in page.page.inner_text("#grid-cases")
        page.screenshot("map-supervisor-grid.png")

        # 责任倒查 of the town's month, as the API traces it, opened from the panel
        traced = api.get(
            "/api/v1/assessment/tracing", "supervisor", grid=TOWN1, month="2026-03"
        ).json()
        assert traced["count"] > 0
        page.page.click("#grid-tracing summary")
        page.wait("weijianMap.tracing !== undefined")
        rows = page.page.locator("#tracing-body table.tracing tbody tr")
        assert rows.count() == traced["count"]
        first = traced["problems"][0]
        assert first["status_label"] in rows.first.inner_text()
        page.screenshot("map-supervisor-tracing.png")

        # 督办 from the grid: every overdue case of the town at once, seen in the inbox
        page.page.click("#details .grid-urge summary")
        page.page.fill("#grid-urge-form textarea[name=note]", "请三日内完成超期案件的核查处置")
        page.page.click("#grid-urge-form button[type=submit]")
        page.wait("weijianMap.gridUrge !== undefined")
        assert page.js("weijianMap.gridUrge.urged") == 3
        assert "已督办 3 件" in page.page.inner_text("#grid-urge-result")
        urged = api.get("/api/v1/inbox", "ue_hj", tab="urged").json()
        assert sorted(i["number"] for i in urged["items"]) == sorted(
            page.js("weijianMap.gridUrge.cases")
        )
        assert all(i["urge"]["note"] == "请三日内完成超期案件的核查处置" for i in urged["items"])

        page.page.click(".leaflet-control-layers label:has-text('违建案件')")

        # the clear-to-zero choropleth is drawn from the same campaign
        page.page.select_option("#f-level", "town")
        page.wait("weijianMap.choropleth && weijianMap.choropleth.level === 'town'")
        assert page.js(f"weijianMap.choropleth.grids['{TOWN1}'].percent") == 33.3

        # a filter changes what is shown: backlog only
        page.view(STREET, 12)
        page.page.select_option("#f-track", "backlog")
        page.wait("weijianMap.cells && weijianMap.cells.total === 3")
        listed = api.get(
            "/api/v1/cases", "supervisor", track="backlog", category="open", with_total="true"
        ).json()["total"]
        page.view(STREET, 10)
        page.wait(f"weijianMap.cells && weijianMap.cells.total === {listed}")
        assert any("track=backlog" in u for u in page.requests if "/map/cells" in u)
        page.view(STREET, 15)
        assert any("/tiles/cases/" in u and "track=backlog" in u for u in page.requests)
        page.page.select_option("#f-track", "")

        # the search box flies to a case number
        page.page.fill("#search-input", city.numbers["red_flag_backlog"])
        page.page.press("#search-input", "Enter")
        page.wait(f"weijianMap.caseDetail.number === '{city.numbers['red_flag_backlog']}'")
        # a signed-off case: its photos (fetched with the token) and its whole timeline
        page.page.fill("#search-input", city.numbers["compound_backlog"])
        page.page.press("#search-input", "Enter")
        page.wait(f"weijianMap.caseDetail.number === '{city.numbers['compound_backlog']}'")
        page.wait("document.querySelectorAll('#case-photos img').length >= 1")
        page.wait("[...document.querySelectorAll('#case-photos img')].every(i => i.naturalWidth)")
        page.wait("!weijianMap.moving")  # the flight to the case is over
        timeline = page.page.inner_text(".timeline")
        for label in ("性质认定并出具处置意见", "拆除", "验收", "销号"):
            assert label in timeline, label
        page.idle()
        page.screenshot("map-supervisor-case.png")

        page.view(COMPOUND, 14)
        page.js("weijianMap.map.setZoom(13, {animate: false})")
        page.idle()
        page.screenshot("map-supervisor.png")

        foreign = [u for u in page.requests if not u.startswith(api.url + "/")]
        foreign = [u for u in foreign if not u.startswith(("data:", "blob:"))]
        assert foreign == [], foreign
        assert page.errors == [], page.errors
        assert page.js("weijianMap.errors") == []
    finally:
        page.close()


LEVEL_LABELS = {"district": "区县", "town": "镇（街道）", "community": "社区", "compound": "小区"}


def test_the_colours_and_a_click_are_of_the_same_level_at_every_zoom(browser, city):
    """The 清零 colours, the legend and a click on the map name one grid level at every zoom;
    a level chosen by hand holds for the colours and the clicks alike."""
    page = Page(browser, city.api.url, "supervisor")
    try:
        page.page.click(".leaflet-control-layers label:has-text('违建案件')")  # grids only
        seen = []
        for zoom in range(8, 18):
            page.view(COMPOUND, zoom)
            page.wait(
                "weijianMap.choropleth && weijianMap.choropleth.level === weijianMap.viewLevel()"
            )
            level = page.js("weijianMap.viewLevel()")
            assert f"按{LEVEL_LABELS[level]}着色" in page.page.inner_text(".legend")
            page.js("weijianMap.figures = null")
            page.click_at(COMPOUND)
            page.wait("weijianMap.figures !== null")
            assert page.js("weijianMap.figures.grid.level") == level, zoom
            seen.append(level)
        assert seen[0] == "district" and seen[-1] == "compound"
        assert {"town", "community"} <= set(seen)
        # the level picked by hand: colours and clicks follow it at any zoom
        page.page.select_option("#f-level", "town")
        page.view(COMPOUND, 16)
        page.wait("weijianMap.choropleth && weijianMap.choropleth.level === 'town'")
        page.js("weijianMap.figures = null")
        page.click_at(COMPOUND)
        page.wait("weijianMap.figures !== null")
        assert page.js("weijianMap.figures.grid.level") == "town"

        # the grid's case list from the keyboard: Tab reaches a row, Enter opens the case
        page.wait("weijianMap.gridCases && weijianMap.gridCases.items.length > 0")
        page.js("weijianMap.caseDetail = null")
        page.page.focus("#grid-cases .case-row")
        page.page.keyboard.press("Shift+Tab")
        page.page.keyboard.press("Tab")
        assert page.js("document.activeElement.classList.contains('case-row')")
        focused = page.js("document.activeElement.dataset.number")
        page.page.keyboard.press("Enter")
        page.wait("(n) => weijianMap.caseDetail && weijianMap.caseDetail.number === n", focused)

        # 导出当前地图: the view, its level and its campaign in the file (the file opened
        # offline: test_the_view_exported_as_one_html_file_opens_offline)
        with page.page.expect_download() as download:
            page.page.click("#f-export")
        saved = Path(download.value.path()).read_text(encoding="utf-8")
        assert download.value.suggested_filename.startswith("监管地图-")
        assert "违法建设监管地图" in saved and "按镇（街道）着色" in saved
        assert page.errors == []
    finally:
        page.close()


def test_town_user_sees_only_its_town(browser, city):
    api = city.api
    page = Page(browser, api.url, "town2")
    try:
        assert "红旗街道" in page.page.inner_text("#scope-name")
        page.wait("weijianMap.cells !== null")
        listed = api.get("/api/v1/cases", "town2", category="open", with_total="true").json()
        assert page.js("weijianMap.cells.total") == listed["total"] == 1
        # even with the whole city in view
        page.view(STREET, 12)
        page.wait("weijianMap.cells !== null && weijianMap.cells.total === 1")
        # its grid tiles hold its own street only; the other street answers nothing
        page.js("weijianMap.figures = null")
        page.view(RED_FLAG, 13)
        page.click_at((3.6, 0.3))  # inside 红旗街道, away from its case's cluster
        page.wait("weijianMap.figures !== null")
        assert page.js("weijianMap.figures.grid.name") == "红旗街道"
        page.js("weijianMap.figures = null")
        page.view(COMPOUND, 13)
        page.click_at(COMPOUND)
        page.wait("!document.getElementById('notice').hidden")
        assert "不在您的辖区" in page.page.inner_text("#notice")
        assert page.js("weijianMap.figures") is None
        page.view(RED_FLAG, 13)
        page.screenshot("map-town.png")
        assert page.errors == []
    finally:
        page.close()


def test_login_is_required(browser, city):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    try:
        page.goto(city.api.url + "/")
        page.wait_for_selector("#login", state="visible")
        page.fill("input[name=username]", "supervisor")
        page.fill("input[name=password]", "wrong-password")
        page.click("#login-form button")
        page.wait_for_function("document.getElementById('login-error').textContent !== ''")
        assert "用户名或密码错误" in page.inner_text("#login-error")
        assert page.evaluate("window.weijianMap.ready") is False
        assert page.evaluate("window.weijianMap.cells") is None
    finally:
        context.close()


def tile_server(answers, colour: tuple[int, int, int]):
    """A tile server on 127.0.0.1, as a city's network has one: ``answers(path)`` says whether
    the request is a tile (a PNG of ``colour``) or a mistake (400). Shut it down after."""
    import io
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from PIL import Image

    tile = io.BytesIO()
    Image.new("RGB", (256, 256), colour).save(tile, "PNG")

    class Tiles(BaseHTTPRequestHandler):
        def do_GET(self):
            ok = answers(self.path)
            try:
                self.send_response(200 if ok else 400)
                self.send_header("Content-Type", "image/png" if ok else "text/plain")
                self.end_headers()
                self.wfile.write(tile.getvalue() if ok else b"bad request")
            except ConnectionError:
                pass  # a tile the page stopped wanting when it moved

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Tiles)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_gcj02_basemap_is_shifted_onto_the_overlays(browser, engine, tmp_path):
    """A basemap on the city's network in GCJ-02 (AMap-style tiles): its tiles are fetched
    from there (here a tile server of the test on 127.0.0.1) and drawn shifted back by
    GCJ-02's offset at the view's centre; the page says so."""
    from tests.casekit import add_users, build_city
    from tests.conftest import serving
    from weijian.api.app import create_app
    from weijian.gis.chinese_datums import wgs84_to_gcj02
    from weijian.settings import Settings

    asked: list[str] = []
    tiles = tile_server(lambda path: asked.append(path) or True, (230, 220, 200))
    build_city(engine, tmp_path / "city")
    add_users(engine)
    settings = Settings(
        basemap_url=f"http://127.0.0.1:{tiles.server_port}/{{z}}/{{x}}/{{y}}.png",
        basemap_crs="gcj02",
        evidence_dir=tmp_path / "evidence",
    )
    try:
        with serving(create_app(engine, settings=settings)) as url:
            page = Page(browser, url, "supervisor")
            try:
                page.view(STREET, 15)
                page.wait("weijianMap.layers.basemap && weijianMap.layers.basemap._shift.x !== 0")
                assert "GCJ-02" in page.page.inner_text("#notice")
                centre = page.js("[weijianMap.map.getCenter().lng, weijianMap.map.getCenter().lat]")
                glon, glat = wgs84_to_gcj02(*centre)
                expected = page.js(
                    "([lon, lat, glon, glat]) => { const m = weijianMap.map, z = m.getZoom();"
                    " return m.project([lat, lon], z).subtract(m.project([glat, glon], z)); }",
                    [*centre, glon, glat],
                )
                shift = page.js("weijianMap.layers.basemap._shift")
                assert abs(shift["x"] - expected["x"]) <= 1 and abs(shift["y"] - expected["y"]) <= 1
                assert abs(shift["x"]) > 50  # hundreds of metres at zoom 15: worth shifting
                assert asked and all(p.endswith(".png") for p in asked)
                foreign = [
                    u for u in page.requests if not u.startswith(("http://127.0.0.1:", "data:"))
                ]
                assert foreign == [], foreign
                page.screenshot("map-gcj02-basemap.png")
            finally:
                page.close()
    finally:
        tiles.shutdown()


def test_tianditu_preset_draws_the_vector_map_and_its_annotation(browser, engine, tmp_path):
    """WEIJIAN_BASEMAP=tianditu against a tile server of the test that answers Tianditu's
    WMTS requests (an intranet mirror): the vector map and the annotation above it, in Web
    Mercator, with the city's key, and no GCJ-02 shift."""
    from urllib.parse import parse_qs, urlsplit

    from tests.casekit import add_users, build_city
    from tests.conftest import serving
    from weijian.api.app import create_app
    from weijian.settings import Settings

    asked: list[tuple[str, dict]] = []

    def wmts(path: str) -> bool:
        url = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        asked.append((url.path, query))
        return query.get("SERVICE") == "WMTS" and query.get("REQUEST") == "GetTile"

    server = tile_server(wmts, (200, 220, 240))
    build_city(engine, tmp_path / "city")
    add_users(engine)
    settings = Settings(
        basemap="tianditu",
        tianditu_key="city-key-123",
        tianditu_url=f"http://127.0.0.1:{server.server_port}",
        evidence_dir=tmp_path / "evidence",
    )
    try:
        with serving(create_app(engine, settings=settings)) as url:
            page = Page(browser, url, "supervisor")
            try:
                page.view(STREET, 15)
                page.wait("weijianMap.layers.basemaps && weijianMap.layers.basemaps.length === 2")
                page.wait(
                    "weijianMap.layers.basemaps.every((l) => Object.keys(l._tiles).length > 0"
                    " && !l._loading)"
                )
                paths = {path for path, _ in asked}
                assert paths == {"/vec_w/wmts", "/cva_w/wmts"}
                for _, query in asked:
                    assert query["TILEMATRIXSET"] == "w" and query["tk"] == "city-key-123"
                    assert query["LAYER"] in ("vec", "cva")
                at_15 = {q["LAYER"] for _, q in asked if q["TILEMATRIX"] == "15"}
                assert at_15 == {"vec", "cva"}  # the view's zoom, both layers
                # the annotation above the map, both under the overlays
                z = page.js(
                    "weijianMap.layers.basemaps.map((l) => Number(l.getContainer().style.zIndex))"
                )
                assert z[0] < z[1]
                assert "天地图" in page.page.inner_text(".leaflet-control-attribution")
                assert not page.js("'_shift' in weijianMap.layers.basemap")  # no GCJ shift
                assert page.page.locator("#notice:visible").count() == 0
                foreign = [
                    u for u in page.requests if not u.startswith(("http://127.0.0.1:", "data:"))
                ]
                assert foreign == [], foreign
                page.screenshot("map-tianditu-basemap.png")
            finally:
                page.close()
    finally:
        server.shutdown()


def test_the_view_exported_as_one_html_file_opens_offline(browser, city, tmp_path):
    """导出当前地图: the view's grids (coloured by the campaign), its cases and the legend in one
    HTML file made with folium, opened in Chromium with the network off: drawn, and no request
    leaves the file. Nothing personal is in it."""
    import re

    from tests.casekit import lonlat

    api = city.api
    x0, y0 = lonlat((-0.5, -0.5))
    x1, y1 = lonlat((5.5, 5.5))
    r = api.get(
        "/api/v1/map/export.html",
        "supervisor",
        bbox=f"{x0},{y0},{x1},{y1}",
        level="town",
        campaign=city.campaign,
        category="open",
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert "attachment;" in r.headers["content-disposition"]
    page_html = r.text
    # every script and style inline: nothing to fetch
    assert re.findall(r"<script[^>]+src=", page_html) == []
    assert re.findall(r"<link[^>]+href=", page_html) == []
    # nothing personal: no reporter, no phone, no grid's responsible people
    for personal in ("13800000000", "13904390003", "孙丽", "town1-姓名", "gridder-姓名"):
        assert personal not in page_html, personal
    path = tmp_path / "监管地图.html"
    path.write_text(page_html, encoding="utf-8")

    context = browser.new_context(locale="zh-CN", offline=True)
    asked: list[str] = []
    context.on("request", lambda req: asked.append(req.url))
    try:
        view = context.new_page()
        errors: list[str] = []
        view.on("pageerror", lambda e: errors.append(str(e)))
        view.goto(path.as_uri())
        view.wait_for_selector("#legend")
        view.wait_for_function("document.querySelectorAll('path.leaflet-interactive').length > 0")
        drawn = view.evaluate("document.querySelectorAll('path.leaflet-interactive').length")
        markers = view.evaluate("document.querySelectorAll('.state-shape svg').length")
        open_cases = api.get("/api/v1/cases", "supervisor", category="open").json()["items"]
        assert drawn >= 2  # 新建街道 and 红旗街道 lie in the view
        assert markers == len(open_cases)  # each case its state's shape
        legend = view.inner_text("#legend")
        assert "案件状态" in legend and "超期未办" in legend and "清零进度" in legend
        assert "按镇（街道）着色" in legend and "在办案件" in legend
        assert f"案件 {len(open_cases)} 件" in legend
        assert "违建案件" in view.inner_text(".leaflet-control-layers")
        assert errors == []
        assert asked == [path.as_uri()]  # the file, and nothing else
        view.screenshot(path=str(ARTIFACTS / "map-export-offline.png"))
    finally:
        context.close()
