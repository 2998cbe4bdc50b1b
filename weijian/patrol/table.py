"""The table of cases on a patrol page: fixed columns, a fixed row height, a stripe under every
second row and a rule under each.

A busy grid's table has thousands of cells. Each used to be a matplotlib ``Text``, measured
for its alignment and then laid out again to be drawn; here the cells of a block are one
artist (:class:`Cells`) that hands each string to the renderer once, at the baseline that
centres a line of text on its row — the same place ``va="center"`` gives a ``Text`` of the
font, since every line's box is at least the font's ascender and descender high. What does
not fit its column is cut by arithmetic (:func:`clip`), never by measuring."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import matplotlib as mpl
from matplotlib import colors as mcolors
from matplotlib import font_manager
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_pdf import Op, RendererPdf, pdfRepr
from matplotlib.collections import Collection, LineCollection, PatchCollection
from matplotlib.font_manager import FontPath, FontProperties
from matplotlib.ft2font import LoadFlags
from matplotlib.patches import Rectangle
from matplotlib.text import Text
from matplotlib.transforms import Bbox, BboxTransformFrom, BboxTransformTo, TransformedBbox

from weijian.cases.clock import LOCAL

TABLE_COLUMNS = (
    ("序号", 0.06),
    ("案件编号", 0.2),
    ("地点", 0.21),
    ("状态", 0.14),
    ("办理期限", 0.16),
    ("超期/天", 0.09),
    ("责任部门", 0.14),
)
SHORT_DEPARTMENTS = {
    "urban_enforcement": "城管执法",
    "natural_resources": "自然资源",
    "county_government": "区县政府",
    "agriculture_rural": "农业农村",
}
OVERDUE_TEXT = "#8b0000"


def clip(text: str, width_mm: float, size_pt: float) -> str:
    """Cut ``text`` to what fits in ``width_mm`` at ``size_pt`` (CJK one em, Latin ~0.55)."""
    em = size_pt * 25.4 / 72
    used, out = 0.0, []
    for ch in text:
        w = em if ord(ch) > 0x2E80 else em * 0.56
        if used + w > width_mm - em * 0.6:
            return "".join(out) + "…"
        used += w
        out.append(ch)
    return text


def block_transform(
    fig, block: tuple, width: float, height: float, xlim=(0.0, 1.0), ylim=(0.0, 1.0)
):
    """From a block's own coordinates (``xlim`` × ``ylim``) to the figure's display: what an
    axes with its axis off gives, without making an axes (its axis, ticks and spines)."""
    x, y, w, h = block
    on_page = TransformedBbox(
        Bbox.from_bounds(x / width, y / height, w / width, h / height), fig.transFigure
    )
    own = Bbox.from_extents(xlim[0], ylim[0], xlim[1], ylim[1])
    return BboxTransformFrom(own) + BboxTransformTo(on_page)


def _centre_shift(prop: FontProperties, per_point: float) -> float:
    """From a line's vertical centre down to its baseline, in display units, as ``Text`` lays
    out one line: its box reaches at least the font's typographic ascender and descender."""
    font = font_manager.get_font(font_manager.findfont(prop))
    per_unit = prop.get_size_in_points() * per_point / font.units_per_EM
    table = font.get_sfnt_table("OS/2")
    if table is not None:
        ascent, descent = table["sTypoAscender"], -table["sTypoDescender"]
    else:
        ascent, descent = font.ascender, -font.descender
    return (descent - ascent) / 2 * per_unit


