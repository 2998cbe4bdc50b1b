"""Printed patrol maps: one page per grid, to a true scale, in Chinese, by matplotlib.

The map frame has a fixed size on paper and the scale is a round one (1:2,000, 1:5,000, …)
chosen so the grid with a margin fits; the axes limits are then set from the frame's size and
the scale, so a centimetre on paper is exactly what the scale bar says. Text is set in
"Noto Sans CJK SC" (Debian's fonts-noto-cjk), embedded in the PDF as a TrueType subset.
Labels of cases and sub-grids are placed greedily around their anchor so that none overlaps
another; the table of cases has its own block below (or beside) the map and continues on
further pages when it is long.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("pdf")  # no display; before pyplot

import matplotlib.pyplot as plt
import shapely
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Polygon, Rectangle
from matplotlib.path import Path as MplPath
from matplotlib.transforms import Bbox

from weijian.errors import EnvironmentProblem
from weijian.patrol import fonts
from weijian.patrol.labels import CENTRED, Obstacles, place
from weijian.patrol.layout import PAPERS_MM, Frame  # noqa: F401
from weijian.patrol.pages import LEVEL_LABELS, PageData
from weijian.patrol.table import Cells, block_transform, clip, draw_table
from weijian.styles import (
    DEPARTMENT_COLOURS,
    GRID_EDGE_COLOUR,
    IN_HAND,
    OVERDUE_COLOUR,
    STATE_GROUPS,
    STATE_SHAPES,
    TOUR_COLOUR,
    state_shape,
    state_style,
)

FONT = "Noto Sans CJK SC"
MM = 1 / 25.4  # inches per millimetre


@dataclass
class PageInfo:
    """What was drawn where, for the caller and the tests."""

    paper: str
    orientation: str
    scale: int  # the denominator: 1:scale
    frame_mm: tuple[float, float, float, float]  # map frame on paper: x, y (from bottom), w, h
    extent_m: tuple[float, float, float, float]  # ground covered by the frame
    scalebar_m: float
    pages: int
    labels_dropped: int = 0
    label_boxes: list = field(default_factory=list)


def check_font() -> None:
    try:
        found = font_manager.findfont(
            font_manager.FontProperties(family=FONT), fallback_to_default=False
        )
    except ValueError:
        found = ""
    if "NotoSansCJK" not in Path(found).name:
        raise EnvironmentProblem(
            f"未安装字体 {FONT}，巡查图上的中文无法显示，请联系系统管理员安装 fonts-noto-cjk",
            code="patrol.font_missing",
            detail=f"the font {FONT!r} is not installed: Chinese would not print",
            hint="apt-get install fonts-noto-cjk (./dev setup does it when run as root)",
        )


def _font_ready() -> None:
    check_font()
    fonts.install()  # each face's subset cut without the tables a PDF never reads
    plt.rcParams.update(
        {
            "font.family": FONT,
            "font.size": 7,
            "pdf.fonttype": 42,  # TrueType, embedded as a subset
            # matplotlib's PDF writer cuts a font into subsets of the size ps.fonttype
            # implies (256 glyphs for its default, 3): every 256 distinct Chinese characters
            # would be one more subset, each cut from the whole CJK collection by fontTools
            # (over half a second apiece). 42 keeps one subset per face.
            "ps.fonttype": 42,
            "axes.unicode_minus": False,
            # shaped as Chinese: a digit is then the same glyph after Latin letters
            # ("LJ-2025-…") as after Chinese, where the shaper would otherwise pick the
            # alternate form and a third subset of the regular face be cut for ten digits
            "text.language": "zh-Hans",
        }
    )


def _axes(fig: Figure, block: tuple, width: float, height: float, **kw):
    x, y, w, h = block
    return fig.add_axes((x / width, y / height, w / width, h / height), **kw)


def nice_length(metres: float) -> float:
    """The largest 1, 2 or 5 × 10^k not above ``metres``."""
    exponent = math.floor(math.log10(metres))
    for step in (5, 2, 1):
        value = step * 10**exponent
        if value <= metres:
            return float(value)
    return float(10**exponent)


def _paths(geom) -> list[MplPath]:
    out = []
    for poly in getattr(geom, "geoms", [geom]):
        if poly.geom_type == "Polygon" and not poly.is_empty:
            vertices, codes = [], []
            for ring in [poly.exterior, *poly.interiors]:
                coords = list(ring.coords)
                vertices += coords
                codes += (
                    [MplPath.MOVETO] + [MplPath.LINETO] * (len(coords) - 2) + [MplPath.CLOSEPOLY]
                )
            out.append(MplPath(vertices, codes))
        elif poly.geom_type in ("MultiPolygon", "GeometryCollection"):
            out += _paths(poly)
    return out


def _collection(ax, geoms, **style) -> None:
    """Many polygons as one matplotlib object, without touching the axes' limits."""
    paths = [p for g in geoms for p in _paths(g)]
    if paths:
        # the paths themselves, not a patch made for each first
        ax.add_collection(PathCollection(paths, **style), autolim=False)


