"""A map excerpt of one site for a document (执法文书's 现场位置示意图): the zones coloured by
the department that answers for them, the grids' outlines and names, the red lines of
construction projects, the site's footprint or point, a north arrow and a scale bar — drawn
by the printed maps' own parts, in the CGCS2000 3° Gauss-Krüger zone of the site."""

from __future__ import annotations

import io
from datetime import date

import numpy as np
import pyproj
import shapely
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Connection, text

from weijian.gis.crs import gk3_epsg_for_lon
from weijian.jurisdiction.snapshot import Snapshot
from weijian.patrol.pages import _projects, _zones
from weijian.patrol.render import (
    MM,
    PROJECT_COLOUR,
    _collection,
    _font_ready,
    _north_arrow,
    _scale_bar,
)
from weijian.styles import DEPARTMENT_COLOURS, GRID_EDGE_COLOUR

#: the ground an excerpt shows at the least, in metres (wider for a larger footprint)
SPAN_M = 260.0
SITE_COLOUR = "#d62728"


def _grids(conn: Connection, epsg: int, box: dict) -> list[tuple[str, BaseGeometry]]:
    rows = conn.execute(
        text(
            "WITH w AS (SELECT ST_MakeEnvelope(:x0, :y0, :x1, :y1, :epsg) AS box) "
            "SELECT g.name, ST_AsBinary(ST_Intersection(ST_Transform(g.geom, :epsg), w.box)) "
            "AS wkb FROM grid g, w WHERE g.level IN ('community', 'cell') "
            "AND g.geom && ST_Transform(w.box, 4490)"
        ),
        {**box, "epsg": epsg},
    )
    return [(r.name, shapely.from_wkb(bytes(r.wkb))) for r in rows]


def site_excerpt(
    conn: Connection,
    snap: Snapshot,
    lon: float,
    lat: float,
    on: date,
    *,
    footprint: BaseGeometry | None = None,
    label: str = "",
    width_mm: float = 140.0,
    height_mm: float = 84.0,
    dpi: int = 200,
) -> bytes:
    """A PNG of the site at (lon, lat) (CGCS2000 degrees), ``footprint`` in the same CRS."""
    _font_ready()
    epsg = gk3_epsg_for_lon(lon)
    to_gk = pyproj.Transformer.from_crs(4490, epsg, always_xy=True).transform
    x, y = to_gk(lon, lat)
    shape = (
        shapely.transform(footprint, lambda xy: np.column_stack(to_gk(xy[:, 0], xy[:, 1])))
        if footprint is not None
        else None
    )
    span = SPAN_M
    if shape is not None and not shape.is_empty:
        minx, miny, maxx, maxy = shape.bounds
        span = max(span, 2.5 * max(maxx - minx, maxy - miny))
    half_w, half_h = span / 2, span / 2 * height_mm / width_mm
    extent = (x - half_w, y - half_h, x + half_w, y + half_h)
    box = dict(zip(("x0", "y0", "x1", "y1"), extent, strict=True))

    fig = Figure(figsize=(width_mm * MM, height_mm * MM), dpi=dpi)
    canvas = FigureCanvasAgg(fig)
    renderer = canvas.get_renderer()
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(extent[0], extent[2])
    ax.set_ylim(extent[1], extent[3])
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_facecolor("white")
    for zone in _zones(conn, snap, on, epsg, box):
        colours = DEPARTMENT_COLOURS.get(zone.department_type)
        if colours:
            _collection(
                ax, [zone.geom], facecolor=colours[0], edgecolor="none", alpha=0.28, zorder=1
            )
    for name, geom in _grids(conn, epsg, box):
        _collection(
            ax,
            [geom],
            facecolor="none",
            edgecolor=GRID_EDGE_COLOUR,
            linewidth=0.8,
            linestyle="--",
            zorder=3,
        )
        if not geom.is_empty and geom.area > 0.05 * span * span:
            at = geom.representative_point()
            ax.text(at.x, at.y, name, fontsize=7, color=GRID_EDGE_COLOUR, ha="center", zorder=4)
    for project in _projects(conn, epsg, box):
        _collection(
            ax, [project.geom], facecolor="none", edgecolor=PROJECT_COLOUR, linewidth=1.4, zorder=5
        )
    if shape is not None and not shape.is_empty:
        _collection(
            ax,
            [shape],
            facecolor=SITE_COLOUR,
            edgecolor=SITE_COLOUR,
            alpha=0.45,
            hatch="///",
            linewidth=1.2,
            zorder=8,
        )
    ax.plot(
        [x], [y], marker="o", markersize=9, color=SITE_COLOUR, markeredgecolor="white", zorder=9
    )
    if label:
        ax.annotate(
            label,
            (x, y),
            xytext=(10, 10),
            textcoords="offset points",
            fontsize=8,
            fontweight="bold",
            color=SITE_COLOUR,
            bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": SITE_COLOUR, "lw": 0.6},
            zorder=10,
        )
    placed: list = []
    _north_arrow(ax, renderer, placed, 1.0)
    _scale_bar(ax, renderer, placed, extent, 1.0)
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=dpi)
    fig.clear()
    return out.getvalue()
