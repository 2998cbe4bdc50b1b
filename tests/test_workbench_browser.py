"""The workbench's case page end to end in headless Chromium, over the app served on 127.0.0.1
by the test: an officer's site visit with a photo from disk, the confirmation and the stop
order with a PDF; a parallel change answered by a 409 that says who changed the case while
what was typed stays; a natural-resources officer's determination on a form that a loaded
workflow has given an extra field; a phone-sized officer's site visit. Nothing is requested
from anywhere but 127.0.0.1. Screenshots are saved in .weijian/artifacts/."""

from __future__ import annotations

import re
from pathlib import Path

from tests.casekit import COMPOUND, FARMLAND, PASSWORD, load_workflow, site_photo
from tests.test_evidence import PDF
from weijian.cases.workflow import default_document
from weijian.settings import get_settings

ARTIFACTS = get_settings().home / "artifacts"
DESK = {"viewport": {"width": 1400, "height": 900}}
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
}
# the page has answered everything it asked, thumbnails included
SETTLED = (
    "window.weijianWork && weijianWork.ready && weijianWork.pending === 0 && !weijianWork.thumbs"
)


class Bench:
    """One logged-in workbench tab, with every request it made."""

    def __init__(self, browser, url: str, who: str, device: dict):
        self.url = url
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.context = browser.new_context(locale="zh-CN", **device)
        self.page = self.context.new_page()
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(url + "/work")
        self.page.wait_for_selector("#login input[name=username]", state="visible")
        self.page.fill("#login input[name=username]", who)
        self.page.fill("#login input[name=password]", PASSWORD)
        self.page.click("#login button[type=submit]")
        self.page.wait_for_function("window.weijianWork && weijianWork.ready")

    def open(self, number: str) -> None:
        self.page.goto(f"{self.url}/work/cases/{number}")
        self.wait(f"weijianWork.case && weijianWork.case.number === '{number}'")
        self.settle()

    def wait(self, expression: str, arg=None, timeout: float = 20000) -> None:
        self.page.wait_for_function(expression, arg=arg, timeout=timeout)

    def settle(self) -> None:
        self.wait(SETTLED)

    def js(self, expression: str, arg=None):
        return self.page.evaluate(expression, arg)

    def text(self, selector: str) -> str:
        return self.page.inner_text(selector)

    def start(self, label: str) -> str:
        """Open the form of the action labelled ``label``: its selector."""
        self.page.click(f"#actions .action-button:text-is('{label}')")
        action = self.page.get_attribute(
            f"#actions .action-button:text-is('{label}')", "data-action"
        )
        form = f"form.action-form[data-action={action}]"
        self.page.wait_for_selector(form, state="visible")
        return form

    def attach(self, form: str, kind: str, *paths: Path) -> None:
        self.page.set_input_files(
            f"{form} input[type=file][data-kind={kind}]", [str(p) for p in paths]
        )

    def submit(self, form: str, state_label: str) -> None:
        renders = self.js("weijianWork.renders")
        self.page.click(f"{form} button.submit")
        self.wait("(n) => weijianWork.renders > n", renders)
        self.wait("(s) => weijianWork.case.state_label === s", state_label)
        self.settle()
        assert self.text("#state") == state_label

    def event(self, action: str) -> str:
        return f"#timeline .event[data-action={action}]"

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / name
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def check_clean(self) -> None:
        # over the network (the browser's own PDF viewer loads chrome:// pages, locally)
        sent = [u for u in self.requests if u.startswith(("http:", "https:", "ws:", "wss:"))]
        foreign = [u for u in sent if not u.startswith(self.url + "/")]
        assert foreign == [], foreign
        assert self.errors == [], self.errors

    def close(self) -> None:
        self.context.close()


