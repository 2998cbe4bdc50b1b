"""Printed patrol maps read back from the PDF: Chinese title, every open case, embedded fonts,
a scale bar true on paper, the visiting order, labels that do not collide, atlases with a cover,
and the same through the API and the CLI."""

from __future__ import annotations

import io
import re

import pytest
from pypdf import PdfReader

from tests.casekit import COMPOUND, RED_FLAG, STREET
from weijian.cases.service import CaseService
from weijian.db.engine import app_engine_for
from weijian.errors import InputError
from weijian.jurisdiction.snapshot import SnapshotHolder
from weijian.patrol import layout, render
from weijian.patrol import service as patrol

COMMUNITY = "220602001001"  # 东山社区: the square km at the city's corner
SPOTS = [(0.3, 0.3), (0.8, 0.2), (0.5, 0.7), (0.15, 0.85), (0.9, 0.9), (0.62, 0.41)]


def pdf(response_or_bytes) -> PdfReader:
    content = getattr(response_or_bytes, "content", response_or_bytes)
    assert content[:5] == b"%PDF-"
    return PdfReader(io.BytesIO(content))


def text_of(reader: PdfReader) -> str:
    return "\n".join(page.extract_text() for page in reader.pages)


def runs(page) -> list[tuple[str, float, float]]:
    found = []

    def visit(text, cm, tm, font, size):
        if text.strip():
            x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
            y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            found.append((text, x, y))

    page.extract_text(visitor_text=visit)
    return found


@pytest.fixture
def cases_on_patrol(case_api):
    """Open cases in 东山社区, one overdue, one backlog, and one closed."""
    api = case_api
    numbers = [
        api.report("town1", spot, channel="patrol", address=f"东山社区{i + 1}号楼")["number"]
        for i, spot in enumerate(SPOTS)
    ]
    backlog = api.report("town1", (0.4, 0.55), channel="patrol", track="backlog")["number"]
    closed = api.report("town1", (0.7, 0.75), channel="patrol")["number"]
    api.clock.advance(hours=2)
    photo = api.photo("ue_hj", closed)
    api.act("ue_hj", closed, "site_visit", evidence=[photo])
    api.act("ue_hj", closed, "dismiss", note="临时堆放，非违建")
    for number in numbers[1:]:
        photo = api.photo("ue_hj", number)
        api.act("ue_hj", number, "site_visit", evidence=[photo])
    api.clock.advance(days=2)  # numbers[0] was never visited: overdue now
    return {"open": [*numbers, backlog], "overdue": numbers[0], "closed": closed}


def test_grid_page_reads_back(case_api, cases_on_patrol):
    r = case_api.get(f"/api/v1/patrol-maps/grids/{COMMUNITY}.pdf", "town1")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    reader = pdf(r)
    text = text_of(reader)
    assert "东山社区违法建设巡查图" in text
    for number in cases_on_patrol["open"]:
        assert number in text
    assert cases_on_patrol["closed"] not in text
    assert "新建街道" in text and "江山花园" in text  # the chain and the sub-grid
    assert "李强" in text and "13904390004" in text  # the community's responsible person
    assert "在办案件一览（共 7 件" in text
    # fonts: every font is embedded, and it is the simplified-Chinese face
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descendant = font.get("/DescendantFonts")
            descriptor = (descendant[0].get_object() if descendant else font)["/FontDescriptor"]
            descriptor = descriptor.get_object()
            assert any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3"))
            assert "NotoSansCJKsc" in str(font["/BaseFont"])
    # the overdue case is listed with its days overdue
    assert re.search(r"超期/天", text)


def _scale_bar(page) -> tuple[float, float, int]:
    """(printed length of the scale bar in mm, its label in metres, the scale)."""
    found = runs(page)
    text = page.extract_text()
    scale = int(re.search(r"比例尺\s*1:(\d+)", text).group(1))
    zero = next(r for r in found if r[0].strip() == "0")
    same_line = [r for r in found if abs(r[2] - zero[2]) < 0.5 and r[1] > zero[1]]
    end = min(same_line, key=lambda r: r[1])
    value = float(end[0].strip().split()[0])
    unit = next(r[0] for r in sorted(same_line, key=lambda r: r[1]) if "米" in r[0])
    metres = value * (1000 if "千米" in unit else 1)
    return (end[1] - zero[1]) * 25.4 / 72, metres, scale