def render_page(data: PageData) -> tuple:
    """The figures of one grid (a map page, and table pages when the cases do not fit), on the
    page the data were loaded for (``data.frame``)."""
    _font_ready()
    frame_spec = data.frame
    width, height, orientation = frame_spec.width, frame_spec.height, frame_spec.orientation
    paper, scale, extent_m = frame_spec.paper, frame_spec.scale, frame_spec.extent_m
    blocks = frame_spec.blocks
    k = blocks["k"][0]
    fig = Figure(figsize=(width * MM, height * MM))
    canvas = FigureCanvasAgg(fig)
    renderer = canvas.get_renderer()
    fx, fy, fw, fh = blocks["map"]

    _title(fig, blocks, width, height, data, scale, k)
    ax = _map_axes(fig, blocks, width, height, extent_m)
    _zones(ax, data)
    frame_box = shapely.box(*extent_m)
    _grids(ax, data, frame_box)
    _projects(ax, data)
    _tour(ax, data, extent_m)
    frame = ax.get_window_extent(renderer)
    placed = _case_markers(ax, data)
    # north arrow and scale bar first: they stay where they are
    _north_arrow(ax, renderer, placed, k)
    scalebar_m = _scale_bar(ax, renderer, placed, extent_m, k)
    dropped = _labels(ax, renderer, placed, frame, frame_box, data, k)
    if not data.cases:
        _no_cases(ax, k)

    _legend(fig, blocks, width, height, data, k, ncol=2 if orientation == "portrait" else 1)
    _inset(fig, blocks, width, height, data)
    _footer(fig, blocks, width, height, data, k)
    rows_per_page = _table(fig, blocks["table"], width, height, data.cases, k)
    figures = [fig, *_table_pages(blocks, width, height, data, k, shown=rows_per_page)]
    info = PageInfo(
        paper=paper,
        orientation=orientation,
        scale=scale,
        frame_mm=(fx, fy, fw, fh),
        extent_m=extent_m,
        scalebar_m=scalebar_m,
        pages=len(figures),
        labels_dropped=dropped,
        label_boxes=list(placed),
    )
    return figures, info


def _title(fig, blocks, width, height, data: PageData, scale: int, k) -> None:
    ax_t = _axes(fig, blocks["title"], width, height)
    ax_t.set_axis_off()
    ax_t.text(0, 0.62, data.title, fontsize=16 * k, fontweight="bold", va="center")
    chain = " · ".join(g.name for g in data.chain)
    ax_t.text(
        0,
        0.18,
        f"{chain + ' · ' if chain else ''}{data.grid.name}"
        f"（{LEVEL_LABELS.get(data.grid.level, data.grid.level)}网格，编码 {data.grid.code}）",
        fontsize=8.5 * k,
        va="center",
    )
    ax_t.text(1, 0.7, f"制图日期：{data.on:%Y年%m月%d日}", fontsize=8 * k, ha="right", va="center")
    ax_t.text(
        1, 0.2, f"比例尺 1:{scale:,}".replace(",", ""), fontsize=9 * k, ha="right", va="center"
    )


