"""Distances in metres, compiled (numba): points to their lines (:func:`line_distances`) and to
the nearest of many segments through a grid of cells (:func:`nearest_segment_within`, the
districts' edges). Both use GEOS's point-to-segment formula (``Distance::pointToSegment``) and
take the minimum, as ``shapely.distance`` and ``STRtree.query_nearest`` do: the same number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from weijian.gis.gauss_kruger import forward_xy
from weijian.jurisdiction.kernels import wkb_f64, wkb_polygons_at, wkb_rings_at, wkb_u32

MAX_CELLS = 4_000_000  # of a segment grid


@njit(cache=True, nogil=True, inline="always")
def _vertex_count(blob, start):
    """The vertices of the rings of the polygon whose WKB starts at ``blob[start]``; -1 where it
    is not a 2D little-endian (Multi)Polygon."""
    parts, at = wkb_polygons_at(blob, start)
    if parts < 0:
        return np.int64(-1)
    vertices = np.int64(0)
    for _ in range(parts):
        rings, at = wkb_rings_at(blob, at)
        if rings < 0:
            return np.int64(-1)
        for _ in range(rings):
            count = np.int64(wkb_u32(blob, at))
            vertices += count
            at += 4 + 16 * count
    return vertices


@njit(cache=True, nogil=True)
def ring_joins(blob, offsets, rows):
    """The rings of polygons ``rows`` as their boundaries' vertices run, one after the other:
    per polygon where its vertices start (and the end), per vertex whether a segment joins it
    to the next (not at a ring's end). Empty arrays when a WKB is not a 2D little-endian
    (Multi)Polygon."""
    starts = np.zeros(len(rows) + 1, dtype=np.int64)
    total = 0
    for r in range(len(rows)):
        count = _vertex_count(blob, offsets[rows[r]])
        if count < 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.bool_)
        total += count
        starts[r + 1] = total
    joined = np.ones(total, dtype=np.bool_)
    for r in range(len(rows)):
        at = offsets[rows[r]]
        kind = wkb_u32(blob, at + 1)
        parts = 1
        if kind == 6:
            parts = wkb_u32(blob, at + 5)
            at += 9
        vertex = starts[r]
        for _ in range(parts):
            rings = wkb_u32(blob, at + 5)
            at += 9
            for _ in range(rings):
                count = wkb_u32(blob, at)
                vertex += count
                if count:
                    joined[vertex - 1] = False
                at += 4 + 16 * count
    return starts, joined


@njit(cache=True, nogil=True, inline="always")
def _to_segment(px, py, ax, ay, bx, by):
    """GEOS ``Distance::pointToSegment``."""
    if ax == bx and ay == by:
        return math.sqrt((px - ax) * (px - ax) + (py - ay) * (py - ay))
    len2 = (bx - ax) * (bx - ax) + (by - ay) * (by - ay)
    r = ((px - ax) * (bx - ax) + (py - ay) * (by - ay)) / len2
    if r <= 0.0:
        return math.sqrt((px - ax) * (px - ax) + (py - ay) * (py - ay))
    if r >= 1.0:
        return math.sqrt((px - bx) * (px - bx) + (py - by) * (py - by))
    s = ((ay - py) * (bx - ax) - (ax - px) * (by - ay)) / len2
    return abs(s) * math.sqrt(len2)


#: a bound on how far the Gauss-Krüger map departs from its tangent map at a vertex: at most
#: ``TANGENT_BOUND`` × r² metres at r metres from it. The map's derivative turns and stretches by
#: about tan φ / R per metre (the meridians' convergence, the parallels' shrinking; R the
#: Earth's radius), so the departure is about ½ · 1.5 · 10⁻⁷ r² at 45° and 2.3 · 10⁻⁷ r² at
#: China's northern tip (53.5°): the bound is four times that
TANGENT_BOUND = 1e-6
#: beyond this many metres from the first vertex, the tangent map is not worth its bound
TANGENT_REACH_M = 20_000.0
#: a boundary of fewer vertices is walked with every vertex moved exactly
TANGENT_FROM = 16


@njit(cache=True, nogil=True)
def boundary_distance(blob, start, x, y, central_meridian, false_easting, most):
    """Metres from (x, y), in Gauss-Krüger, to the boundary of the polygon whose lon/lat WKB
    starts at ``blob[start]``, its vertices moved as ``gauss_kruger.forward_xy`` moves them:
    GEOS's distance to that boundary, without making it; and its vertices. The distance is -1
    where the WKB is not a 2D little-endian (Multi)Polygon or has more than ``most``
    vertices.

    Moving a vertex exactly costs some 200 ns (the series of the projection). A boundary of
    ``TANGENT_FROM`` vertices or more is first measured on the tangent map at its first vertex
    (a multiply-add per vertex), each segment's distance known there to within its vertices'
    bound (``TANGENT_BOUND``); only the segments that may be the nearest are then moved
    exactly and measured as GEOS measures them. The nearest is among them, so the minimum is
    the same number."""
    vertices = _vertex_count(blob, start)
    if vertices < 0 or vertices > most:
        return -1.0, vertices
    lon = np.empty(vertices)
    lat = np.empty(vertices)
    joined = np.ones(vertices, dtype=np.bool_)  # a segment from vertex i to i + 1
    parts, at = wkb_polygons_at(blob, start)
    k = 0
    for _ in range(parts):
        rings, at = wkb_rings_at(blob, at)
        for _ in range(rings):
            count = np.int64(wkb_u32(blob, at))
            at += 4
            for i in range(count):
                lon[k + i], lat[k + i] = wkb_f64(blob, at + 16 * i), wkb_f64(blob, at + 16 * i + 8)
            k += count
            if count:
                joined[k - 1] = False
            at += 16 * count
    if vertices < TANGENT_FROM:
        return _exact_walk(lon, lat, joined, x, y, central_meridian, false_easting), vertices
    return _tangent_walk(lon, lat, joined, x, y, central_meridian, false_easting), vertices


@njit(cache=True, nogil=True, inline="always")
def _exact_walk(lon, lat, joined, x, y, central_meridian, false_easting):
    best = np.inf
    ax, ay = 0.0, 0.0
    for i in range(len(lon)):
        bx, by = forward_xy(lon[i], lat[i], central_meridian, false_easting)
        if i > 0 and joined[i - 1]:
            d = _to_segment(x, y, ax, ay, bx, by)
            if d < best:
                best = d
        ax, ay = bx, by
    return best


@njit(cache=True, nogil=True)
def _tangent_walk(lon, lat, joined, x, y, central_meridian, false_easting):
    n = len(lon)
    # the tangent map at the first vertex, in metres from it (a step of 10⁻⁶° is some 0.1 m:
    # the difference quotient's error is far below the bound at any reach)
    x0, y0 = forward_xy(lon[0], lat[0], central_meridian, false_easting)
    step = 1e-6
    xe, ye = forward_xy(lon[0] + step, lat[0], central_meridian, false_easting)
    xn, yn = forward_xy(lon[0], lat[0] + step, central_meridian, false_easting)
    a, b = (xe - x0) / step, (xn - x0) / step
    c, d = (ye - y0) / step, (yn - y0) / step
    tx = np.empty(n)
    ty = np.empty(n)
    bound = np.empty(n)
    for i in range(n):
        dlon, dlat = lon[i] - lon[0], lat[i] - lat[0]
        tx[i] = a * dlon + b * dlat
        ty[i] = c * dlon + d * dlat
        reach = math.sqrt(tx[i] * tx[i] + ty[i] * ty[i]) * 1.001 + 0.01
        if reach > TANGENT_REACH_M:
            return _exact_walk(lon, lat, joined, x, y, central_meridian, false_easting)
        # the tangent map's departure, and the rounding of these sums (0.1 mm)
        bound[i] = TANGENT_BOUND * reach * reach + 1e-4
    px, py = x - x0, y - y0
    # the smallest distance a segment can have on the exact map, and the largest the nearest
    # one can have
    low = np.empty(n)
    most = np.inf
    for i in range(n - 1):
        if not joined[i]:
            continue
        near = _to_segment(px, py, tx[i], ty[i], tx[i + 1], ty[i + 1])
        slack = max(bound[i], bound[i + 1])
        low[i] = near - slack
        if near + slack < most:
            most = near + slack
    best = np.inf
    moved = -1  # the vertex last moved exactly, kept for the next segment
    mx, my = 0.0, 0.0
    for i in range(n - 1):
        if not joined[i] or low[i] > most:
            continue
        if moved == i:
            ax, ay = mx, my
        else:
            ax, ay = forward_xy(lon[i], lat[i], central_meridian, false_easting)
        bx, by = forward_xy(lon[i + 1], lat[i + 1], central_meridian, false_easting)
        moved, mx, my = i + 1, bx, by
        found = _to_segment(x, y, ax, ay, bx, by)
        if found < best:
            best = found
    return best


@njit(cache=True, nogil=True)
def line_distance_one(vx, vy, joined, x, y):
    """(x, y)'s distance to one line of vertices (vx, vy), a segment from vertex i to i + 1
    where ``joined[i]``: as :func:`line_distances` measures it."""
    best = np.inf
    for i in range(len(vx) - 1):
        if joined[i]:
            d = _to_segment(x, y, vx[i], vy[i], vx[i + 1], vy[i + 1])
            if d < best:
                best = d
    return best


@njit(cache=True, nogil=True)
def line_distances(px, py, line_of, vertex_ptr, vx, vy, joined):
    """Point k's distance to line ``line_of[k]``: its vertices are
    ``vertex_ptr[line]:vertex_ptr[line + 1]`` of (vx, vy), a segment from vertex i to i + 1
    where ``joined[i]`` (the parts of a multi-line are not joined)."""
    n = len(px)
    out = np.empty(n, dtype=np.float64)
    last = np.full(len(vertex_ptr), -1, dtype=np.int64)  # per line, the last point's nearest
    for k in range(n):
        line = line_of[k]
        best = np.inf
        x, y = px[k], py[k]
        # neighbouring points (the batch's are in Z-order) mostly share their nearest segment:
        # measured first, it leaves most of the others to the box test below
        seed = last[line]
        if seed >= 0:
            best = _to_segment(x, y, vx[seed], vy[seed], vx[seed + 1], vy[seed + 1])
        nearest = seed
        for i in range(vertex_ptr[line], vertex_ptr[line + 1] - 1):
            if not joined[i]:
                continue
            ax, ay, bx, by = vx[i], vy[i], vx[i + 1], vy[i + 1]
            # the segment's box farther than the best: no point of it is nearer
            if min(ax, bx) - x > best or x - max(ax, bx) > best:
                continue
            if min(ay, by) - y > best or y - max(ay, by) > best:
                continue
            d = _to_segment(x, y, ax, ay, bx, by)
            if d < best:
                best = d
                nearest = i
        out[k] = best
        last[line] = nearest
    return out


@njit(cache=True, nogil=True, inline="always")
def _nearest_within(x, y, best, x0, y0, size, nx, ny, cell_ptr, cell_segment, ax, ay, bx, by):
    """The distance from (x, y) to the nearest segment where it is below ``best`` (+inf
    elsewhere): the cells searched in rings around the point's until a ring lies farther than
    the best distance found (or ``best``)."""
    found = np.inf
    if not best > 0.0:
        return found
    cx = np.int64(math.floor((x - x0) / size))
    cy = np.int64(math.floor((y - y0) / size))
    ring = 0
    while True:
        # every point of a cell of ring r lies at least (r - 1) * size from the point
        if (ring - 1) * size > min(best, found):
            break
        if ring > 0 and cx - ring < 0 and cy - ring < 0 and cx + ring >= nx and cy + ring >= ny:
            break
        for gy in range(cy - ring, cy + ring + 1):
            if gy < 0 or gy >= ny:
                continue
            edge = gy == cy - ring or gy == cy + ring
            step = 1 if edge else 2 * ring
            gx = cx - ring
            while gx <= cx + ring:
                if 0 <= gx < nx:
                    cell = gy * nx + gx
                    for e in range(cell_ptr[cell], cell_ptr[cell + 1]):
                        s = cell_segment[e]
                        d = _to_segment(x, y, ax[s], ay[s], bx[s], by[s])
                        if d < found:
                            found = d
                if step == 0:
                    break
                gx += step
        ring += 1
    return found if found < best else np.inf


@njit(cache=True, nogil=True)
def nearest_segment_within(
    px, py, limit, x0, y0, size, nx, ny, cell_ptr, cell_segment, ax, ay, bx, by
):
    """Per point, the distance to the nearest segment where it is below ``limit`` (+inf
    elsewhere). The segments are listed in every cell of a square grid their bounding box
    touches (:func:`_nearest_within`)."""
    n = len(px)
    out = np.full(n, np.inf)
    for k in range(n):
        out[k] = _nearest_within(px[k], py[k], limit[k], x0, y0, size, nx, ny, cell_ptr,
                                 cell_segment, ax, ay, bx, by)  # fmt: skip
    return out


@njit(cache=True, nogil=True)
def nearest_segment_within_one(
    x, y, limit, x0, y0, size, nx, ny, cell_ptr, cell_segment, ax, ay, bx, by
):
    """:func:`nearest_segment_within` for one point."""
    return _nearest_within(x, y, limit, x0, y0, size, nx, ny, cell_ptr, cell_segment, ax, ay,
                           bx, by)  # fmt: skip


@dataclass(frozen=True)
class Segments:
    """Segments in a square grid of cells, for :func:`nearest_segment_within`: each cell
    lists the segments whose bounding box touches it, a cell about ``per_cell`` mean segment
    lengths wide."""

    ax: np.ndarray
    ay: np.ndarray
    bx: np.ndarray
    by: np.ndarray
    x0: float
    y0: float
    size: float
    nx: int
    ny: int
    cell_ptr: np.ndarray
    cell_segment: np.ndarray

    @classmethod
    def of(cls, ax, ay, bx, by, per_cell: float = 4.0) -> Segments:
        minx = float(min(ax.min(), bx.min()))
        miny = float(min(ay.min(), by.min()))
        maxx = float(max(ax.max(), bx.max()))
        maxy = float(max(ay.max(), by.max()))
        length = float(np.mean(np.hypot(bx - ax, by - ay))) or 1.0
        size = max(length * per_cell, math.sqrt((maxx - minx) * (maxy - miny) / MAX_CELLS), 1e-6)
        nx = int((maxx - minx) / size) + 1
        ny = int((maxy - miny) / size) + 1
        ix0 = np.floor((np.minimum(ax, bx) - minx) / size).astype(np.int64)
        ix1 = np.floor((np.maximum(ax, bx) - minx) / size).astype(np.int64)
        iy0 = np.floor((np.minimum(ay, by) - miny) / size).astype(np.int64)
        iy1 = np.floor((np.maximum(ay, by) - miny) / size).astype(np.int64)
        w, h = ix1 - ix0 + 1, iy1 - iy0 + 1
        counts = w * h
        segment = np.repeat(np.arange(len(ax), dtype=np.int64), counts)
        local = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        cell = (iy0[segment] + local // w[segment]) * nx + ix0[segment] + local % w[segment]
        order = np.argsort(cell, kind="stable")
        cell_ptr = np.zeros(nx * ny + 1, dtype=np.int64)
        np.cumsum(np.bincount(cell, minlength=nx * ny), out=cell_ptr[1:])
        return cls(ax, ay, bx, by, minx, miny, size, nx, ny, cell_ptr, segment[order])

    def nearest_within(self, x, y, limit) -> np.ndarray:
        """Metres from each point to the nearest segment where below ``limit`` (per point, or
        one for all), +inf elsewhere."""
        x = np.ascontiguousarray(x, dtype=np.float64)
        y = np.ascontiguousarray(y, dtype=np.float64)
        limit = np.broadcast_to(np.asarray(limit, dtype=np.float64), x.shape)
        return nearest_segment_within(
            x, y, np.ascontiguousarray(limit), self.x0, self.y0, self.size, self.nx,
            self.ny, self.cell_ptr, self.cell_segment, self.ax, self.ay, self.bx, self.by,
        )  # fmt: skip

    def nearest_within_one(self, x: float, y: float, limit: float) -> float:
        """:meth:`nearest_within` for one point."""
        return nearest_segment_within_one(
            x, y, limit, self.x0, self.y0, self.size, self.nx, self.ny, self.cell_ptr,
            self.cell_segment, self.ax, self.ay, self.bx, self.by,
        )  # fmt: skip
