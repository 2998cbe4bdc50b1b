"""Where things go on a patrol page, and at what scale: pure arithmetic shared by the data
loader (which fetches exactly what the map frame will show) and the renderer."""

from __future__ import annotations

from dataclasses import dataclass

from weijian.errors import InputError

PAPERS_MM = {"A4": (210.0, 297.0), "A3": (297.0, 420.0)}
SCALES = tuple(
    int(m * 10**e) for e in range(2, 7) for m in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 7.5, 8)
)  # round scales: 1:1000, 1:1500, 1:2000, 1:2500, … 1:8,000,000


@dataclass(frozen=True)
class Frame:
    """The page: paper size in mm, orientation, blocks, the scale and the ground shown."""

    paper: str
    width: float
    height: float
    orientation: str
    blocks: dict
    scale: int
    extent_m: tuple[float, float, float, float]


def paper_size(paper: str, orientation: str, extent_w: float, extent_h: float) -> tuple:
    if paper not in PAPERS_MM:
        raise InputError(
            f"纸张“{paper}”不支持，请选择 A4 或 A3",
            code="patrol.paper_invalid",
            detail=f"paper must be A4 or A3, not {paper!r}",
        )
    if orientation not in ("portrait", "landscape", "auto"):
        raise InputError(
            f"纸张方向“{orientation}”无效，应为 portrait（纵向）、landscape（横向）或 auto（自动）",
            code="patrol.orientation_invalid",
            detail=f"orientation must be portrait, landscape or auto, not {orientation!r}",
        )
    if orientation == "auto":
        orientation = "landscape" if extent_w > 1.15 * extent_h else "portrait"
    w, h = PAPERS_MM[paper]
    return (
        (max(w, h), min(w, h), orientation) if orientation == "landscape" else (w, h, orientation)
    )


def _layout(width: float, height: float, orientation: str) -> dict[str, tuple]:
    """Blocks on the page in mm: (x, y from the bottom, w, h)."""
    k = width / 210.0 if orientation == "portrait" else height / 210.0  # A3 scales everything
    margin, title_h, footer_h = 10 * k, 22 * k, 9 * k
    top = height - margin - title_h
    if orientation == "portrait":
        map_h = (height - 2 * margin - title_h - footer_h) * 0.58
        map_box = (margin, top - map_h, width - 2 * margin, map_h)
        row_h = 40 * k
        row_y = map_box[1] - 2 * k - row_h
        legend = (margin, row_y, (width - 2 * margin) * 0.64, row_h)
        inset = (margin + (width - 2 * margin) * 0.66, row_y, (width - 2 * margin) * 0.34, row_h)
        table = (margin, margin + footer_h, width - 2 * margin, row_y - 2 * k - margin - footer_h)
    else:
        map_w = (width - 2 * margin) * 0.56
        map_box = (margin, margin + footer_h, map_w, top - margin - footer_h)
        side_x = margin + map_w + 4 * k
        side_w = width - margin - side_x
        inset_h = 42 * k
        inset = (side_x + side_w * 0.5, top - inset_h, side_w * 0.5, inset_h)
        legend = (side_x, top - inset_h, side_w * 0.5, inset_h)
        table = (side_x, margin + footer_h, side_w, top - inset_h - 3 * k - margin - footer_h)
    return {
        "title": (margin, top, width - 2 * margin, title_h),
        "map": map_box,
        "legend": legend,
        "inset": inset,
        "table": table,
        "footer": (margin, margin, width - 2 * margin, footer_h),
        "k": (k,),
    }


def choose_scale(frame_w_mm: float, frame_h_mm: float, extent: tuple) -> int:
    need = max(
        (extent[2] - extent[0]) / (frame_w_mm / 1000), (extent[3] - extent[1]) / (frame_h_mm / 1000)
    )
    return next((s for s in SCALES if s >= need), SCALES[-1])


def frame_for(paper: str, orientation: str, extent: tuple[float, float, float, float]) -> Frame:
    """The page for a grid whose padded extent (Gauss-Krüger metres) must fit: the smallest
    round scale that fits it, the frame centred on it."""
    width, height, orientation = paper_size(
        paper, orientation, extent[2] - extent[0], extent[3] - extent[1]
    )
    blocks = _layout(width, height, orientation)
    _, _, fw, fh = blocks["map"]
    scale = choose_scale(fw, fh, extent)
    cx, cy = (extent[0] + extent[2]) / 2, (extent[1] + extent[3]) / 2
    half_w, half_h = fw / 1000 * scale / 2, fh / 1000 * scale / 2
    return Frame(
        paper=paper,
        width=width,
        height=height,
        orientation=orientation,
        blocks=blocks,
        scale=scale,
        extent_m=(cx - half_w, cy - half_h, cx + half_w, cy + half_h),
    )
