"""The public site (/report) in headless Chromium at phone size (390×844, touch, GPS set) on
127.0.0.1, on the real clock: a citizen reports with a photo and gets a receipt; reports again
from the same address without a network, the report kept on the phone and sent when the
network returns — past the address's hourly share, the page solving the proof of work — and is
told the report joined the open case there; follows the case by the receipt's link; the officer
publishes the outcome on the workbench's case page and closes the case; the citizen rates it,
and the rating is an indicator of the assessment; the statistics page shows the month and the
grids' 清零. Every answer the public pages received is searched for every stored name and
phone number. Screenshots in .weijian/artifacts/."""

from __future__ import annotations

import io
from datetime import date

import pytest
from PIL import Image
from sqlalchemy import text

from tests.casekit import COMPOUND, PASSWORD, Api, add_users, build_city, lonlat
from tests.conftest import scratch_database, serving
from tests.test_field_browser import PHONE
from tests.test_public_api import _private_words
from weijian.settings import get_settings

ARTIFACTS = get_settings().home / "artifacts"
PHONE_NUMBER = "13911112222"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The hand-built city with a user per role on the real clock (the form's made_at is
    checked against it): one anonymous report an hour per address, then a light proof of
    work."""
    from weijian.api.app import create_app
    from weijian.db.engine import engine_for
    from weijian.settings import Settings

    folder = tmp_path_factory.mktemp("public-site")
    with scratch_database() as url:
        engine = engine_for(url)
        build_city(engine, folder / "city")
        add_users(engine)
        settings = Settings(
            evidence_dir=folder / "evidence",
            citizen_reports_per_hour=1,
            citizen_challenge_bits=8,
        )
        with serving(create_app(engine, settings=settings)) as base:
            api = Api(base, None, settings)
            api.engine = engine
            yield api
        engine.dispose()


def _photo(path) -> str:
    out = io.BytesIO()
    Image.new("RGB", (2400, 1800), (150, 110, 90)).save(out, "JPEG", quality=92)
    path.write_bytes(out.getvalue())
    return str(path)


def _report(page, description: str) -> str:
    """Fill the form at the phone's position and send it; the receipt code."""
    page.wait_for_selector("#report-check .say.info")  # who will handle it, from the server
    page.fill("#report-description", description)
    page.fill("#report-phone", PHONE_NUMBER)
    page.locator("#report-send").tap()
    page.wait_for_selector("#receipt-code", timeout=30000)
    return page.inner_text("#receipt-code").strip()