class Cells(Artist):
    """One-line strings in one font, each drawn straight through the renderer from its left
    end: no ``Text`` artist, layout or measuring for each. ``va`` is ``"center"`` (the string
    centred on its y as a ``Text`` would be) or ``"baseline"``."""

    zorder = 3

    def __init__(self, cells: Sequence[tuple[float, float, str, str]], transform, prop, va):
        super().__init__()
        self.cells = [c for c in cells if c[2]]  # (x, y, text, colour); empty ones draw nothing
        self.prop = prop
        self.va = va
        # the text whose language and font features the renderer shapes every string with
        self._model = Text(fontproperties=prop)
        self.set_transform(transform)

    def get_texts(self) -> list[str]:
        return [text for _, _, text, _ in self.cells]

    def draw(self, renderer) -> None:
        if not self.get_visible() or not self.cells:
            return
        renderer.open_group("cells", gid=self.get_gid())
        shift = (
            _centre_shift(self.prop, renderer.points_to_pixels(1.0)) if self.va == "center" else 0
        )
        points = self.get_transform().transform([(x, y) for x, y, _, _ in self.cells])
        # a cell holds plain text (``weijian.text.plain``): "$" is escaped only for mathtext
        placed = [
            (px, py + shift, text.replace(r"\$", "$"), colour)
            for (px, py), (_, _, text, colour) in zip(points, self.cells, strict=True)
        ]
        gc = renderer.new_gc()
        self._set_gc_clip(gc)
        pdf = _pdf_renderer(renderer)
        if pdf is not None:
            _PdfText(pdf, self.prop, self._model).show(gc, placed)
        else:
            height = renderer.get_canvas_width_height()[1]
            for x, y, text, colour in placed:
                if renderer.flipy():  # as Text.draw: such a renderer counts y from the top
                    y = height - y
                gc.set_foreground(mcolors.to_rgba(colour), isRGBA=True)
                renderer.draw_text(gc, x, y, text, self.prop, 0.0, ismath=False, mtext=self._model)
        gc.restore()
        renderer.close_group("cells")
        self.stale = False


def _pdf_renderer(renderer) -> RendererPdf | None:
    """The PDF renderer under ``renderer`` when it embeds TrueType fonts as Type 42 (what
    :func:`weijian.patrol.render._font_ready` sets), else None."""
    inner = getattr(renderer, "_renderer", renderer)  # under the MixedModeRenderer
    if (
        isinstance(inner, RendererPdf)
        and mpl.rcParams["pdf.fonttype"] == 42
        and not mpl.rcParams["pdf.use14corefonts"]
        and hasattr(inner.file, "_character_tracker")
    ):
        return inner
    return None


def _serialised(operators: list) -> bytes:
    """Operands and operators as the content stream's bytes, a line for each operator."""
    return b"".join(
        pdfRepr(token) + (b"\n" if isinstance(token, Op) else b" ") for token in operators
    )


class _PdfText:
    """Many strings of one font written into a PDF page as its text operators, as
    ``RendererPdf.draw_text`` writes one string (the glyphs shaped, each tracked for the
    font's subset, kerns between them) — but each distinct string shaped once, and the
    strings of one colour in one text object, each placed by its text matrix, instead of a
    graphics state, a transformation and a text object for each."""

    def __init__(self, pdf: RendererPdf, prop: FontProperties, model: Text):
        self.pdf = pdf
        self.size = prop.get_size_in_points()
        self.font = pdf._get_font_ttf(prop)
        self.features = model.get_fontfeatures()
        self.language = model.get_language()
        self.shaped: dict[str, bytes] = {}

    def show(self, gc, placed) -> None:
        by_colour: dict[str, list] = {}
        for x, y, text, colour in placed:
            by_colour.setdefault(colour, []).append((x, y, text))
        write = self.pdf.file.write
        for colour, cells in by_colour.items():
            gc.set_foreground(mcolors.to_rgba(colour), isRGBA=True)
            self.pdf.check_gc(gc, gc._rgb)  # the fill colour, outside the text object
            write(b"BT\n")
            for x, y, text in cells:
                shown = self.shaped.get(text)
                if shown is None:
                    shown = self.shaped[text] = _serialised(self._operators(text))
                write(b"1 0 0 1 %.3f %.3f Tm\n%s" % (x, y, shown))
            write(b"ET\n")

    def _operators(self, text: str) -> list:
        """The operators that show ``text`` from the text matrix's origin."""
        tracker, size = self.pdf.file._character_tracker, self.size
        operators: list = []
        chunk: list = []  # glyph codes, and a kern before a glyph where there is one

        def flush() -> None:
            if chunk:
                shown = [
                    -1000 * next(group) / size
                    if kind is float
                    else self.pdf._encode_glyphs(group, 42)
                    for kind, group in itertools.groupby(chunk, type)
                ]
                operators.extend((shown, Op.showkern))
                chunk.clear()

        current, start_x = None, 0.0
        for item in self.font._layout(
            text, LoadFlags.NO_HINTING, features=self.features, language=self.language
        ):
            subset, code = tracker.track_glyph(item.ft_object, item.char, item.glyph_index)
            if (item.ft_object, subset) != current:
                flush()
                path = FontPath(item.ft_object.fname, item.ft_object.face_index)
                operators += [self.pdf.file.fontName(path, subset), size, Op.selectfont]
                operators += [item.x - start_x, 0, Op.textpos]
                current, start_x = (item.ft_object, subset), item.x
            if item.y:
                flush()
                operators += [item.y, Op.textrise]
            if item.prev_kern:
                chunk.append(item.prev_kern)
            chunk.append(code)
            if item.y:
                flush()
                operators += [0, Op.textrise]
        flush()
        return operators


