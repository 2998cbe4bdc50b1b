"""联席会议 in headless Chromium on 127.0.0.1: a supervisor picks the district and the date,
sees the key cases with their reasons, leaves one out, creates the meeting, downloads the
agenda and records a decision; the case's page shows it with its deadline, and the department
holding the case reports it carried out. At desk size and at 390 px. Screenshots in
.weijian/artifacts/."""

from __future__ import annotations

import subprocess
from datetime import timedelta

from tests.casekit import PASSWORD
from tests.test_meetings import OVERDUE, km_polygon
from weijian.cases.clock import LOCAL
from weijian.settings import get_settings

ARTIFACTS = get_settings().home / "artifacts"
WIDE = (
    "[...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right"
    " > window.innerWidth + 1).map((e) => e.tagName + '#' + e.id + '.' + e.className"
    " + ' ' + Math.round(e.getBoundingClientRect().right)).slice(0, 8)"
)


def _logged_in(browser, url: str, who: str, path: str, width: int, height: int):
    # under the pages' Content-Security-Policy: nothing here needs the page to evaluate a string
    context = browser.new_context(
        viewport={"width": width, "height": height}, locale="zh-CN", bypass_csp=False
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "console",
        lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.goto(url + path)
    page.fill("#login input[name=username]", who)
    page.fill("#login input[name=password]", PASSWORD)
    page.click("#login button[type=submit]")
    return context, page, errors


def _district(page, number: str) -> None:
    """浑江区 chosen (the supervisor sees every district), its key cases listed."""
    page.wait_for_selector("#key-body .key-sum, #key-body .key-empty")
    page.select_option("#district", "220602")
    page.wait_for_selector(f"#key-list li[data-number='{number}']")


def _fits(page) -> None:
    page.wait_for_timeout(300)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), (
        page.evaluate(WIDE)
    )


def test_a_supervisor_holds_the_meeting_and_the_case_shows_the_decision(browser, case_api):
    api = case_api
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    overdue = api.report("ue_hj", OVERDUE, channel="patrol", address="新建街道光明路8号院内")
    api.clock.advance(days=40)
    large = api.report(
        "ue_hj",
        (1.2, 0.4),
        channel="patrol",
        address="新建街道建设路口东侧",
        footprint=km_polygon(1.19, 0.39, 1.22, 0.41),
    )
    other = api.report(
        "ue_hj", (1.6, 1.6), channel="patrol", footprint=km_polygon(1.58, 1.58, 1.62, 1.62)
    )
    day = (api.clock.now().astimezone(LOCAL) + timedelta(days=3)).date()
    due = day + timedelta(days=15)

    context, page, errors = _logged_in(browser, api.url, "supervisor", "/work/meetings", 1366, 900)
    _district(page, other["number"])
    assert page.locator("#bar a[href='/work/meetings']").count() == 1
    listed = page.inner_text("#key-list")
    for case in (overdue, large, other):
        assert case["number"] in listed
    assert "长期超期" in listed and "违建面积大" in listed and "超期 39 日" in listed
    page.fill("#held-on", day.isoformat())
    page.uncheck(f"#key-list li[data-number='{other['number']}'] input[type=checkbox]")
    assert "已选 2 件" in page.inner_text("#chosen-count")
    page.screenshot(path=str(ARTIFACTS / "meetings-key-desk.png"), full_page=True)
    page.click("#create")
    page.wait_for_selector("#meeting:not([hidden]) #meeting-cases li")
    shown = page.inner_text("#meeting-cases")
    assert overdue["number"] in shown and large["number"] in shown
    assert other["number"] not in shown
    assert "浑江区违法建设治理联席会议" in page.inner_text("#meeting-title")

    with page.expect_download() as download:
        page.click("#agenda")
    pdf = ARTIFACTS / "meetings-agenda-browser.pdf"
    download.value.save_as(pdf)
    assert pdf.read_bytes().startswith(b"%PDF")
    words = subprocess.run(
        ["pdftotext", "-raw", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert overdue["number"] in words and large["number"] in words
    assert other["number"] not in words

    first = f"#meeting-cases li[data-number='{overdue['number']}']"
    page.fill(
        f"{first} textarea[name=decision]", "限期十五日内自行拆除，逾期由区城管执法局强制拆除"
    )
    page.fill(f"{first} input[name=assignee]", "浑江区城市管理行政执法局")
    page.fill(f"{first} input[name=decided_due]", due.isoformat())
    page.click(f"{first} button[type=submit]")
    page.wait_for_selector(f"{first} .decision-shown")
    assert "已记录决定 1 件" in page.inner_text("#meeting-facts")
    page.screenshot(path=str(ARTIFACTS / "meetings-decided-desk.png"), full_page=True)
    assert not errors, errors
    context.close()

    # the case's page: the decision, its deadline in the list of deadlines and in the timeline;
    # the department holding the case reports it carried out
    path = f"/work/cases/{overdue['number']}"
    context, page, errors = _logged_in(browser, api.url, "ue_hj", path, 1366, 900)
    page.wait_for_selector("#meeting-decision:not([hidden]) .decision-text")
    panel = page.inner_text("#meeting-decision")
    assert "限期十五日内自行拆除" in panel and "浑江区城市管理行政执法局" in panel
    assert f"{due.year}年{due.month}月{due.day}日" in panel
    page.wait_for_selector(".deadline[data-code=meeting]")
    assert "联席会议决定办理期限" in page.inner_text("#deadlines-body")
    # the countdown is the decided day, not the deadline the case had missed before
    assert page.get_attribute("#countdown", "data-code") == "meeting"
    event = page.locator("#timeline li[data-action=meeting_decision]")
    assert event.count() == 1
    assert "联席会议决定" in event.inner_text() and "责任单位" in event.inner_text()
    assert "浑江区违法建设治理联席会议" in event.inner_text()
    page.screenshot(path=str(ARTIFACTS / "meetings-case-desk.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    _fits(page)
    page.screenshot(path=str(ARTIFACTS / "meetings-case-phone.png"), full_page=True)
    page.fill("#meeting-done-note", "违建已全部拆除，现场已清理")
    page.click("#meeting-done")
    page.wait_for_selector("#meeting-decision .deadline.met")
    assert "违建已全部拆除" in page.inner_text("#meeting-decision")
    assert page.locator("#timeline li[data-action=meeting_done]").count() == 1
    assert not errors, errors
    context.close()

    # at 390 px: the supervisor's list and the meeting
    context, page, errors = _logged_in(browser, api.url, "supervisor", "/work/meetings", 390, 844)
    _district(page, other["number"])
    _fits(page)
    page.screenshot(path=str(ARTIFACTS / "meetings-key-phone.png"), full_page=True)
    page.click("#meeting-links a.chip")
    page.wait_for_selector("#meeting:not([hidden]) .decision-shown")
    assert "已于" in page.inner_text("#meeting-cases")  # the report is shown beside it
    _fits(page)
    page.screenshot(path=str(ARTIFACTS / "meetings-meeting-phone.png"), full_page=True)
    assert not errors, errors
    context.close()