def test_a_citizen_reports_follows_and_rates(browser, site, tmp_path):
    api = site
    lon, lat = lonlat(COMPOUND)
    backlog = api.report("town1", (1.5, 1.5), track="backlog", channel="patrol")
    r = api.post(
        "/api/v1/campaigns",
        "supervisor",
        json={"name": "存量违建清零行动", "start_date": date.today().isoformat()},
    )
    assert r.status_code == 201, r.text
    context = browser.new_context(**PHONE)
    context.set_geolocation({"longitude": lon, "latitude": lat, "accuracy": 12})
    page = context.new_page()
    errors: list[str] = []
    answers: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    def keep(response) -> None:
        if "/api/" in response.url:
            answers.append(f"{response.url} {response.text()}")

    page.on("response", keep)
    page.goto(api.url + "/report")
    page.wait_for_selector("#report-check .say.info")
    assert "负责" in page.inner_text("#report-check .say.info")
    page.set_input_files("#report-photo-input", _photo(tmp_path / "site.jpg"))
    page.wait_for_selector("#report-photos .photo img")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(ARTIFACTS / "public-report-form.png"), full_page=True)
    receipt = _report(page, "小区内有人在楼顶搭建彩钢房")
    assert page.locator("#receipt-linked").count() == 0
    page.screenshot(path=str(ARTIFACTS / "public-report-receipt.png"), full_page=True)
    with api.engine.connect() as conn:
        case = conn.execute(
            text(
                "SELECT v.id, v.number, v.channel, v.reporter ->> 'phone' AS phone, "
                "(SELECT count(*) FROM case_evidence e WHERE e.case_id = v.id "
                "AND e.kind = 'photo') AS photos FROM violation_case v "
                "WHERE description = '小区内有人在楼顶搭建彩钢房'"
            )
        ).one()
    assert (case.channel, case.phone, case.photos) == ("citizen", PHONE_NUMBER, 1)
    number = case.number

    # the same address again, without a network: the report waits on the phone and goes
    # when the network returns; past its hourly share the page solves the proof of work, and
    # the report joins the open case at the same spot
    page.goto(api.url + "/report")
    page.wait_for_selector("#report-check .say.info")
    assert page.locator("#receipt-code").count() == 0  # a receipt is shown once
    context.set_offline(True)
    page.fill("#report-description", "同一处彩钢房还在继续加盖")
    page.locator("#report-send").tap()
    page.wait_for_selector("#report-saved")
    assert "恢复网络后将自动提交" in page.inner_text("#report-saved")
    context.set_offline(False)
    page.wait_for_selector("#receipt-code", timeout=30000)
    second = page.inner_text("#receipt-code").strip()
    assert second != receipt
    assert page.evaluate("window.weijianPublic.challenge") is True
    assert "已与其关联" in page.inner_text("#receipt-linked")

    # following the first report by its link
    page.goto(f"{api.url}/report/follow#{receipt}")
    page.wait_for_selector("#follow-timeline li")
    assert f"已受理您的举报，案件编号 {number}" in page.inner_text("#follow-timeline")
    assert "案件办结后" in page.inner_text("#follow-case")

    # the officer publishes the outcome on the case page, then closes the case
    desk = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    officer = desk.new_page()
    officer.goto(f"{api.url}/work/cases/{number}")
    officer.fill("#login input[name=username]", "ue_hj")
    officer.fill("#login input[name=password]", PASSWORD)
    officer.click("#login button[type=submit]")
    officer.wait_for_selector("#public:not([hidden]) #outcome-text")
    outcome = "经现场核查，楼顶彩钢房已由当事人自行拆除。感谢您的举报。"
    officer.fill("#outcome-text", outcome)
    officer.click("#outcome-send")
    officer.wait_for_selector("#outcome-shown .outcome-current")
    assert outcome in officer.inner_text("#outcome-shown")
    officer.screenshot(path=str(ARTIFACTS / "public-outcome-workbench.png"), full_page=True)
    desk.close()
    api.act("ue_hj", number, "site_visit", evidence=[api.photo("ue_hj", number)])
    api.act("ue_hj", number, "dismiss", note="内部：已自行拆除")

    page.reload()
    page.wait_for_selector("#follow-outcome")
    assert outcome in page.inner_text("#follow-outcome")
    page.click("#rating-form .star[data-score='4']")
    page.fill("#rating-comment", "处理及时")
    page.click("#rating-send")
    page.wait_for_selector("#follow-rated")
    assert "满意" in page.inner_text("#follow-rated")
    page.screenshot(path=str(ARTIFACTS / "public-follow-rated.png"), full_page=True)

    # the rating in the assessment of this month
    month = date.today().strftime("%Y-%m")
    levels = api.get("/api/v1/assessment/levels", "supervisor", month=month).json()
    rating = next(i for i in levels["city"][0]["indicators"] if i["code"] == "public_rating")
    assert (rating["numerator"], rating["denominator"], rating["value"]) == (4, 5, 0.8)

    # the statistics page
    page.goto(api.url + "/report/stats")
    page.wait_for_selector("#stats-table tbody tr.total")
    page.wait_for_selector("#stats-map path.leaflet-interactive")
    assert "4 分（1 人）" in page.inner_text("#stats-cards")
    assert "存量违建清零行动" in page.inner_text("#stats-campaign")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(ARTIFACTS / "public-stats.png"), full_page=True)

    # nothing personal in anything the public pages received
    words = _private_words(api.engine)
    assert PHONE_NUMBER in words and backlog["number"]
    assert len(answers) >= 10
    for answer in answers:
        assert not [w for w in words if w in answer], answer[:300]
    assert not errors, errors
    context.close()
