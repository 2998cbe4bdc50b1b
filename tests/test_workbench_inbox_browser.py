"""The workbench's inbox (待办箱) and the case page's desk (派遣, 督办, 关注) end to end in
headless Chromium, over the app served on 127.0.0.1 by the test: a leader dispatches a case to
an officer, who finds it under 我的案件; a supervisor's urge is answered by the holder; an
officer opens his case from the inbox and works it; two districts and two towns each see only
their own; the inbox on a phone. Screenshots are saved in .weijian/artifacts/."""

from __future__ import annotations

from datetime import timedelta

from tests.casekit import COMPOUND, JIANGYUAN, RED_FLAG, STREET
from tests.test_inbox import _add_leader
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


def open_row(bench: Bench, number: str) -> None:
    """A click on the inbox's row of case ``number``: its page, settled."""
    bench.page.click(f"#inbox .inbox-row[data-number='{number}'] .case-link")
    bench.wait(f"window.weijianWork && weijianWork.case && weijianWork.case.number === '{number}'")
    bench.wait("weijianWork.desk && weijianWork.desk.loads > 0")
    bench.settle()


def changed(bench: Bench, action, expression: str, arg=None) -> None:
    """``action`` done, then the case page rendered again until ``expression`` holds."""
    renders = bench.js("weijianWork.renders")
    action()
    bench.wait("(n) => weijianWork.renders > n", renders)
    bench.wait(expression, arg)
    bench.settle()


def test_a_leader_dispatches_a_case_to_an_officer(browser, case_api):
    api = case_api
    _add_leader(api)
    number = api.report("town1", STREET, channel="patrol", address="新建街道88号")["number"]
    leader = Bench(browser, api.url, "lead_hj", DESK)
    try:
        assert number in home(leader)["items"]
        assert "新建街道88号" in leader.text(f"#inbox .inbox-row[data-number='{number}']")
        open_row(leader, number)
        leader.wait("weijianWork.desk.officers && weijianWork.desk.officers.length > 0")
        assert "尚未指派承办人" in leader.text("#desk .dispatch")
        options = leader.page.locator("#desk select[name=officer] option").all_inner_texts()
        assert any(o.startswith("ue_hj-姓名（城管执法部门") for o in options), options
        leader.page.select_option("#desk select[name=officer]", "ue_hj")
        changed(
            leader,
            lambda: leader.page.click("#desk .dispatch-form button[type=submit]"),
            "weijianWork.case.assignee && weijianWork.case.assignee.name === 'ue_hj-姓名'",
        )
        assert leader.text("#desk .assignee-now b") == "ue_hj-姓名"
        assert leader.text("#desk .dispatch-form button[type=submit]") == "改派"
        leader.wait("weijianWork.desk.officers.some((o) => o.open_cases === 1)")
        assert "ue_hj-姓名" in leader.text("#facts")
        event = leader.event("assign")
        assert "指派承办人" in leader.text(event) and "ue_hj-姓名" in leader.text(event)
        assert "王队长 · 部门负责人" in leader.text(event)
        leader.screenshot("work-case-dispatch.png")
        leader.check_clean()
    finally:
        leader.close()
    officer = Bench(browser, api.url, "ue_hj", DESK)
    try:
        home(officer)
        reload_after(officer, lambda: officer.page.check("#inbox input[name=mine]"))
        assert "mine=1" in officer.page.url
        assert rows(officer) == [number]
        assert "承办人：ue_hj-姓名" in officer.text(f"#inbox .inbox-row[data-number='{number}']")
        officer.page.reload()  # the address keeps the filter
        officer.wait(LOADED)
        assert officer.page.is_checked("#inbox input[name=mine]") and rows(officer) == [number]
        officer.screenshot("work-inbox-mine.png")
        officer.check_clean()
    finally:
        officer.close()


