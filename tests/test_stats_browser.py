"""The dashboard (统计) in headless Chromium: the city supervisor's page for March — totals,
charts and ranking tables as the API answers them; printed to an A4 landscape PDF for the
meeting and read back (scope, period, date, the totals' row and the ranking in the API's
order, the definitions); a table exported as xlsx; a row leading to its grid on the map; a
district's officer seeing only his district; the page on a phone. Screenshots and the PDF are
saved in .weijian/artifacts/."""

from __future__ import annotations

import re
from unicodedata import normalize

from openpyxl import load_workbook
from pypdf import PdfReader

from tests.casekit import HJ, TOWN1
from tests.test_workbench_browser import ARTIFACTS, PHONE, Bench
from tests.test_workbench_inbox_browser import LOADED as INBOX_LOADED

DESK = {"viewport": {"width": 1366, "height": 900}}
LOADED = (
    "window.weijianWork && weijianWork.ready && weijianWork.stats "
    "&& weijianWork.stats.loads > 0 && !weijianWork.stats.loading && weijianWork.pending === 0"
)


def open_stats(bench: Bench, query: str = "") -> dict:
    bench.page.goto(f"{bench.url}/work/stats{query}")
    bench.wait(LOADED)
    return bench.js("weijianWork.stats.data")


def numbers(text: str) -> list[str]:
    return re.findall(r"\d+(?:\.\d+)?%?|—", text)


