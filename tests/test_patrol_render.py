"""A crowded patrol page drawn from page data built in memory: hundreds of distinct Chinese
characters embed each face of the font in one subset (not one per 256 characters), every
address reads back from the PDF, and the table's stripes and rules are one artist each."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import pytest
from matplotlib.collections import LineCollection, PatchCollection
from pypdf import PdfReader
from shapely.geometry import box

from weijian.patrol import fonts, render
from weijian.patrol.labels import Obstacles
from weijian.patrol.layout import frame_for
from weijian.patrol.pages import GridShape, PageCase, PageData, ZoneShape, visiting_order

X0, Y0 = 39_500_000.0, 3_400_000.0
CASES = 120
LETTERS = 6  # distinct characters in each address: 720 in all


def _address(n: int) -> str:
    return "".join(chr(0x4E00 + 20 * (n * LETTERS + i)) for i in range(LETTERS))


def _page(cases: int = CASES) -> PageData:
    grid = GridShape("C1", "幸福社区", "community", box(X0, Y0, X0 + 1500, Y0 + 1800))
    district = GridShape(
        "D1", "城东区", "district", box(X0 - 4000, Y0 - 4000, X0 + 6000, Y0 + 6000)
    )
    children = [
        GridShape(
            f"K{i}",
            f"第{i + 1}小区",
            "compound",
            box(X0, Y0 + 600 * i, X0 + 1500, Y0 + 600 * (i + 1)),
        )
        for i in range(3)
    ]
    neighbour = GridShape("N1", "和平社区", "community", box(X0 + 1500, Y0, X0 + 3000, Y0 + 1800))
    now = datetime(2026, 12, 5, 2, tzinfo=UTC)
    found = []
    for n in range(cases):
        overdue = n % 9 == 0
        found.append(
            PageCase(
                order=0,
                number=f"违建〔2026〕{1000 + n}号",
                address=_address(n),
                description="彩钢棚",
                state="reported",
                state_label="待核查",
                track="main",
                department="城管执法局",
                department_type="urban_enforcement",
                x=X0 + 50 + (n * 37) % 1400,
                y=Y0 + 50 + (n * 53) % 1700,
                due=now + timedelta(days=-2 if overdue else 3),
                overdue_days=2.0 if overdue else 0.0,
                overdue=overdue,
            )
        )
    start = (X0 + 20.0, Y0 + 20.0)
    tour, ordered = visiting_order(start, found)
    minx, miny, maxx, maxy = grid.geom.bounds
    pad = 0.12 * max(maxx - minx, maxy - miny)
    return PageData(
        grid=grid,
        chain=[district],
        district=district,
        district_siblings=[neighbour],
        children=children,
        neighbours=[neighbour],
        zones=[ZoneShape(box(X0 + 100, Y0 + 100, X0 + 400, Y0 + 300), "urban_enforcement", 0)],
        cases=ordered,
        tour=tour,
        start=start,
        responsible=[{"name": "张三", "phone": "13800000000"}],
        layer_versions={"grid_community": 1},
        epsg=4526,
        on=date(2026, 12, 5),
        frame=frame_for("A4", "portrait", (minx - pad, miny - pad, maxx + pad, maxy + pad)),
    )


def test_many_characters_embed_each_face_once_and_read_back():
    data = _page()
    content, info = render.page_pdf(data)
    reader = PdfReader(io.BytesIO(content))
    assert len(reader.pages) == info.pages > 1  # the table continues
    text = "\n".join(page.extract_text() for page in reader.pages)
    for case in data.cases:
        assert case.address in text and case.number in text
    subsets: dict[str, set] = {}
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            name = str(font["/BaseFont"])
            assert "NotoSansCJKsc" in name
            subsets.setdefault(name.split("+", 1)[-1], set()).add(name)
    # 720 distinct characters of the regular face: cut 256 at a time they were four subsets
    # or more, each cut from the whole font collection; now one (and one for the digits the
    # shaper gives their alternate forms)
    assert set(subsets) == {"NotoSansCJKsc-Regular", "NotoSansCJKsc-Bold"}
    assert len(subsets["NotoSansCJKsc-Regular"]) <= 2
    assert len(subsets["NotoSansCJKsc-Bold"]) == 1


def test_table_stripes_and_rules_are_one_artist_each():
    data = _page(30)
    figures, _ = render.render_page(data)
    table = figures[0].axes[-1]  # the table block of the map page
    lines = [c for c in table.collections if isinstance(c, LineCollection)]
    stripes = [c for c in table.collections if isinstance(c, PatchCollection)]
    assert len(lines) == 1 and len(stripes) == 1
    shown = len(lines[0].get_segments())  # a rule under every row drawn on this page
    assert shown > 0 and len(stripes[0].get_paths()) == shown // 2  # every second row striped
    assert not table.lines  # no Line2D a row
    render.close(figures)


class _Forgetful(dict):
    """Remembers no size: every label is made and measured, as before the shortcut."""

    def __setitem__(self, key, value) -> None:
        pass


class _MeasureAll(Obstacles):
    def __init__(self, boxes=None):
        super().__init__(boxes)
        self.least = _Forgetful()


def _placed(data: PageData) -> tuple[int, list]:
    figures, info = render.render_page(data)
    texts = [
        (t.get_text(), t.get_position(), getattr(t, "xyann", None), t.get_ha(), t.get_va())
        for t in figures[0].axes[1].texts
    ]
    render.close(figures)
    return info.labels_dropped, texts, [tuple(b.bounds) for b in info.label_boxes]


def test_labels_skipped_unmeasured_are_those_that_would_find_no_place(monkeypatch):
    data = _page(CASES * 2)  # crowded: most numbers find no place
    quick = _placed(data)
    monkeypatch.setattr(render, "Obstacles", _MeasureAll)
    assert _placed(data) == quick
    assert quick[0] > CASES // 2  # crowded indeed: many labels found no place


def _embedded_fonts(reader: PdfReader) -> dict[str, bytes]:
    found = {}
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            cid = font["/DescendantFonts"][0].get_object()
            assert cid["/Subtype"] == "/CIDFontType2"  # TrueType, as the writer declares it
            descriptor = cid["/FontDescriptor"].get_object()
            found[str(font["/BaseFont"])] = descriptor["/FontFile2"].get_object().get_data()
    return found


def test_the_embedded_fonts_are_truetype_as_declared_and_draw_the_same_glyphs():
    """The writer declares each font TrueType (``FontFile2``); Noto Sans CJK's cubic (CFF)
    outlines are embedded converted, each glyph's box and area within a font unit or so of the
    original's."""
    from fontTools.pens.areaPen import AreaPen
    from fontTools.pens.boundsPen import BoundsPen
    from fontTools.ttLib import TTFont
    from matplotlib import font_manager

    content, _ = render.page_pdf(_page(cases=20))
    embedded = _embedded_fonts(PdfReader(io.BytesIO(content)))
    assert embedded
    for name, data in embedded.items():
        assert data[:4] == b"\x00\x01\x00\x00", name  # not OpenType CFF ("OTTO")
        font = TTFont(io.BytesIO(data))
        assert "glyf" in font and "CFF " not in font
        assert font["maxp"].numGlyphs == len(font.getGlyphOrder()) > 20

    path = font_manager.findfont(font_manager.FontProperties(family="Noto Sans CJK SC"))
    original = TTFont(path, fontNumber=0)
    glyphs = [original.getBestCmap()[ord(c)] for c in "巡查图网格社区违法建设0Ag（）"]
    ids = [original.getGlyphID(g) for g in glyphs]
    with fonts.lean_subset(path, ids) as cut:
        converted = cut.font.getGlyphSet()
        new_ids = cut.glyph_index_map
        order = cut.font.getGlyphOrder()
        for name, old_id in zip(glyphs, ids, strict=True):
            before, after = original.getGlyphSet()[name], converted[order[new_ids[old_id]]]
            boxes = []
            areas = []
            for glyph in (before, after):
                bounds, area = BoundsPen(None), AreaPen(None)
                glyph.draw(bounds)
                glyph.draw(area)
                boxes.append(bounds.bounds)
                areas.append(area.value)
            assert all(abs(a - b) <= 2 for a, b in zip(*boxes, strict=True)), (name, boxes)
            # the same ink, the contours turned the other way round (TrueType's clockwise)
            assert areas[1] == pytest.approx(-areas[0], rel=0.01), (name, areas)