def files(tmp_path: Path, case: dict) -> tuple[Path, Path, Path]:
    """A site photo, a second one and a stop order as a user keeps them on disk."""
    first, second, order = (
        tmp_path / "现场核查.jpg",
        tmp_path / "拆除后.jpg",
        tmp_path / "责令停止通知书.pdf",
    )
    first.write_bytes(site_photo(case["lon"], case["lat"], taken="2026:03:02 09:20:00"))
    second.write_bytes(site_photo(case["lon"], case["lat"], taken="2026:03:02 09:40:00"))
    order.write_bytes(PDF + "责令停止违法建设通知书".encode())
    return first, second, order


def test_an_officer_works_a_case_at_his_desk(browser, case_api, tmp_path):
    api = case_api
    case = api.report("gridder", COMPOUND, description="楼顶在建彩钢房，约30平方米")
    number = case["number"]
    api.photo("gridder", number)  # the grid worker's report photo
    photo, demolished, order = files(tmp_path, case)
    bench = Bench(browser, api.url, "ue_hj", DESK)
    try:
        bench.open(number)
        assert bench.text("#state") == "已上报待核查"
        assert bench.js("document.getElementById('countdown').dataset.code") == "site_visit"
        assert bench.text("#countdown .countdown-left").startswith("剩余 23小时")
        assert "ue_hj-姓名" in bench.text("#bar") and "城管执法部门" in bench.text("#bar")
        assert "浑江区城市管理行政执法局" in bench.text("#jurisdiction")
        assert "城市化管理区域由城管执法部门负责" in bench.text("#jurisdiction")
        assert "江山花园" in bench.text("#jurisdiction") and "东山社区" in bench.text(
            "#jurisdiction"
        )
        bench.wait("weijianWork.map.tiles.zones > 0 && weijianWork.map.tiles.grids > 0")

        # the site visit: a photo from disk, a note, the state changes and the file is named
        form = bench.start("现场核查")
        assert "须为本部门在上报后到现场新拍摄的照片" in bench.text(form)
        bench.page.click(f"{form} button.submit")  # nothing given yet: the form says what
        assert "请上传至少 1 张照片" in bench.text(f"{form} .form-error")
        bench.attach(form, "photo", photo)
        assert bench.page.locator(f"{form} .slot-file img.file-preview").count() == 1
        bench.page.fill(f"{form} textarea[name=note]", "现场核查属实，楼顶在建彩钢房约30平方米")
        bench.screenshot("work-case-desk-form.png")
        bench.submit(form, "已现场核查")
        visit = bench.event("site_visit")
        assert "现场核查属实" in bench.text(visit) and "ue_hj-姓名 · 城管执法部门" in bench.text(
            visit
        )
        assert "现场核查.jpg" in bench.text(visit) and "照片" in bench.text(visit)
        bench.wait(f"document.querySelector('{visit} img.thumb').naturalWidth > 0")
        assert "ue_hj-姓名（城管执法部门）上传于 2026年3月2日 09:00" in bench.text(visit)
        # the uploads: the grid worker's photo with its card, the officer's named for the visit
        uploads = bench.page.locator(bench.event("add_evidence")).all_inner_texts()
        assert "现场.jpg" in uploads[0] and "gridder-姓名（网格员）上传于" in uploads[0]
        assert "现场核查.jpg" in uploads[1] and "用于“现场核查”" in uploads[1]
        # the deadline of the visit is met; the countdown is the disposal's now (30 days)
        assert bench.text("#deadlines [data-code=site_visit]").count("按时") == 1
        assert bench.page.get_attribute("#countdown", "data-code") == "disposal"
        assert "30日内处置销号" in bench.text("#countdown")
        deadlines = api.case("ue_hj", number)["deadlines"]
        assert [(d["code"], d["status"]) for d in deadlines] == [
            ("site_visit", "met"),
            ("disposal", "pending"),
        ]

        # the photo large, then closed with Esc
        bench.page.click(f"{visit} .thumb-button")
        bench.wait("weijianWork.viewer.open && weijianWork.viewer.loaded")
        assert bench.text("#viewer .viewer-title").startswith("现场核查.jpg")
        bench.page.keyboard.press("Escape")
        bench.wait("!weijianWork.viewer.open")

        # confirmed, then the stop order with its document from disk
        bench.submit(bench.start("认定为违法建设"), "已认定违建")
        # the stop order with its compliance period: the countdown moves to that period
        form = bench.start("责令停止违法建设")
        assert (
            bench.page.get_attribute(f"{form} input[name=field-compliance_days]", "type")
            == "number"
        )
        bench.page.fill(f"{form} input[name=field-compliance_days]", "7")
        bench.attach(form, "document", order)
        bench.submit(form, "已责令停止")
        assert "责令停止整改期限" in bench.text("#deadlines [data-code=compliance]")
        assert bench.page.get_attribute("#countdown", "data-code") == "compliance"
        # seven days from the order, counted down from the server's time (seconds go by)
        assert re.search(r"剩余 (7天|6天23小时)", bench.text("#countdown"))
        compliance = next(
            d for d in api.case("ue_hj", number)["deadlines"] if d["code"] == "compliance"
        )
        assert compliance["status"] == "pending"
        stop = bench.event("stop_order")
        assert "责令停止通知书.pdf" in bench.text(stop) and "文书" in bench.text(stop)
        bench.page.click(f"{stop} .doc-button")
        bench.wait("weijianWork.viewer.open && weijianWork.viewer.kind === 'document'")
        bench.page.click("#viewer .viewer-close")

        # a colleague assigns the case while the officer fills in the demolition: his submit
        # is refused, the page says who changed the case and keeps what he typed and uploaded
        form = bench.start("拆除续建部分")
        bench.page.check(f"{form} input[name=field-method][value=self]")
        bench.attach(form, "photo", demolished)
        bench.page.fill(f"{form} textarea[name=note]", "当事人已自行拆除续建部分")
        version = api.case("ue_hj2", number)["version"]
        r = api.post(
            f"/api/v1/cases/{number}/assign",
            "ue_hj2",
            json={"username": "ue_hj", "version": version},
        )
        assert r.status_code == 200, r.text
        renders = bench.js("weijianWork.renders")
        bench.page.click(f"{form} button.submit")
        bench.wait("(n) => weijianWork.renders > n && weijianWork.conflict", renders)
        bench.settle()
        notice = bench.text("#notices .notice.warning")
        assert "ue_hj2-姓名（城管执法部门）" in notice and "“指派承办人”" in notice
        assert "您填写的内容和已上传的文件均已保留" in notice
        assert "ue_hj-姓名" in bench.text("#facts")  # reloaded: the assignee shows
        assert bench.page.input_value(f"{form} textarea[name=note]") == "当事人已自行拆除续建部分"
        assert bench.page.is_checked(f"{form} input[name=field-method][value=self]")
        assert bench.text(f"{form} .slot-file .file-status") == "已上传"
        bench.screenshot("work-case-desk-conflict.png")
        bench.submit(form, "已拆除")
        assert "业主自拆" in bench.text(bench.event("demolish_continued"))
        bench.page.click("#notices .notice.warning .notice-close")
        bench.screenshot("work-case-desk.png")
        bench.check_clean()
    finally:
        bench.close()