def _add(host, artist) -> None:
    if isinstance(host, Axes) and isinstance(artist, Collection):
        host.add_collection(artist, autolim=False)
    else:
        host.add_artist(artist)


def _row(case) -> tuple[str, ...]:
    due = case.due.astimezone(LOCAL).strftime("%m-%d %H:%M") if case.due else "—"
    return (
        str(case.order),
        case.number,
        case.address or case.description,
        case.state_label,
        due,
        f"{case.overdue_days:g}" if case.overdue else "",
        SHORT_DEPARTMENTS.get(case.department_type or "", case.department or "待研判"),
    )


def draw_table(host, transform, bw: float, bh: float, cases, k: float, start: int) -> int:
    """The rows from ``start`` that fit a block ``bw`` × ``bh`` mm, drawn on ``host`` (the
    block's axes, or the figure) through ``transform`` (the block's millimetres to the
    display); returns how many rows were drawn."""
    size = 6.8 * k
    row_h = 5.0 * k
    if not cases:
        host.text(
            bw / 2,
            bh - 12 * k,
            "无在办案件",
            ha="center",
            va="center",
            fontsize=14 * k,
            color="#555",
            transform=transform,
        )
        return 0
    bold = FontProperties(size=size, weight="bold")
    heading = (0, bh - 2.5 * k, f"在办案件一览（共 {len(cases)} 件，按建议巡查顺序）", "black")
    top = bh - 6 * k
    lefts = [0.0]
    for _, share in TABLE_COLUMNS[:-1]:
        lefts.append(lefts[-1] + share * bw)
    header = [
        (x + 1, top - row_h / 2, name, "black")
        for x, (name, _) in zip(lefts, TABLE_COLUMNS, strict=True)
    ]
    fit = max(int((top - row_h) // row_h), 1)
    rows = cases[start : start + fit]
    band = Rectangle(
        (0, top - row_h), bw, row_h, facecolor="#e8e8e8", edgecolor="none", transform=transform
    )
    stripes, rules, cells = [], [], []
    for i, case in enumerate(rows):
        y = top - row_h * (i + 2)
        if i % 2:
            stripes.append(Rectangle((0, y), bw, row_h))
        rules.append(((0, y), (bw, y)))
        values = _row(case)
        for column, (x, (_, share), value) in enumerate(
            zip(lefts, TABLE_COLUMNS, values, strict=True)
        ):
            red = case.overdue and column in (0, 5)
            cells.append(
                (
                    x + 1,
                    y + row_h / 2,
                    clip(value, share * bw, size),
                    OVERDUE_TEXT if red else "black",
                )
            )
    # the stripes under the rows, the rules between them, the cells: one artist each, not
    # one a row or a cell
    _add(host, band)
    _add(
        host,
        PatchCollection(
            stripes, facecolor="#f7f7f7", edgecolor="none", zorder=1, transform=transform
        ),
    )
    _add(
        host,
        LineCollection(
            rules,
            colors="#dddddd",
            linewidths=0.3,
            capstyle="projecting",
            zorder=2,
            transform=transform,
        ),
    )
    _add(host, Cells([heading], transform, FontProperties(size=8 * k, weight="bold"), "center"))
    _add(host, Cells(header, transform, bold, "center"))
    _add(host, Cells(cells, transform, FontProperties(size=size), "center"))
    return len(rows)