@pytest.mark.parametrize(("paper", "orientation"), [("A4", "portrait"), ("A3", "landscape")])
def test_scale_bar_is_true_on_paper(case_api, cases_on_patrol, paper, orientation):
    r = case_api.get(
        f"/api/v1/patrol-maps/grids/{COMMUNITY}.pdf", "town1", paper=paper, orientation=orientation
    )
    reader = pdf(r)
    page = reader.pages[0]
    width_pt, height_pt = float(page.mediabox.width), float(page.mediabox.height)
    expected = render.PAPERS_MM[paper]
    if orientation == "landscape":
        expected = (expected[1], expected[0])
    assert (
        abs(width_pt * 25.4 / 72 - expected[0]) < 1 and abs(height_pt * 25.4 / 72 - expected[1]) < 1
    )
    printed_mm, label_m, scale = _scale_bar(page)
    on_ground = printed_mm / 1000 * scale
    assert abs(on_ground - label_m) / label_m < 0.02, (printed_mm, label_m, scale)


def _service(case_api, engine) -> CaseService:
    app_engine = app_engine_for(engine.url.render_as_string(hide_password=False))
    return CaseService(app_engine, SnapshotHolder(app_engine), case_api.settings, case_api.clock)


def test_extent_scale_tour_and_labels(case_api, cases_on_patrol, engine):
    service = _service(case_api, engine)
    data = patrol.page_data(service, COMMUNITY, None, "A4", "portrait")
    assert sorted(c.number for c in data.cases) == sorted(cases_on_patrol["open"])
    assert [c.order for c in data.cases] == list(range(1, 8))
    overdue = next(c for c in data.cases if c.number == cases_on_patrol["overdue"])
    assert overdue.overdue and overdue.overdue_days >= 1
    # the visiting order is never longer than nearest neighbour alone
    assert data.tour.length_m <= data.tour.nearest_neighbour_m + 1e-9
    assert sorted(data.tour.order) == list(range(7))

    figures, info = render.render_page(data)
    fw, fh = info.frame_mm[2], info.frame_mm[3]
    ex = info.extent_m
    # the frame's printed size times the scale is exactly the ground it shows
    assert abs(fw / 1000 * info.scale - (ex[2] - ex[0])) / (ex[2] - ex[0]) < 0.02
    assert abs(fh / 1000 * info.scale - (ex[3] - ex[1])) / (ex[3] - ex[1]) < 0.02
    # the whole grid is on the map
    gx0, gy0, gx1, gy1 = data.grid.geom.bounds
    assert ex[0] <= gx0 and ex[1] <= gy0 and ex[2] >= gx1 and ex[3] >= gy1
    # no label overlaps another, and the map does not overlap the table
    fig = figures[0]
    renderer = fig.canvas.get_renderer()
    map_ax = fig.axes[1]
    boxes = [t.get_window_extent(renderer) for t in map_ax.texts if t.get_text().strip()]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b), (a, b)
    table_ax = fig.axes[-1]
    assert not map_ax.get_window_extent(renderer).overlaps(table_ax.get_window_extent(renderer))
    numbers = [t.get_text() for t in map_ax.texts]
    for case in data.cases:
        assert str(case.order) in numbers
    render.close(figures)


def test_a_grid_without_open_cases_still_prints(case_api):
    case_api.report("town2", RED_FLAG, channel="patrol")  # a case in the other street only
    r = case_api.get(f"/api/v1/patrol-maps/grids/{COMMUNITY}.pdf", "supervisor")
    assert r.status_code == 200
    text = text_of(pdf(r))
    assert "东山社区违法建设巡查图" in text and "无在办案件" in text