def _map_axes(fig, blocks, width, height, extent_m):
    """The map frame, its limits the ground the frame covers at the page's scale."""
    ax = _axes(fig, blocks["map"], width, height)
    ax.set_xlim(extent_m[0], extent_m[2])
    ax.set_ylim(extent_m[1], extent_m[3])
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_linewidth(0.8)
    return ax


def _zones(ax, data: PageData) -> None:
    # zones: one collection per rule (the deciding, lowest-ranked one on top), so thousands of
    # parcels draw as a handful of objects
    by_rank: dict[int, list] = {}
    for zone in data.zones:
        if zone.department_type in DEPARTMENT_COLOURS:
            by_rank.setdefault(zone.rank, []).append(zone)
    for rank in sorted(by_rank, reverse=True):
        zones = by_rank[rank]
        colour = DEPARTMENT_COLOURS[zones[0].department_type][0]
        _collection(
            ax, [z.geom for z in zones], facecolor=colour, edgecolor="none", alpha=0.28, zorder=1
        )


def _grids(ax, data: PageData, frame_box) -> None:
    """The grid in dark blue over a veil outside it, its neighbours in grey, its children
    dashed (red is kept for overdue cases)."""
    outside = frame_box.difference(data.grid.geom)
    _collection(ax, [outside], facecolor="white", edgecolor="none", alpha=0.55, zorder=2)
    _collection(
        ax,
        [g.geom for g in data.neighbours],
        facecolor="none",
        edgecolor="#9a9a9a",
        linewidth=0.6,
        zorder=3,
    )
    _collection(
        ax,
        [g.geom for g in data.children],
        facecolor="none",
        edgecolor="#444",
        linewidth=0.7,
        linestyle=(0, (4, 2)),
        zorder=4,
    )
    _collection(
        ax, [data.grid.geom], facecolor="none", edgecolor=GRID_EDGE_COLOUR, linewidth=2.0, zorder=5
    )


PROJECT_COLOUR = "#8e24aa"


def _projects(ax, data: PageData) -> None:
    """The approved red lines of the construction projects (项目追踪), dashed, with names."""
    if not data.projects:
        return
    _collection(
        ax,
        [p.geom for p in data.projects],
        facecolor="none",
        edgecolor=PROJECT_COLOUR,
        linewidth=1.4,
        linestyle=(0, (5, 2)),
        zorder=5,
    )
    for p in data.projects:
        x, y = p.geom.representative_point().coords[0]
        ax.text(x, y, p.name, fontsize=6, color=PROJECT_COLOUR, ha="center", va="center",
                zorder=6, alpha=0.9)  # fmt: skip


def _tour(ax, data: PageData, extent_m) -> None:
    # the visiting order
    if data.cases:
        xs = [data.start[0]] + [c.x for c in data.cases]
        ys = [data.start[1]] + [c.y for c in data.cases]
        ax.plot(xs, ys, color=TOUR_COLOUR, linewidth=1.1, alpha=0.85, zorder=6)
        for (x0, y0), (x1, y1) in zip(
            zip(xs, ys, strict=True), zip(xs[1:], ys[1:], strict=True), strict=False
        ):
            if math.hypot(x1 - x0, y1 - y0) > (extent_m[2] - extent_m[0]) / 25:
                ax.annotate(
                    "",
                    xy=((x0 + x1) / 2 + (x1 - x0) * 0.05, (y0 + y1) / 2 + (y1 - y0) * 0.05),
                    xytext=((x0 + x1) / 2, (y0 + y1) / 2),
                    arrowprops={"arrowstyle": "-|>", "color": TOUR_COLOUR, "lw": 0.8},
                    zorder=6,
                )
    ax.plot(*data.start, marker="s", markersize=6, color="black", zorder=8)