def test_natural_resources_determines_a_backlog_case_on_the_city_s_own_form(
    browser, case_api, engine, tmp_path
):
    # the city's workflow asks the determination for one more field: the page shows it
    document = default_document()
    document["fields"]["area_checked_m2"] = {"label": "复核面积（平方米）", "number": True}
    for t in document["transitions"]:
        if t["action"] == "determine":
            t["fields"] = ["disposal", "area_checked_m2"]
    load_workflow(engine, document, "性质认定增加复核面积")
    api = case_api
    case = api.report(
        "supervisor", FARMLAND, track="backlog", channel="media", description="农田上建成的砖房"
    )
    number = case["number"]
    opinion = tmp_path / "处置意见书.pdf"
    opinion.write_bytes(PDF + "处置意见书".encode())
    bench = Bench(browser, api.url, "nr_hj", DESK)
    try:
        bench.open(number)
        assert bench.text("#state") == "已建台账"
        # a backlog case: no site-visit clock, the determination's 15 days instead
        assert bench.page.get_attribute("#countdown", "data-code") == "determination"
        assert "自然资源部门性质认定和处置意见" in bench.text("#countdown")
        form = bench.start("性质认定并出具处置意见")
        assert bench.page.locator(f"{form} input[name=field-disposal]").count() == 3
        assert "复核面积（平方米）" in bench.text(form)
        assert (
            bench.page.get_attribute(f"{form} input[name=field-area_checked_m2]", "type")
            == "number"
        )
        assert "（必填）" in bench.text(f"{form} label.note")
        bench.page.check(f"{form} input[name=field-disposal][value=demolish]")
        bench.page.fill(f"{form} input[name=field-area_checked_m2]", "120.5")
        bench.attach(form, "document", opinion)
        bench.page.fill(f"{form} textarea[name=note]", "占用耕地建房，应予拆除")
        bench.screenshot("work-case-natural-resources-form.png")
        bench.submit(form, "已性质认定")
        done = bench.event("determine")
        assert "处置意见" in bench.text(done) and "拆除" in bench.text(done)
        assert "复核面积（平方米）" in bench.text(done) and "120.5" in bench.text(done)
        assert "处置意见书.pdf" in bench.text(done)
        assert api.case("nr_hj", number)["events"][-1]["data"] == {
            "disposal": "demolish",
            "area_checked_m2": 120.5,
        }
        bench.screenshot("work-case-natural-resources.png")
        bench.check_clean()
    finally:
        bench.close()