def test_the_supervisors_meeting_export(browser, city, tmp_path):
    api = city.api
    expected = api.get("/api/v1/stats", "supervisor", period="2026-03").json()
    t = expected["totals"]
    towns = expected["tables"]["town"]
    bench = Bench(browser, api.url, "supervisor", DESK)
    try:
        shown = open_stats(bench, "?period=2026-03")
        assert shown["totals"] == t
        assert bench.page.locator("#bar .links a", has_text="统计").count() == 1
        assert bench.text("#head-scope") == "全市"
        assert "2026年3月" in bench.text("#head-period")
        # the month picked from a list in Chinese, this month first
        options = bench.page.locator("select[name=month] option").all_inner_texts()
        assert options[0].startswith("2026年3月") and "2026年2月" in options
        bench.page.select_option("select[name=month]", "2026-02")
        loads = bench.js("weijianWork.stats.loads")
        bench.page.click("button[type=submit]")
        bench.wait(f"weijianWork.stats.loads > {loads} && !weijianWork.stats.loading")
        assert bench.js("weijianWork.stats.data.period.from") == "2026-02-01"
        shown = open_stats(bench, "?period=2026-03")
        assert bench.text(".tile[data-key=reported] .tile-value") == str(t["reported"])
        assert bench.text(".tile[data-key=clear_percent] .tile-value") == "25.0%"
        rows = bench.page.locator(".ranking[data-level=town] tbody tr")
        assert rows.evaluate_all("(rs) => rs.map((r) => r.dataset.code)") == [
            r["code"] or "" for r in towns
        ]
        assert bench.js("Chart.instances && Object.keys(Chart.instances).length") == 2
        # 按清零进度: the lagging town last
        bench.page.click(".ranking[data-level=town] button[data-sort=clear]")
        order = rows.evaluate_all("(rs) => rs.map((r) => r.dataset.code)")
        by_clear = sorted(towns, key=lambda r: (r["clear_rank"] is None, r["clear_rank"] or 0))
        assert order == [r["code"] or "" for r in by_clear]
        bench.page.click(".ranking[data-level=town] button[data-sort=score]")
        bench.screenshot("stats-desk.png")

        # the meeting's copy: A4 landscape, read back
        pdf = ARTIFACTS / "stats-meeting.pdf"
        bench.page.emulate_media(media="print")
        bench.page.pdf(path=str(pdf), format="A4", landscape=True, print_background=True)
        bench.page.emulate_media(media="screen")
        reader = PdfReader(str(pdf))
        box = reader.pages[0].mediabox
        assert float(box.width) > float(box.height)  # landscape
        # NFKC: the PDF's fonts give some characters as Kangxi radicals (⽉ for 月)
        text = normalize("NFKC", "\n".join(page.extract_text() for page in reader.pages))
        for words in ("全市违法建设统计", "范围", "统计期间", "2026年3月", "打印日期", "指标说明"):
            assert words in text, words
        assert "查询" not in text and "导出 Excel" not in text  # no controls on paper
        town_part = text[text.index(normalize("NFKC", "镇（街道）排名")) :]
        at = 0
        for r in towns:  # the towns in the API's order
            at = town_part.index(normalize("NFKC", r["name"]), at) + 1
        total_line = next(line for line in town_part.splitlines() if line.startswith("合计"))
        assert numbers(total_line)[:7] == [
            str(t["reported"]),
            str(t["signed_off"]),
            str(t["backlog_open"]),
            f"{t['clear_percent']:.1f}%",
            str(t["overdue"]),
            str(t["stalled"]),
            str(t["urges_open"]),
        ]
        # the figures of the first town with a clear-to-zero base, after its name
        shown = next(r for r in towns if r["clear_percent"] is not None)
        first = town_part[town_part.index(normalize("NFKC", shown["name"])) :]
        assert numbers(first)[:4] == [
            str(shown["reported"]),
            str(shown["signed_off"]),
            str(shown["backlog_open"]),
            f"{shown['clear_percent']:.1f}%",
        ]

        # a table as xlsx, from the page's button
        with bench.page.expect_download() as download:
            bench.page.click(".ranking[data-level=town] button.export")
        saved = tmp_path / download.value.suggested_filename
        download.value.save_as(saved)
        assert saved.name.endswith(".xlsx") and "镇（街道）" in saved.name
        sheet = load_workbook(saved).worksheets[0]
        body = list(sheet.iter_rows(min_row=4, values_only=True))
        assert [row[2] or "" for row in body[:-1]] == [r["code"] or "" for r in towns]
        assert body[-1][0] == "合计" and body[-1][4] == t["reported"]

        # a row to its grid on the map, zoomed to it, its panel with its cases open
        bench.page.click(f".ranking[data-level=town] tr[data-code='{TOWN1}'] td.go a")
        bench.wait(
            "(c) => window.weijianMap && weijianMap.figures && weijianMap.figures.grid.code === c"
            " && weijianMap.gridCases",
            TOWN1,
        )
        assert bench.js("weijianMap.gridCases.total") > 0
        inside = bench.js(
            "(() => { const e = weijianMap.figures.grid.extent;"
            " const c = weijianMap.map.getCenter();"
            " return c.lng > e[0] && c.lng < e[2] && c.lat > e[1] && c.lat < e[3]; })()"
        )
        assert inside
        assert not bench.errors
    finally:
        bench.close()

    # a district's officer: his district only; the page on a phone; a town's overdue cases
    # on his workbench
    phone = Bench(browser, api.url, "nr_hj", PHONE)
    try:
        data = open_stats(phone, "?period=2026-03")
        assert phone.text("#head-scope").startswith("浑江区")
        assert phone.page.locator(".ranking[data-level=district]").count() == 0
        codes = phone.page.locator(".ranking tbody tr").evaluate_all(
            "(rs) => rs.map((r) => r.dataset.code)"
        )
        assert codes and all(c == "" or c.startswith(HJ) for c in codes)
        assert data["totals"]["reported"] == 6
        width = phone.js("document.documentElement.scrollWidth")
        assert width <= 390, "nothing wider than the phone but the tables' own scroll"
        phone.screenshot("stats-phone.png")
        phone.page.click(
            f".ranking[data-level=town] tr[data-code='{TOWN1}'] td[data-key=overdue] a"
        )
        phone.wait(INBOX_LOADED)
        listed = phone.js("weijianWork.inbox.items.map((i) => i.number)")
        assert sorted(listed) == [city.numbers["street_backlog"], city.numbers["street_backlog2"]]
        assert city.numbers["red_flag_backlog"] not in listed  # 红旗街道's
        assert f"grid={TOWN1}" in phone.page.url and "网格" in phone.text(".grid-chip")
        assert not phone.errors
    finally:
        phone.close()
