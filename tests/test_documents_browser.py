"""执法文书 on the workbench's case page in headless Chromium on 127.0.0.1: an officer issues a
stop order from the form the page builds (defaults drawn from the case), sees it numbered and
listed, voids it with a reason (shown 已作废, its number kept) and issues it again; at desk size
and at 390 px. Screenshots in .weijian/artifacts/."""

from __future__ import annotations

import io
from pathlib import Path

from openpyxl import load_workbook

from tests.casekit import COMPOUND, PASSWORD
from tests.test_documents import OFFICER, confirmed_case
from weijian.settings import get_settings

ARTIFACTS = get_settings().home / "artifacts"


def test_an_officer_issues_voids_and_reissues_a_stop_order(browser, case_api):
    api = case_api
    number = confirmed_case(api, COMPOUND)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1366, 900), (390, 844)):
        context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
        page.goto(f"{api.url}/work/cases/{number}")
        page.fill("#login input[name=username]", OFFICER)
        page.fill("#login input[name=password]", PASSWORD)
        page.click("#login button[type=submit]")
        page.wait_for_selector(
            "#documents:not([hidden]) #document-kind option[value=stop_order]", state="attached"
        )
        if width == 1366:
            page.select_option("#document-kind", "stop_order")
            assert "城乡规划法" in page.input_value("#doc-legal_basis")
            assert page.input_value("#doc-compliance_days") == "3"
            page.fill("#doc-party", "张三")
            with page.expect_download():
                page.click("#document-issue")
            page.wait_for_selector("#documents-list .document.issued")
            listed = page.inner_text("#documents-list")
            assert "责令停止违法建设通知书" in listed and "停〔2026〕1号" in listed
            assert "有效" in listed and "尚未送达" in listed
            page.click("#documents-list .document.issued button.danger")
            page.fill("#documents-list .inline-form input", "当事人姓名有误")
            page.click("#documents-list .inline-form button[type=submit]")
            page.wait_for_selector("#documents-list .document.voided")
            assert "作废原因：当事人姓名有误" in page.inner_text("#documents-list")
            # the case stays stop_ordered: the form offers what that state allows
            page.wait_for_selector(
                "#document-kind option[value=proof_of_service]", state="attached"
            )
        page.locator("#documents").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / f"documents-{width}.png"), full_page=True)
        box = page.locator("#documents").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 1
        # the register of numbers: the voided number kept, marked, and exported to Excel
        page.goto(f"{api.url}/work/documents")
        page.wait_for_selector("#register-list tr.voided")
        row = page.inner_text("#register-list tr.voided")
        assert "停〔2026〕1号" in row and "已作废" in row and number in row
        assert page.locator("#bar a[href='/work/documents']").count() == 1
        page.screenshot(path=str(ARTIFACTS / f"register-{width}.png"), full_page=True)
        if width == 1366:
            with page.expect_download() as download:
                page.click("#register-export")
            sheet = load_workbook(io.BytesIO(Path(download.value.path()).read_bytes())).active
            first = [c.value for c in next(sheet.iter_rows(min_row=3))]
            assert first[1:4] == ["责令停止违法建设通知书", "已作废", number]
            assert first[0].endswith("停〔2026〕1号")
        assert errors == []
        context.close()
    docs = api.get(f"/api/v1/cases/{number}/documents", OFFICER).json()["documents"]
    assert [d["status"] for d in docs] == ["voided"]