def test_an_officer_visits_the_site_with_his_phone(browser, case_api, tmp_path):
    api = case_api
    case = api.report("gridder", COMPOUND)
    number = case["number"]
    photo, _, _ = files(tmp_path, case)
    bench = Bench(browser, api.url, "ue_hj", PHONE)
    try:
        assert bench.page.locator("main#inbox").count() == 1
        assert bench.page.get_attribute("#bar a:text-is('地图')", "href") == "/"
        bench.screenshot("work-home-phone.png")
        bench.open(number)
        width = bench.js("document.documentElement.clientWidth")
        assert width == 390
        form = bench.start("现场核查")
        # the camera opens at once; the form fits the screen: no scrolling sideways
        assert (
            bench.page.get_attribute(f"{form} input[data-kind=photo]", "capture") == "environment"
        )
        box = bench.page.locator(f"{form} button.submit").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width
        assert bench.js("document.documentElement.scrollWidth") <= width
        top = bench.page.locator("#actions").bounding_box()["y"]
        assert top < bench.page.locator("#timeline").bounding_box()["y"]  # what to do first
        assert bench.page.locator("#case-map").bounding_box()["height"] < 250
        bench.attach(form, "photo", photo)
        bench.page.fill(f"{form} textarea[name=note]", "已到现场核查")
        bench.screenshot("work-case-phone-form.png")
        bench.submit(form, "已现场核查")
        assert "现场核查.jpg" in bench.text(bench.event("site_visit"))
        assert bench.js("document.documentElement.scrollWidth") <= width
        bench.screenshot("work-case-phone.png")
        bench.check_clean()
    finally:
        bench.close()


def test_a_report_near_an_open_case_names_it_as_a_possible_duplicate(browser, case_api):
    api = case_api
    first = api.report("gridder", COMPOUND, description="楼顶在建彩钢房")
    second = api.report("gridder", COMPOUND, description="同一处楼顶彩钢房")
    assert [d["number"] for d in second["possible_duplicates"]] == [first["number"]]
    bench = Bench(browser, api.url, "ue_hj", DESK)
    try:
        bench.open(second["number"])
        # the report's event keeps the number only: both the flag and the timeline name it
        assert f"疑似重复（{first['number']}）" in bench.text("#summary .chips")
        report = bench.text(bench.event("report"))
        assert first["number"] in report and "undefined" not in report
        bench.check_clean()
    finally:
        bench.close()