def _case_markers(ax, data: PageData) -> Obstacles:
    """A dot per case in its state's shape and colour, ringed in red when overdue: one
    Line2D for each kind of dot (a PDF then writes the marker once and places it at every
    case of that kind), not one a case; returns the boxes of the dots and of the start."""
    placed = Obstacles()
    kinds: dict[tuple, list] = {}
    for case in data.cases:
        colour, _ = state_style(case.state)
        kinds.setdefault((state_shape(case.state), colour, case.overdue), []).append(case)
    for (marker, colour, overdue), cases in kinds.items():
        # added directly: ax.plot would parse its arguments and turn the property cycle
        ax.add_line(
            Line2D(
                [c.x for c in cases],
                [c.y for c in cases],
                linestyle="none",
                marker=marker,
                markersize=8 if overdue else 7,
                markerfacecolor=colour,
                markeredgecolor=OVERDUE_COLOUR if overdue else "white",
                markeredgewidth=2.0 if overdue else 0.8,
                zorder=9,
            )
        )
    # the markers themselves are obstacles for labels
    for case in data.cases:
        px, py = ax.transData.transform((case.x, case.y))
        placed.append(Bbox.from_extents(px - 4.5, py - 4.5, px + 4.5, py + 4.5))
    sx, sy = ax.transData.transform(data.start)
    placed.append(Bbox.from_extents(sx - 4, sy - 4, sx + 4, sy + 4))
    return placed


def _labels(ax, renderer, placed, frame, frame_box, data: PageData, k) -> int:
    """The labels of the start, the cases (their order), the children and the neighbours, each
    where it overlaps nothing; returns how many of the first three found no place."""
    dropped = 0
    start_label = place(
        ax,
        renderer,
        placed,
        frame,
        *data.start,
        "起点",
        fontsize=6.5 * k,
        fontweight="bold",
        zorder=10,
    )
    dropped += start_label is None
    for case in data.cases:
        label = place(
            ax,
            renderer,
            placed,
            frame,
            case.x,
            case.y,
            str(case.order),
            fontsize=8 * k,
            fontweight="bold",
            color="#8b0000" if case.overdue else "black",
            zorder=10,
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
        )
        dropped += label is None
    centre = CENTRED
    for g in data.children:
        p = g.geom.representative_point()
        if frame_box.contains(p):
            label = place(
                ax,
                renderer,
                placed,
                frame,
                p.x,
                p.y,
                g.name,
                offsets=centre,
                fontsize=6.5 * k,
                color="#333",
                zorder=7,
            )
            dropped += label is None
    for g in data.neighbours:
        p = (
            g.geom.intersection(frame_box).representative_point()
            if g.geom.intersects(frame_box)
            else None
        )
        if p is not None and not p.is_empty:
            place(
                ax,
                renderer,
                placed,
                frame,
                p.x,
                p.y,
                g.name,
                offsets=centre,
                fontsize=6 * k,
                color="#8a8a8a",
                zorder=7,
            )
    return dropped


def _no_cases(ax, k) -> None:
    ax.text(
        0.5,
        0.06,
        "无在办案件",
        transform=ax.transAxes,
        ha="center",
        fontsize=12 * k,
        color="#555",
        bbox={"fc": "white", "ec": "#999", "pad": 3},
        zorder=11,
    )


def _table(fig, block, width, height, cases, k) -> int:
    """The map page's table in an axes of its own (its limits the block's millimetres)."""
    ax = _axes(fig, block, width, height)
    ax.set_axis_off()
    ax.set_xlim(0, block[2])
    ax.set_ylim(0, block[3])
    return draw_table(ax, ax.transData, block[2], block[3], cases, k, start=0)


