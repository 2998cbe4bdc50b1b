"""The monthly ledger page end to end in headless Chromium, over the app served on 127.0.0.1 by
the test: a town clerk reads February's ledger, downloads the workbook and sends it with a
signed scan (a real PDF from disk); the district returns it with a reason in a dialog; the
clerk, on a phone, reads the reason and sends it again; the district, on a phone, accepts it.
Screenshots are saved in .weijian/artifacts/."""

from __future__ import annotations

import io
from datetime import datetime

import openpyxl
from PIL import Image

from tests.casekit import START, STREET
from tests.test_workbench_browser import DESK, PHONE, Bench
from weijian.cases.clock import LOCAL

PAGE = "/work/ledger?month=2026-02"
# the page has answered what it asked last
LOADED = (
    "window.weijianWork && weijianWork.ledger && weijianWork.ledger.loads > 0 "
    "&& !weijianWork.ledger.loading && weijianWork.pending === 0"
)


def signed_scan(path, pages: int = 1):
    """A real PDF, as a scanner writes one: the signed sheets as images."""
    sheets = [Image.new("RGB", (420, 297), (250, 250, 246)) for _ in range(pages)]
    sheets[0].save(path, "PDF", save_all=True, append_images=sheets[1:], resolution=50)
    return path


def ledger_page(bench: Bench) -> None:
    bench.page.goto(bench.url + PAGE)
    bench.wait(LOADED)


def reloaded(bench: Bench, action) -> None:
    loads = bench.js("weijianWork.ledger.loads")
    action()
    bench.wait("(n) => weijianWork.ledger.loads > n", loads)
    bench.wait(LOADED)


def row(town: str = "220602001") -> str:
    return f"#towns .town-row[data-town='{town}']"


