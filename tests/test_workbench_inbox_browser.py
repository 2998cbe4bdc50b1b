"""The workbench's inbox (待办箱) and the case page's desk (派遣, 督办, 关注) end to end in
headless Chromium, over the app served on 127.0.0.1 by the test: a leader dispatches a case to
an officer, who finds it under 我的案件; a supervisor's urge is answered by the holder; an
officer opens his case from the inbox and works it; two districts and two towns each see only
their own; the inbox on a phone. Screenshots are saved in .weijian/artifacts/."""

from __future__ import annotations

from datetime import timedelta

from tests.casekit import COMPOUND, JIANGYUAN, RED_FLAG, STREET
from tests.test_workbench_browser import DESK, PHONE, Bench

# the inbox has answered what it asked last
LOADED = (
    "window.weijianWork && weijianWork.inbox && weijianWork.inbox.loads > 0 "
    "&& !weijianWork.inbox.loading && weijianWork.pending === 0"
)


def home(bench: Bench, query: str = "") -> dict:
    """The workbench's home page (with ``query``, e.g. "?tab=urged"), its inbox loaded."""
    bench.page.goto(f"{bench.url}/work{query}")
    bench.wait(LOADED)
    return inbox(bench)


def inbox(bench: Bench) -> dict:
    return bench.js(
        "({tab: weijianWork.inbox.tab, counts: weijianWork.inbox.counts, "
        "items: weijianWork.inbox.items.map((i) => i.number)})"
    )


def rows(bench: Bench) -> list[str]:
    """The numbers of the rows the inbox shows."""
    return bench.page.locator("#inbox .inbox-row").evaluate_all(
        "(els) => els.map((e) => e.dataset.number)"
    )


def reload_after(bench: Bench, action) -> None:
    loads = bench.js("weijianWork.inbox.loads")
    action()
    bench.wait("(n) => weijianWork.inbox.loads > n", loads)
    bench.wait(LOADED)


def test_the_officer_opens_his_case_from_the_inbox(browser, case_api, tmp_path):
    api = case_api
    case = api.report("gridder", COMPOUND, description="楼顶在建彩钢房，约30平方米")
    number = case["number"]
    bench = Bench(browser, api.url, "ue_hj", DESK)
    try:
        listed = home(bench)
        assert listed["tab"] == "todo" and listed["items"] == [number]
        assert rows(bench) == [number]
        row = f"#inbox .inbox-row[data-number='{number}']"
        assert bench.text(f"{row} .stage-label") == "上报后1日内现场核查"
        assert bench.text(f"{row} .due-left").startswith(("剩余 23小时", "剩余 1天"))
        assert "江山花园" in bench.text(row) or "楼顶在建彩钢房" in bench.text(row)
        assert "未指派" in bench.text(row) and "已上报待核查" in bench.text(row)
        assert bench.text("#inbox .inbox-tab[data-tab=todo] .tab-count") == "1"
        bench.screenshot("work-inbox-desk.png")
        bench.page.click(f"{row} .stage-label")
        bench.wait(
            f"window.weijianWork && weijianWork.case && weijianWork.case.number === '{number}'"
        )
        bench.settle()
        assert bench.page.url.endswith(f"/work/cases/{number}")
        bench.check_clean()
    finally:
        bench.close()


def test_each_desk_sees_only_its_own_cases(browser, case_api):
    api = case_api
    street = api.report("town1", STREET, channel="patrol")["number"]  # 浑江区 城管
    red = api.report("town2", RED_FLAG, channel="patrol")["number"]  # 红旗街道
    jiangyuan = api.report("cg_jy", JIANGYUAN, channel="patrol")["number"]  # 江源区
    seen = {}
    for who in ("town1", "town2", "ue_hj", "cg_jy"):
        bench = Bench(browser, api.url, who, DESK)
        try:
            home(bench)
            seen[who] = rows(bench)
            assert bench.text("#inbox .inbox-tab[aria-selected=true]").startswith("待办")
            if who == "cg_jy":
                bench.screenshot("work-inbox-other-district.png")
            bench.check_clean()
        finally:
            bench.close()
    assert seen == {"town1": [street], "town2": [red], "ue_hj": [street], "cg_jy": [jiangyuan]}


def test_the_inbox_on_a_phone(browser, case_api):
    api = case_api
    made = [
        api.report("gridder", COMPOUND, description=f"楼顶在建彩钢房 {n} 处")["number"]
        for n in range(1, 4)
    ]
    api.clock.advance(days=2)  # the site visits are overdue
    due = (api.clock.now() + timedelta(days=1)).isoformat()
    r = api.post(
        f"/api/v1/cases/{made[0]}/urges",
        "supervisor",
        json={"note": "请尽快核查", "reply_due": due},
    )
    assert r.status_code == 201, r.text
    bench = Bench(browser, api.url, "ue_hj", PHONE)
    try:
        listed = home(bench)
        assert listed["items"] == made and listed["counts"]["urged"] == 1
        width = bench.js("document.documentElement.clientWidth")
        assert width == 390
        assert bench.js("document.documentElement.scrollWidth") <= width
        for tab in bench.page.locator("#inbox .inbox-tab").all():
            box = tab.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= width
        for row in bench.page.locator("#inbox .inbox-row").all():
            box = row.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= width
            assert "已超期" in row.inner_text()
        first = f"#inbox .inbox-row[data-number='{made[0]}']"
        assert "督办" in bench.text(f"{first} .urge-chip")
        assert bench.js(f'document.querySelector("{first} .due-left").dataset.level') == "missed"
        bench.screenshot("work-inbox-phone.png")
        bench.check_clean()
    finally:
        bench.close()