def _table_pages(blocks, width, height, data: PageData, k, shown: int) -> list[Figure]:
    """The pages continuing the table of cases from row ``shown``, each with the title and
    the footer: drawn on the figure through each block's transform, no axes."""
    figures = []
    while shown < len(data.cases):
        extra = Figure(figsize=(width * MM, height * MM))
        block = (
            blocks["title"][0],
            blocks["footer"][1] + blocks["footer"][3],
            blocks["title"][2],
            blocks["title"][1] - blocks["footer"][1] - blocks["footer"][3] - 4 * k,
        )
        title = block_transform(extra, blocks["title"], width, height)
        heading = FontProperties(size=14 * k, weight="bold")
        extra.add_artist(
            Cells([(0, 0.5, f"{data.title}（续表）", "black")], title, heading, "center")
        )
        to_block = block_transform(extra, block, width, height, (0, block[2]), (0, block[3]))
        n = draw_table(extra, to_block, block[2], block[3], data.cases, k, start=shown)
        _footer(extra, blocks, width, height, data, k)
        shown += n
        figures.append(extra)
    return figures


def _north_arrow(ax, renderer, placed, k) -> None:
    x, y = 0.05, 0.86
    ax.add_patch(
        Polygon(
            [(x - 0.018, y), (x, y + 0.07), (x + 0.018, y)],
            closed=True,
            transform=ax.transAxes,
            facecolor="black",
            zorder=12,
        )
    )
    ax.add_patch(
        Polygon(
            [(x - 0.018, y), (x, y + 0.07), (x, y)],
            closed=True,
            transform=ax.transAxes,
            facecolor="white",
            edgecolor="black",
            linewidth=0.5,
            zorder=12,
        )
    )
    label = ax.text(
        x,
        y + 0.085,
        "北",
        transform=ax.transAxes,
        ha="center",
        va="bottom",
        fontsize=9 * k,
        fontweight="bold",
        zorder=12,
    )
    box = label.get_window_extent(renderer)
    x0, y0 = ax.transAxes.transform((x - 0.03, y - 0.01))
    placed.append(Bbox.from_extents(x0, y0, box.x1 + 2, box.y1 + 2))


def _scale_bar(ax, renderer, placed, extent_m, k) -> float:
    """A bar of a round length at the frame's lower left, in ground metres; its labels start
    exactly at the bar's ends (so the printed distance between them can be measured)."""
    span = extent_m[2] - extent_m[0]
    length = nice_length(span / 4)
    x0 = extent_m[0] + span * 0.04
    y0 = extent_m[1] + (extent_m[3] - extent_m[1]) * 0.045
    bar_h = (extent_m[3] - extent_m[1]) * 0.008
    pad_x, pad_y = span * 0.012, (extent_m[3] - extent_m[1]) * 0.012
    unit = "千米" if length >= 1000 else "米"
    shown = length / 1000 if length >= 1000 else length
    end_label = f"{shown:g} {unit}"
    background = Rectangle(
        (x0 - pad_x, y0 - pad_y),
        length + span * 0.09,
        bar_h + 6 * pad_y,
        facecolor="white",
        edgecolor="#999",
        linewidth=0.4,
        alpha=0.9,
        zorder=12,
    )
    ax.add_patch(background)
    for i in range(4):
        ax.add_patch(
            Rectangle(
                (x0 + i * length / 4, y0),
                length / 4,
                bar_h,
                facecolor="black" if i % 2 == 0 else "white",
                edgecolor="black",
                linewidth=0.5,
                zorder=13,
            )
        )
    ax.text(x0, y0 + bar_h * 1.8, "0", ha="left", va="bottom", fontsize=6.5 * k, zorder=13)
    ax.text(
        x0 + length,
        y0 + bar_h * 1.8,
        end_label,
        ha="left",
        va="bottom",
        fontsize=6.5 * k,
        zorder=13,
    )
    placed.append(background.get_window_extent(renderer))
    return length