def test_a_clerk_sends_the_district_returns_the_clerk_sends_again(browser, case_api, tmp_path):
    api = case_api
    api.clock.set(datetime(2026, 2, 10, 9, tzinfo=LOCAL))
    number = api.report("town1", STREET, channel="patrol", address="新建街道8号院")["number"]
    api.clock.set(START)  # 2 March: February's ledger is due by 5 March

    clerk = Bench(browser, api.url, "town1", DESK)
    try:
        assert clerk.page.locator("#bar .links a:text-is('台账')").count() == 1
        ledger_page(clerk)
        assert clerk.page.input_value("#month") == "2026-02"
        assert "2026年3月5日" in clerk.text("#due")
        assert clerk.page.locator("#towns").is_hidden()  # a town sees its own ledger only
        assert "新建街道 2026年2月违法建设台账" in clerk.text("#ledger h2")
        assert number in clerk.text("#ledger .ledger-table")
        headers = clerk.page.locator("#ledger th").all_inner_texts()
        assert headers[-1] == "是否超期" and "当事人" in headers and "整改期限" in headers
        # the workbook fit for filing: title, header repeated, landscape on one page's width
        with clerk.page.expect_download() as download:
            clerk.page.click("#ledger .download")
        assert download.value.suggested_filename == "台账-新建街道-2026-02.xlsx"
        saved = tmp_path / download.value.suggested_filename
        download.value.save_as(saved)
        book = openpyxl.load_workbook(saved)
        sheet = book["新增违建"]
        assert sheet["A1"].value == "新建街道新增违建台账（2026年2月）"
        assert sheet["B3"].value == number
        assert sheet.page_setup.orientation == "landscape" and sheet.page_setup.fitToWidth == 1
        assert sheet.print_title_rows == "$1:$2"
        overdue = [sheet.cell(r, 23).value for r in range(3, 3 + 1)]
        assert overdue == ["是"] and sheet.cell(2, 23).value == "是否超期"
        signs = [c.value for c in sheet[5] if c.value]
        assert signs[0] == "填报单位（盖章）：新建街道" and "审核人：" in signs
        assert "本月台账尚未报送" in clerk.text("#history")

        # nothing named yet: the form says so; then the clerk, her chief and the scan
        form = "#send .send-form"
        clerk.page.click(f"{form} .send-button")
        assert clerk.text(f"{form} .form-error") == "请填写填报人的姓名"
        clerk.page.fill(f"{form} input[name=submitter]", "张建国")
        clerk.page.fill(f"{form} input[name=reviewer]", "李明")
        clerk.page.fill(f"{form} textarea[name=note]", "2月台账，已签字盖章")
        clerk.page.set_input_files(
            f"{form} input[name=scan]", str(signed_scan(tmp_path / "台账.pdf"))
        )
        clerk.screenshot("work-ledger-town-form.png")
        reloaded(clerk, lambda: clerk.page.click(f"{form} .send-button"))
        history = clerk.text("#history")
        assert "待审核" in history and "第 1 次报送" in history
        assert "填报人：张建国" in history and "审核人：李明" in history
        # sent: a correction stays possible, folded away
        assert clerk.page.locator("#send details.send-again:not([open])").count() == 1
        clerk.screenshot("work-ledger-town-sent.png")
        clerk.check_clean()
    finally:
        clerk.close()

    # the district returns it: the reason is asked in a dialog, and required
    api.clock.set(datetime(2026, 3, 3, 10, tzinfo=LOCAL))
    district = Bench(browser, api.url, "ue_hj", DESK)
    try:
        ledger_page(district)
        town = district.text(row())
        assert "新建街道" in town and "待审核" in town and "张建国" in town
        assert "逾期未报送" not in district.text(row("220602002"))
        assert "未报送" in district.text(row("220602002"))
        district.page.click(f"{row()} .scan-link")
        district.wait("weijianWork.viewer && weijianWork.viewer.open")
        district.page.keyboard.press("Escape")
        district.page.click(f"{row()} button.return")
        dialog = "#return-dialog"
        assert district.page.locator(dialog).is_visible()
        district.page.click(f"{dialog} .return-confirm")
        assert district.text(f"{dialog} .form-error") == "请填写退回理由"
        district.page.fill(f"{dialog} textarea[name=reason]", "缺少审核人签字，请补签后重新报送")
        assert district.text(f"{dialog} .form-error") == ""  # gone once a reason is written
        district.screenshot("work-ledger-district-return.png")
        reloaded(district, lambda: district.page.click(f"{dialog} .return-confirm"))
        assert not district.page.locator(dialog).is_visible()
        town = district.text(row())
        assert "已退回" in town and "缺少审核人签字" in town
        assert district.page.locator(f"{row()} button.accept").count() == 0
        district.check_clean()
    finally:
        district.close()

    # the clerk, on her phone, reads why and sends it again
    api.clock.set(datetime(2026, 3, 4, 9, tzinfo=LOCAL))
    clerk = Bench(browser, api.url, "town1", PHONE)
    try:
        ledger_page(clerk)
        assert "缺少审核人签字" in clerk.text("#send .returned-note")
        assert clerk.text("#send .send-button") == "重新报送"
        form = "#send .send-form"
        clerk.page.fill(f"{form} input[name=submitter]", "张建国")
        clerk.page.fill(f"{form} input[name=reviewer]", "李明")
        scan = signed_scan(tmp_path / "台账（补签）.pdf", pages=2)
        clerk.page.set_input_files(f"{form} input[name=scan]", str(scan))
        reloaded(clerk, lambda: clerk.page.click(f"{form} .send-button"))
        items = clerk.page.locator("#history .submission").all_inner_texts()
        assert len(items) == 2
        assert "第 2 次报送" in items[0] and "待审核" in items[0]
        assert "已被重新报送取代" in items[1] and "缺少审核人签字" in items[1]
        width = clerk.js("document.documentElement.scrollWidth")
        assert width <= 390, width  # the page fits the phone; only the ledger scrolls sideways
        clerk.screenshot("work-ledger-town-phone.png")
        clerk.check_clean()
    finally:
        clerk.close()

    # the district, on a phone, accepts it
    district = Bench(browser, api.url, "ue_hj", PHONE)
    try:
        ledger_page(district)
        assert "待审核" in district.text(row()) and "第 2 次" in district.text(row())
        reloaded(district, lambda: district.page.click(f"{row()} button.accept"))
        town = district.text(row())
        assert "已接收" in town and "ue_hj-姓名 接收" in town
        assert district.js("document.documentElement.scrollWidth") <= 390
        district.screenshot("work-ledger-district-phone.png")
        district.check_clean()
    finally:
        district.close()
    listed = api.get("/api/v1/ledger/220602001/2026-02/submissions", "town1").json()
    assert listed["state"] == "accepted" and listed["count"] == 2
    assert (
        io.BytesIO(api.get(listed["items"][0]["scan"]["url"], "town1").content).read(5) == b"%PDF-"
    )
