"""The patrol page's table as one artist of cells: each string where a centred ``Text`` would
put it (in the PDF and in a raster), "$" read back as typed, digits after Latin letters in the
same subset as the rest, font subsets without the tables a PDF never reads, continuation pages
without axes, and a dot line for each kind of case rather than for each case."""

from __future__ import annotations

import io

import numpy as np
from fontTools.ttLib import TTFont
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from pypdf import PdfReader

from tests.test_patrol_render import _page
from weijian.patrol import render
from weijian.patrol.table import Cells
from weijian.text import plain

LINES = ("LJ-2025-000123", "违法建设 彩钢棚", "已上报待核查", "12-05 14:30", "7")


def _figure(as_cells: bool) -> Figure:
    """The same strings at the same points, as Cells or as one centred Text each."""
    render._font_ready()
    fig = Figure(figsize=(3, 2))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    points = [(5 + 3 * i, 90 - 18 * i) for i in range(len(LINES))]
    if as_cells:
        cells = [(x, y, line, "black") for (x, y), line in zip(points, LINES, strict=True)]
        ax.add_artist(Cells(cells, ax.transData, FontProperties(size=9), "center"))
    else:
        for (x, y), line in zip(points, LINES, strict=True):
            ax.text(x, y, line, fontsize=9, va="center")
    return fig


def _origins(fig: Figure) -> dict[str, tuple[float, float]]:
    """Where each string starts on the PDF page: its text matrix times the page's matrix."""
    buffer = io.BytesIO()
    with PdfPages(buffer) as pdf:
        pdf.savefig(fig)
    found: dict[str, tuple[float, float]] = {}

    def visit(text, cm, tm, _font, _size):
        if text.strip() and text.strip() not in found:
            x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
            y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            found[text.strip()] = (x, y)

    PdfReader(buffer).pages[0].extract_text(visitor_text=visit)
    return found


def test_cells_start_where_a_centred_text_starts_in_the_pdf():
    cells, texts = _origins(_figure(True)), _origins(_figure(False))
    assert set(cells) == set(texts) == set(LINES)
    for line in LINES:
        (cx, cy), (tx, ty) = cells[line], texts[line]
        assert abs(cx - tx) < 0.01 and abs(cy - ty) < 0.01, (line, cells[line], texts[line])


def _lines_of_ink(fig: Figure) -> list[tuple[int, int, int, int]]:
    """(top, bottom, left, right) in pixels of each band of rows that has ink, drawn by Agg."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    ink = (np.asarray(canvas.buffer_rgba())[..., :3] < 128).any(axis=2)
    rows = np.nonzero(ink.any(axis=1))[0]
    breaks = np.nonzero(np.diff(rows) > 1)[0]
    bands = []
    for top, bottom in zip([rows[0], *rows[breaks + 1]], [*rows[breaks], rows[-1]], strict=True):
        columns = np.nonzero(ink[top : bottom + 1].any(axis=0))[0]
        bands.append((int(top), int(bottom), int(columns[0]), int(columns[-1])))
    return bands


def test_cells_draw_as_centred_texts_in_a_raster():
    cells, texts = _lines_of_ink(_figure(True)), _lines_of_ink(_figure(False))
    assert len(cells) == len(texts) == len(LINES)
    # the same ink within a pixel: a Text centres on its ink where that reaches below the
    # font's descender (a few hundredths of a pixel for Chinese), the cells on the font's box
    for cell, text in zip(cells, texts, strict=True):
        assert all(abs(a - b) <= 1 for a, b in zip(cell, text, strict=True)), (cell, text)


def test_a_dollar_reads_back_as_typed_and_digits_are_one_subset():
    data = _page(60)
    data.cases[0].address = plain("造价$100元 临时棚")
    content, _ = render.page_pdf(data)
    reader = PdfReader(io.BytesIO(content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "造价$100元" in text and "\\$" not in text
    faces: dict[str, set] = {}
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            name = str(font.get_object()["/BaseFont"])
            faces.setdefault(name.split("+", 1)[-1], set()).add(name)
    # "违建〔2026〕1000号" and the dates, digits after Chinese and after Latin letters alike
    assert {face: len(names) for face, names in faces.items()} == {
        "NotoSansCJKsc-Regular": 1,
        "NotoSansCJKsc-Bold": 1,
    }


def test_embedded_subsets_carry_no_layout_tables():
    content, _ = render.page_pdf(_page(20))
    reader = PdfReader(io.BytesIO(content))
    seen = 0
    for font in reader.pages[0]["/Resources"]["/Font"].values():
        descriptor = font.get_object()["/DescendantFonts"][0].get_object()["/FontDescriptor"]
        stream = descriptor.get("/FontFile2") or descriptor.get("/FontFile3")
        embedded = TTFont(io.BytesIO(stream.get_object().get_data()))
        tables = set(embedded.keys())
        # the glyphs (as TrueType outlines, patrol/fonts.py · as_truetype) and their map
        assert "glyf" in tables and "cmap" in tables and "CFF " not in tables
        assert not tables & {"GSUB", "GPOS", "GDEF", "BASE", "VORG", "vhea", "vmtx"}
        assert embedded["maxp"].numGlyphs < 1000  # a subset, not the collection's 65,535
        seen += 1
    assert seen == 2  # regular and bold


def test_continuation_pages_have_no_axes_and_dots_are_one_line_a_kind():
    data = _page(150)
    for n, case in enumerate(data.cases):
        case.state, case.state_label = ("reported", "待核查") if n % 2 else ("filed", "已立案")
    figures, info = render.render_page(data)
    assert info.pages == len(figures) > 2
    assert all(not fig.axes for fig in figures[1:])
    for fig in figures[1:]:  # each still has its title, its table and its footer
        drawn = [t for a in fig.artists if isinstance(a, Cells) for t in a.get_texts()]
        assert any("（续表）" in t for t in drawn) and any("网格责任人" in t for t in drawn)
    map_ax = figures[0].axes[1]
    dots = [line for line in map_ax.lines if line.get_marker() not in (None, "None", "")]
    kinds = {(c.state, c.overdue) for c in data.cases}
    assert 2 <= len(dots) - 1 <= len(kinds)  # the start's square is a line of its own
    assert sum(len(line.get_xdata()) for line in dots) == len(data.cases) + 1
    render.close(figures)