def _legend(fig, blocks, width, height, data: PageData, k, ncol: int) -> None:
    ax = _axes(fig, blocks["legend"], width, height)
    ax.set_axis_off()
    handles = []
    seen = {z.department_type for z in data.zones if z.department_type in DEPARTMENT_COLOURS}
    for key, (colour, label) in DEPARTMENT_COLOURS.items():
        if key in seen:
            handles.append(Patch(facecolor=colour, alpha=0.4, edgecolor="none", label=label))
    handles += [
        Line2D(
            [],
            [],
            color=GRID_EDGE_COLOUR,
            linewidth=2,
            label=f"本{LEVEL_LABELS.get(data.grid.level, '')}网格边界",
        ),
        Line2D([], [], color="#444", linewidth=0.8, linestyle=(0, (4, 2)), label="下级网格"),
        Line2D([], [], color="#9a9a9a", linewidth=0.6, label="相邻网格"),
    ]
    if data.projects:
        handles.append(
            Line2D(
                [],
                [],
                color=PROJECT_COLOUR,
                linewidth=1.4,
                linestyle=(0, (5, 2)),
                label="建设项目规划红线",
            )
        )
    states = {}
    for case in data.cases:
        colour, label = state_style(case.state)
        states[label] = colour
    if not states:
        states = {"待核查": STATE_GROUPS["reported"][0], "查处中": IN_HAND[0]}
    for label, colour in states.items():
        handles.append(
            Line2D(
                [],
                [],
                marker=STATE_SHAPES[label],
                linestyle="none",
                markersize=6,
                markerfacecolor=colour,
                markeredgecolor="white",
                label=f"案件：{label}",
            )
        )
    handles += [
        Line2D(
            [],
            [],
            marker="o",
            linestyle="none",
            markersize=6,
            markerfacecolor="#cccccc",
            markeredgecolor=OVERDUE_COLOUR,
            markeredgewidth=2,
            label="已超期（红圈）",
        ),
        Line2D([], [], color=TOUR_COLOUR, linewidth=1.2, label="建议巡查顺序（序号）"),
        Line2D([], [], marker="s", linestyle="none", color="black", markersize=5, label="巡查起点"),
    ]
    ax.legend(
        handles=handles,
        loc="upper left",
        ncol=ncol,
        fontsize=6.5 * k,
        frameon=True,
        title="图例",
        title_fontsize=7.5 * k,
        borderaxespad=0.2,
        handlelength=2.2,
        columnspacing=1.0,
        labelspacing=0.45,
    )


def _inset(fig, blocks, width, height, data: PageData) -> None:
    ax = _axes(fig, blocks["inset"], width, height)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title("位置示意", fontsize=7, pad=2)
    base = data.district.geom if data.district is not None else data.grid.geom
    _collection(ax, [base], facecolor="#f2f2f2", edgecolor="#666", linewidth=0.6)
    _collection(
        ax,
        [g.geom for g in data.district_siblings],
        facecolor="none",
        edgecolor="#bbbbbb",
        linewidth=0.3,
    )
    _collection(
        ax, [data.grid.geom], facecolor=GRID_EDGE_COLOUR, edgecolor=GRID_EDGE_COLOUR, linewidth=0.8
    )
    minx, miny, maxx, maxy = base.bounds
    pad = 0.04 * max(maxx - minx, maxy - miny)
    w, h = maxx - minx + 2 * pad, maxy - miny + 2 * pad
    box_w, box_h = blocks["inset"][2], blocks["inset"][3]
    if w / h < box_w / box_h:  # widen to the box's shape: one scale on both axes
        w = h * box_w / box_h
    else:
        h = w * box_h / box_w
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    ax.set_xlim(cx - w / 2, cx + w / 2)
    ax.set_ylim(cy - h / 2, cy + h / 2)
    if data.district is not None:
        ax.text(0.02, 0.02, data.district.name, transform=ax.transAxes, fontsize=6, color="#333")


