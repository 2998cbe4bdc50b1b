"""建设项目追踪 in headless Chromium on 127.0.0.1: a natural-resources officer imports a GBK red
line from the page, starts construction, records an inspection that finds a structure outside
the red line — the spot clicked on the map — and the case it opens is listed and linked; the
supervisors' map shows the project as a layer. At desk size and at 390 px. Screenshots in
.weijian/artifacts/."""

from __future__ import annotations

from tests.casekit import PASSWORD, lonlat, site_photo
from tests.test_projects import red_line_zip
from weijian.settings import get_settings

ARTIFACTS = get_settings().home / "artifacts"


def test_a_project_imported_and_inspected_in_the_workbench(browser, case_api, tmp_path):
    api = case_api
    zipped = tmp_path / "红线.zip"
    zipped.write_bytes(red_line_zip(tmp_path / "shp"))
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(api.url + "/work/projects")
    page.fill("#login input[name=username]", "nr_hj")
    page.fill("#login input[name=password]", PASSWORD)
    page.click("#login button[type=submit]")
    page.wait_for_selector("#list tbody tr")
    assert page.locator("#bar a[href='/work/projects']").count() == 1
    page.click("#import-open")
    page.set_input_files("#import-file input[type=file]", str(zipped))
    page.fill("#import-form input[name=name_field]", "XMMC")
    page.fill("#import-form input[name=planning_permit_field]", "GHXKZ")
    page.fill("#import-form input[name=developer_field]", "JSDW")
    page.click("#import-form button[type=submit]")
    page.wait_for_selector("#project-stage")
    assert "江山花园二期" in page.inner_text("#list")
    assert "白山市城建开发有限公司" in page.inner_text("#project-body")
    page.click(".stage-moves button[data-stage=under_construction]")
    page.wait_for_selector("#project-stage:has-text('在建')")

    # an inspection finds a structure east of the red line: the spot clicked on the map
    page.fill("#inspection-form textarea[name=findings]", "东侧围挡外新建板房")
    photo = tmp_path / "检查.jpg"
    photo.write_bytes(site_photo(*lonlat((0.72, 0.6))))
    page.set_input_files("#inspection-form .slot input[type=file]", str(photo))
    page.check("#inspection-found")
    lon, lat = lonlat((0.72, 0.6))
    page.locator("#project-map").scroll_into_view_if_needed()
    # the map's pixel of the spot, through Leaflet itself
    x, y = page.evaluate(
        "([lat, lon]) => { const m = window.weijianProjectsMap;"
        " const p = m.latLngToContainerPoint([lat, lon]);"
        " const r = m.getContainer().getBoundingClientRect();"
        " return [r.left + p.x, r.top + p.y]; }",
        [lat, lon],
    )
    page.mouse.click(x, y)
    page.wait_for_selector("#inspection-where:has-text('已选定')")
    page.click("#inspection-form button[type=submit]")
    page.wait_for_selector("#inspections li")
    assert "已立案" in page.inner_text("#inspections")
    page.wait_for_selector("#inspections .thumb img[src^='blob:']")
    number = page.inner_text("#inspections a").strip()
    case = api.case("supervisor", number)
    assert case["channel"] == "project_tracking" and case["project"]["name"] == "江山花园二期"
    assert abs(case["lon"] - lon) < 1e-5 and abs(case["lat"] - lat) < 1e-5
    assert "红线外" in page.inner_text("#project-body")
    page.screenshot(path=str(ARTIFACTS / "projects-desk.png"), full_page=True)
    # the supervisors' map: the project's red line as a layer, its popup leading back here
    page.goto(api.url + "/")
    page.wait_for_selector(".leaflet-control-layers")
    page.click(".leaflet-control-layers label:has-text('建设项目（规划红线）')")
    page.wait_for_function("window.weijianMap.projects === 1")
    assert (
        "建设项目（规划红线）" in page.inner_text("#legend")
        if page.locator("#legend").count()
        else True
    )
    page.screenshot(path=str(ARTIFACTS / "projects-map.png"))
    page.goto(api.url + "/work/projects#1")
    page.wait_for_selector("#project-stage")
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(300)
    wide = page.evaluate(
        "[...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right"
        " > window.innerWidth + 1).map((e) => e.tagName + '#' + e.id + '.' + e.className"
        " + ' ' + Math.round(e.getBoundingClientRect().right)).slice(0, 8)"
    )
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), wide
    page.screenshot(path=str(ARTIFACTS / "projects-phone.png"), full_page=True)
    assert not errors, errors
    context.close()