def test_long_case_lists_continue_on_further_pages(case_api, engine):
    api = case_api
    for i in range(40):
        x, y = 0.05 + (i % 8) * 0.11, 0.05 + (i // 8) * 0.18
        api.report("town1", (x, y), channel="patrol", description=f"第{i + 1}处")
    reader = pdf(
        api.get(f"/api/v1/patrol-maps/grids/{COMMUNITY}.pdf", "town1", orientation="portrait")
    )
    assert len(reader.pages) >= 2
    text = text_of(reader)
    assert "（续表）" in text
    numbers = re.findall(r"HJ-2026-\d{6}", text)
    assert len(set(numbers)) == 40


def test_atlas_has_a_cover_and_a_page_per_grid(case_api, cases_on_patrol, cli, tmp_path):
    r = case_api.get("/api/v1/patrol-maps/districts/220602.pdf", "supervisor", level="town")
    assert r.status_code == 200, r.text
    reader = pdf(r)
    assert len(reader.pages) == 2 + 1  # 新建街道, 红旗街道, and the cover
    cover = reader.pages[0].extract_text()
    assert "浑江区违法建设巡查图集" in cover and "新建街道" in cover and "红旗街道" in cover
    assert "新建街道违法建设巡查图" in reader.pages[1].extract_text()
    assert "红旗街道违法建设巡查图" in reader.pages[2].extract_text()

    out = tmp_path / "图集.pdf"
    result = cli(
        "patrol-map", "--district", "220602", "--level", "town", "--out", out, "--processes", "2"
    )
    assert result.exit_code == 0, result.output
    assert len(PdfReader(out).pages) == 3
    one = tmp_path / "一页.pdf"
    result = cli("patrol-map", "--grid", COMMUNITY, "--paper", "A3", "--out", str(one))
    assert result.exit_code == 0, result.output
    assert "东山社区违法建设巡查图" in text_of(PdfReader(one))
    neither = cli("patrol-map")
    assert neither.exit_code == 2
    assert "二者只能选其一" in neither.output and "give --grid CODE" in neither.output
    assert cli("patrol-map", "--grid", "nope").exit_code == 3


def test_scope_and_bad_requests(case_api):
    api = case_api
    api.report("town1", STREET, channel="patrol")
    api.report("gridder", COMPOUND)
    assert api.get(f"/api/v1/patrol-maps/grids/{COMMUNITY}.pdf", "gridder").status_code == 404
    assert api.get(f"/api/v1/patrol-maps/grids/{COMMUNITY}.pdf", "town2").status_code == 404
    assert api.get("/api/v1/patrol-maps/grids/220602001001001.pdf", "gridder").status_code == 200
    assert api.get(f"/api/v1/patrol-maps/grids/{COMMUNITY}.pdf").status_code == 401
    assert (
        api.get(f"/api/v1/patrol-maps/grids/{COMMUNITY}.pdf", "town1", paper="A5").status_code
        == 422
    )
    missing = api.get("/api/v1/patrol-maps/grids/999.pdf", "supervisor")
    assert missing.status_code == 404
    assert missing.json()["code"] == "grid.not_found"
    assert missing.json()["message"] == "没有代码为“999”的在用网格，请核对网格代码"
    assert missing.json()["detail"] == "no active grid has the code '999'"
    elsewhere = api.get("/api/v1/patrol-maps/districts/220602.pdf", "town1")
    assert elsewhere.status_code == 404
    assert elsewhere.json()["code"] == "district.not_found"
    assert elsewhere.json()["message"].startswith("未找到区县 220602（或不在您的权限范围内）")
    r = api.get("/api/v1/patrol-maps/districts/220602.pdf", "supervisor", level="district")
    assert r.status_code == 422
    unknown = api.get("/api/v1/patrol-maps/districts/999.pdf", "supervisor")
    assert unknown.status_code == 404 and unknown.json()["code"] == "district.not_found"


def test_paper_and_orientation_are_refused_in_chinese():
    with pytest.raises(InputError, match="paper must be A4 or A3") as caught:
        layout.paper_size("A5", "auto", 1.0, 1.0)
    assert caught.value.code == "patrol.paper_invalid"
    assert caught.value.message == "纸张“A5”不支持，请选择 A4 或 A3"
    with pytest.raises(InputError) as caught:
        layout.paper_size("A4", "sideways", 1.0, 1.0)
    assert caught.value.code == "patrol.orientation_invalid"
    assert caught.value.message.startswith("纸张方向“sideways”无效")
    assert caught.value.detail == (
        "orientation must be portrait, landscape or auto, not 'sideways'"
    )