def _footer(fig, blocks, width, height, data: PageData, k) -> None:
    """The people responsible, the tour's length, the layers' versions and the CRS: texts on
    the figure in the footer block's coordinates (no axes of its own)."""
    on = block_transform(fig, blocks["footer"], width, height)
    people = (
        "、".join(f"{p.get('name') or ''} {p.get('phone') or ''}".strip() for p in data.responsible)
        or "未登记"
    )
    tour = (
        f"建议巡查路线：自起点按序号依次巡查，全程约 {data.tour.length_m / 1000:.2f} 千米"
        f"（逐点就近约 {data.tour.nearest_neighbour_m / 1000:.2f} 千米）"
        if data.cases
        else "本网格暂无在办案件，按日常巡查要求巡查"
    )
    versions = "，".join(f"{name} 第{v}版" for name, v in sorted(data.layer_versions.items()))
    # the left-hand lines as cells (one line each, nothing to align to their width)
    for y, text, colour, size in ((0.75, f"网格责任人：{people}", "black", 7.5 * k),
                                  (0.2, tour, "#333", 6.5 * k)):  # fmt: skip
        fig.add_artist(Cells([(0, y, text, colour)], on, FontProperties(size=size), "center"))
    fig.text(
        1,
        0.75,
        f"图层版本：{versions}",
        fontsize=5 * k,
        ha="right",
        va="center",
        color="#666",
        wrap=True,
        transform=on,
    )
    fig.text(
        1,
        0.2,
        f"坐标系：CGCS2000 高斯-克吕格3度带（EPSG:{data.epsg}）  weijian 违建管控平台",
        fontsize=5.5 * k,
        ha="right",
        va="center",
        color="#666",
        transform=on,
    )


# -- files -------------------------------------------------------------------------------


def to_pdf(figures: list[Figure], title: str) -> bytes:
    buffer = io.BytesIO()
    with PdfPages(buffer, metadata={"Title": title, "Creator": "weijian 违建管控平台"}) as pdf:
        for fig in figures:
            pdf.savefig(fig)
    return buffer.getvalue()


def page_pdf(data: PageData) -> tuple[bytes, PageInfo]:
    figures, info = render_page(data)
    return to_pdf(figures, data.title), info


COVER_ROWS = 38


def check_paper(paper: str, orientation: str) -> None:
    from weijian.patrol.layout import paper_size

    paper_size(paper, orientation, 1.0, 1.0)


def cover_pdf(title: str, subtitle: str, rows: list[dict], on, paper: str = "A4") -> bytes:
    """The atlas's cover: every grid with its open and overdue cases and its first page."""
    _font_ready()
    width, height = PAPERS_MM[paper]
    k = width / 210.0
    figures = []
    per_page = COVER_ROWS
    chunks = [rows[i : i + per_page] for i in range(0, len(rows), per_page)] or [[]]
    for n, chunk in enumerate(chunks):
        fig = Figure(figsize=(width * MM, height * MM))
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_axis_off()
        ax.set_xlim(0, width)
        ax.set_ylim(0, height)
        ax.text(width / 2, height - 30 * k, title, ha="center", fontsize=22 * k, fontweight="bold")
        ax.text(width / 2, height - 42 * k, subtitle, ha="center", fontsize=11 * k)
        ax.text(
            width / 2, height - 50 * k, f"制图日期：{on:%Y年%m月%d日}", ha="center", fontsize=9 * k
        )
        columns = (
            ("序号", 15),
            ("网格编码", 45),
            ("网格名称", 70),
            ("在办案件", 20),
            ("超期", 15),
            ("页码", 15),
        )
        y = height - 66 * k
        x = 15 * k
        for name, w in columns:
            ax.text(x, y, name, fontsize=8.5 * k, fontweight="bold")
            x += w * k
        cells = []
        for i, row in enumerate(chunk):
            y -= 5.6 * k
            x = 15 * k
            values = (
                str(n * per_page + i + 1),
                row["code"],
                row["name"],
                str(row["open"]),
                str(row["overdue"]) if row["overdue"] else "",
                str(row["page"]),
            )
            for (_, w), value in zip(columns, values, strict=True):
                cells.append((x, y, clip(value, w * k, 8 * k), "black"))
                x += w * k
        ax.add_artist(Cells(cells, ax.transData, FontProperties(size=8 * k), "baseline"))
        if len(chunks) > 1:
            ax.text(
                width / 2,
                12 * k,
                f"目录 第 {n + 1} / {len(chunks)} 页",
                ha="center",
                fontsize=7 * k,
            )
        figures.append(fig)
    return to_pdf(figures, title)


def close(figures) -> None:
    for fig in figures:
        fig.clf()
