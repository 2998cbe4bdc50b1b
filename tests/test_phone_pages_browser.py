"""The supervisors' map (/) and the workbench (/work) on a phone, in headless Chromium at
390×844 with touch: the login box fits the screen, no page is wider than the screen, the map
gets the screen below its bar (its filters a drawer opened by 筛选), and the way to the field
app (/m) is in sight — always for the grid's own people, on a phone for everyone else, and not
for an officer at a desk. Screenshots in .weijian/artifacts/phone-*.png."""

from __future__ import annotations

from tests.casekit import PASSWORD
from tests.test_field_browser import ARTIFACTS, PHONE

DESK = {"viewport": {"width": 1366, "height": 800}, "locale": "zh-CN"}
#: each role's pages: the workbench's home for all, and the pages their header offers
PAGES = {
    "supervisor": ["/work", "/work/stats", "/work/ledger", "/work/cases/{case}"],
    "ue_hj": ["/work", "/work/cases/{case}"],
    "town1": ["/work", "/work/ledger"],
    "admin": ["/work/admin"],
    "gridder": ["/work"],
}


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def login(page, form: str, who: str) -> None:
    page.wait_for_selector(f"{form} input[name=username]", state="visible")
    box = page.locator(form).bounding_box()
    width = page.viewport_size["width"]
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, box  # the login box fits
    assert page.locator(f"{form} a[href='/m']").is_visible()  # 前往移动端 for the grid's people
    page.fill(f"{form} input[name=username]", who)
    page.fill(f"{form} input[name=password]", PASSWORD)
    page.click(f"{form} button[type=submit]")


def test_the_map_on_a_phone(browser, city):
    context = browser.new_context(**PHONE)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(city.api.url + "/")
        page.screenshot(path=str(ARTIFACTS / "phone-map-login.png"))
        login(page, "#login-form", "supervisor")
        page.wait_for_function("window.weijianMap && window.weijianMap.ready", timeout=30000)
        assert fits(page)
        bar = page.locator("#bar").bounding_box()
        area = page.locator("#map").bounding_box()
        assert area["width"] == 390 and area["height"] >= 0.6 * 844, area  # the map gets the screen
        assert area["y"] == bar["y"] + bar["height"]
        assert page.locator("#filters").bounding_box()["x"] + 100 < 0  # folded away
        assert page.locator("#bar a[href='/m']").is_visible()
        # the layers and the legend folded, so as not to cover the map
        assert page.locator(".leaflet-control-layers-expanded").count() == 0
        assert page.evaluate("document.querySelector('.legend details').open") is False
        page.screenshot(path=str(ARTIFACTS / "phone-map.png"))
        page.click(".legend summary")
        assert "案件状态" in page.inner_text(".legend")
        legend = page.locator(".legend").bounding_box()
        assert legend["y"] >= area["y"] and legend["x"] + legend["width"] <= 390
        page.click("#filters-toggle")
        page.wait_for_function(
            "document.getElementById('filters').getBoundingClientRect().left >= 0"
        )
        assert page.get_attribute("#filters-toggle", "aria-expanded") == "true"
        assert page.locator("#f-state").is_visible()
        page.screenshot(path=str(ARTIFACTS / "phone-map-filters.png"))
        page.click("#filters-toggle")
        assert fits(page) and errors == []
    finally:
        context.close()


def test_the_workbench_on_a_phone(browser, city):
    case = city.numbers["street_new"]
    for who, pages in PAGES.items():
        context = browser.new_context(**PHONE)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
        try:
            for n, path in enumerate(pages):
                page.goto(city.api.url + path.format(case=case))
                if n == 0:
                    login(page, "#login .login-form", who)
                page.wait_for_function(
                    "window.weijianWork && window.weijianWork.ready", timeout=30000
                )
                page.wait_for_load_state("networkidle")
                name = f"phone-{who}-{path.strip('/').replace('/', '-').replace('{case}', 'case')}"
                page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
                assert fits(page), f"{who} {path} is wider than the phone"
                # 移动端 in the header, for everyone on a phone
                assert page.locator("#bar a[href='/m']").is_visible(), (who, path)
            assert errors == [], errors
        finally:
            context.close()


def test_the_field_app_link_at_a_desk(browser, city):
    """At a desk the link stays for the grid's own people only."""
    for who, shown in (("ue_hj", False), ("gridder", True)):
        context = browser.new_context(**DESK)
        page = context.new_page()
        try:
            page.goto(city.api.url + "/work")
            login(page, "#login .login-form", who)
            page.wait_for_function("window.weijianWork && window.weijianWork.ready", timeout=30000)
            assert page.locator("#bar a[href='/m']").is_visible() is shown, who
            page.goto(city.api.url + "/")
            page.wait_for_function("window.weijianMap && window.weijianMap.ready", timeout=30000)
            assert page.locator("#bar a[href='/m']").is_visible() is shown, who
        finally:
            context.close()