def test_a_supervisor_s_urge_is_answered_by_the_holder(browser, case_api):
    api = case_api
    number = api.report("town1", STREET, channel="patrol")["number"]
    supervisor = Bench(browser, api.url, "supervisor", DESK)
    try:
        page = home(supervisor)  # no 待办 at a supervisor's desk: it opens on 督办
        assert page["tab"] == "urged" and page["items"] == []
        assert supervisor.page.locator("#inbox .inbox-tab[data-tab=todo]").count() == 0
        assert "没有待答复的督办" in supervisor.text("#inbox .inbox-status")
        supervisor.open(number)
        assert "本案暂无督办" in supervisor.text("#desk")
        # the reply is due tomorrow 17:00 (Beijing) unless the supervisor says otherwise
        assert supervisor.page.input_value("#desk input[name=reply-due]") == "2026-03-03T17:00"
        supervisor.page.fill("#desk textarea[name=urge-note]", "请今日内完成现场核查并反馈")
        changed(
            supervisor,
            lambda: supervisor.page.click("#desk .urge-form button[type=submit]"),
            "weijianWork.desk.urges && weijianWork.desk.urges.length === 1",
        )
        urge = supervisor.text("#desk .urge")
        assert "请今日内完成现场核查并反馈" in urge and "待答复" in urge
        assert "答复期限 2026年3月3日 17:00" in urge
        assert supervisor.page.locator("#desk .answer-form").count() == 0
        supervisor.page.click("#summary .follow-button")
        supervisor.wait("weijianWork.desk.followed === true && weijianWork.pending === 0")
        assert "已关注" in supervisor.text("#summary .follow-button")
        # the supervisor dispatches from the list of the holding department's officers
        supervisor.wait("weijianWork.desk.officers && weijianWork.desk.officers.length > 0")
        supervisor.page.select_option("#desk select[name=officer]", "ue_hj")
        changed(
            supervisor,
            lambda: supervisor.page.click("#desk .dispatch-form button[type=submit]"),
            "weijianWork.case.assignee && weijianWork.pending === 0",
        )
        assert "ue_hj-姓名" in supervisor.text("#desk .assignee-now b")
        supervisor.check_clean()
    finally:
        supervisor.close()

    officer = Bench(browser, api.url, "ue_hj", DESK)
    try:
        home(officer)
        reload_after(officer, lambda: officer.page.click("#inbox .inbox-tab[data-tab=urged]"))
        assert inbox(officer)["tab"] == "urged" and "tab=urged" in officer.page.url
        assert officer.text("#inbox .inbox-tab[data-tab=urged] .tab-count") == "1"
        row = f"#inbox .inbox-row[data-number='{number}']"
        assert rows(officer) == [number]
        assert officer.text(f"{row} .urge-chip") == "督办 · 3月3日 17:00前答复"
        officer.screenshot("work-inbox-urged.png")
        open_row(officer, number)
        officer.page.fill("#desk .answer-form textarea", "已安排今日下午到场核查")
        changed(
            officer,
            lambda: officer.page.click("#desk .answer-form button[type=submit]"),
            "weijianWork.desk.urges[0].answered_at && weijianWork.pending === 0",
        )
        assert "已安排今日下午到场核查" in officer.text("#desk .urge-answer")
        assert officer.page.locator(officer.event("answer_urge")).count() == 1
        officer.check_clean()
    finally:
        officer.close()

    supervisor = Bench(browser, api.url, "supervisor", DESK)
    try:
        supervisor.open(number)
        supervisor.wait("weijianWork.desk.urges && weijianWork.desk.followed !== null")
        supervisor.settle()
        answer = supervisor.text("#desk .urge-answer")
        assert "已安排今日下午到场核查" in answer and "ue_hj-姓名" in answer
        assert "已按时答复" in supervisor.text("#desk .urge")
        assert "已关注" in supervisor.text("#summary .follow-button")
        supervisor.screenshot("work-case-urge-answered.png")
        page = home(supervisor, "?tab=followed")
        assert page["tab"] == "followed" and page["items"] == [number]
        supervisor.check_clean()
    finally:
        supervisor.close()


def test_the_officer_opens_his_case_from_the_inbox(browser, case_api):
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
        assert bench.text("#state") == "已上报待核查"
        # worked on (the case page's own test has him do it there): the row moves on
        api.act("ue_hj", number, "site_visit", evidence=[api.photo("ue_hj", number)])
        api.act("ue_hj", number, "confirm")
        doc = api.document("ue_hj", number)
        api.act("ue_hj", number, "stop_order", data={"compliance_days": 5}, evidence=[doc])
        home(bench)
        assert bench.text(f"{row} .stage-label") == "责令停止整改期限"
        assert bench.text(f"{row} .state-cell") == "已责令停止"
        assert bench.text(f"{row} .last-cell").startswith("责令停止违法建设")
        assert bench.text(f"{row} .due-left").startswith(("剩余 4天23小时", "剩余 5天"))
        reload_after(bench, lambda: bench.page.click("#inbox .inbox-tab[data-tab=done]"))
        assert rows(bench) == [number]
        reload_after(bench, lambda: bench.page.fill("#inbox input[name=q]", "没有这个案件"))
        assert rows(bench) == [] and bench.text("#inbox .inbox-status") == "没有符合筛选条件的案件"
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

        # the urged case on the phone: the urge and its answer form fit the screen
        bench.page.click(f"{first} a")
        bench.page.wait_for_url(f"**/work/cases/{made[0]}")
        bench.wait(
            f"window.weijianWork && weijianWork.case && weijianWork.case.number === '{made[0]}'"
        )
        bench.settle()
        bench.page.wait_for_selector("#desk .answer-form", state="visible")
        assert "请尽快核查" in bench.text("#desk .urge-list")
        assert bench.js("document.documentElement.scrollWidth") <= width
        box = bench.page.locator("#desk").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width
        bench.screenshot("work-case-urged-phone.png")
        bench.check_clean()
    finally:
        bench.close()
