"""The engine's inner loops compiled (numba): point-in-polygon on the polygons' WKB, for many
points in one call or one point's cell.

Each loop is written to give GEOS's answer bit for bit, so that a batch agrees with a single
look-up and with PostGIS: :func:`covers_pairs` counts ray crossings as GEOS's
``RayCrossingCounter`` does (a point on an edge or a vertex is covered, ``ST_Covers``), with
GEOS's filtered orientation test. Where that filter cannot decide (a point within rounding of an
edge's line) or the WKB is not a 2D little-endian (Multi)Polygon, the pair is marked
*undecided* and the caller asks GEOS. The distances are in :mod:`.distances`.

The compiled code is cached beside this module (``cache=True``): a machine compiles once.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

OUTSIDE, COVERED, UNDECIDED = 0, 1, 2
_DP_SAFE_EPSILON = 1e-15  # GEOS CGAlgorithmsDD: the orientation filter's error bound
# how far (in the coordinates' units, per unit of a segment's length) a box's corners must lie
# beyond a segment's line for :func:`boundaries_in_boxes` to call the box clear of it
_SIDE_MARGIN = 1e-9


def _unaligned_load(kind):
    """An intrinsic reading a ``kind`` at any byte offset of a uint8 array: WKB's numbers
    are not aligned, and a view per number costs ten times the read."""

    @intrinsic
    def load(typingctx, array, at):
        def codegen(context, builder, signature, args):
            data = context.make_array(signature.args[0])(context, builder, args[0]).data
            pointer = builder.bitcast(builder.gep(data, [args[1]]), kind[1].as_pointer())
            return builder.load(pointer, align=1)

        return kind[0](array, types.intp), codegen

    return load


wkb_f64 = _unaligned_load((types.float64, ir.DoubleType()))
wkb_u32 = _unaligned_load((types.uint32, ir.IntType(32)))


@njit(cache=True, nogil=True, inline="always")
def _sign(value):
    if value > 0.0:
        return 1
    if value < 0.0:
        return -1
    return 0


@njit(cache=True, nogil=True, inline="always")
def _orientation(ax, ay, bx, by, cx, cy):
    """GEOS's ``orientationIndexFilter``: 1 left, -1 right, 0 collinear, 2 cannot tell."""
    detleft = (ax - cx) * (by - cy)
    detright = (ay - cy) * (bx - cx)
    det = detleft - detright
    if detleft > 0.0:
        if detright <= 0.0:
            return _sign(det)
        detsum = detleft + detright
    elif detleft < 0.0:
        if detright >= 0.0:
            return _sign(det)
        detsum = -detleft - detright
    else:
        return _sign(det)
    bound = _DP_SAFE_EPSILON * detsum
    if det >= bound or -det >= bound:
        return _sign(det)
    return 2


@njit(cache=True, nogil=True, inline="always")
def wkb_polygons_at(blob, start):
    """(polygons, where the first starts) of the WKB at ``blob[start]``: a Polygon is one, a
    MultiPolygon its count; -1 where it is not a 2D little-endian (Multi)Polygon."""
    if blob[start] != 1:
        return -1, start
    kind = wkb_u32(blob, start + 1)
    if kind == 3:
        return 1, start
    if kind == 6:
        return np.int64(wkb_u32(blob, start + 5)), start + 9
    return -1, start


@njit(cache=True, nogil=True, inline="always")
def wkb_rings_at(blob, at):
    """(rings, where the first ring's count is) of the Polygon whose WKB starts at
    ``blob[at]``; -1 where it is not a 2D little-endian Polygon."""
    if blob[at] != 1 or wkb_u32(blob, at + 1) != 3:
        return -1, at
    return np.int64(wkb_u32(blob, at + 5)), at + 9


@njit(cache=True, nogil=True)
def covers(blob, start, px, py):
    """Whether the polygon whose WKB starts at ``blob[start]`` covers (px, py): COVERED,
    OUTSIDE or UNDECIDED."""
    parts, at = wkb_polygons_at(blob, start)
    if parts < 0:
        return UNDECIDED
    crossings = 0
    for _ in range(parts):
        rings, at = wkb_rings_at(blob, at)
        if rings < 0:
            return UNDECIDED
        for _ in range(rings):
            count = wkb_u32(blob, at)
            at += 4
            x1, y1 = wkb_f64(blob, at), wkb_f64(blob, at + 8)
            for i in range(1, count):
                x2, y2 = wkb_f64(blob, at + 16 * i), wkb_f64(blob, at + 16 * i + 8)
                if (y1 > py and y2 > py) or (y1 < py and y2 < py):
                    pass  # wholly above or below the point: no crossing, not on it
                elif x1 < px and x2 < px:
                    pass  # wholly to the left of the point
                elif px == x2 and py == y2:
                    return COVERED  # on a vertex
                elif y1 == py and y2 == py:
                    if min(x1, x2) <= px <= max(x1, x2):
                        return COVERED  # on a horizontal edge
                elif (y1 > py and y2 <= py) or (y2 > py and y1 <= py):
                    side = _orientation(x1, y1, x2, y2, px, py)
                    if side == 2:
                        return UNDECIDED
                    if side == 0:
                        return COVERED  # on an edge
                    if y2 < y1:
                        side = -side
                    if side == 1:
                        crossings += 1
                x1, y1 = x2, y2
            at += 16 * count
    return COVERED if crossings % 2 == 1 else OUTSIDE


# -- a cell's own edges -----------------------------------------------------------------------
#
# A polygon's boundary entry in a cell keeps the edges of the polygon that may touch the cell
# (``edge_at``: each edge's first vertex, as a byte offset into the polygon's WKB) and whether
# the cell's centre is covered (``entry_ref``). A point of the cell is then covered where the
# segment from it to the centre crosses those edges an even number of times and the centre is
# covered, or an odd number and it is not: every edge such a segment can cross runs through
# the cell. A handful of edges are tested instead of every edge of the polygon (a district's
# hundreds). Wherever an orientation is not clear-cut (the point on or
# within rounding of an edge's line, the segment through a vertex), the whole polygon is asked
# as before (:func:`covers`): the answer is GEOS's, bit for bit.

#: a polygon of at most this many vertices is walked whole: listing its edges per cell does
#: not pay. Measured on 500,000 points: a city's 100,000 parcels (~50 vertices; their test is
#: bound by reading memory) gain nothing, Baishan's 6 districts (300–640 vertices) are asked
#: 3× (random points) to 5× (the bench city's cases) faster
CLIP_VERTICES = 64
#: a cell's box is widened by this share of its size when its edges are listed, so that a
#: point the grid puts in the cell (rounding aside) has its segment to the centre in the box
_CELL_MARGIN = 1e-6


@njit(cache=True, nogil=True)
def _side(ax, ay, bx, by, cx, cy):
    """:func:`_orientation` as a function of its own: inlined by LLVM, not by numba, whose
    inlining of it at every test of a cell's edges took seconds of each first compile."""
    return _orientation(ax, ay, bx, by, cx, cy)


@njit(cache=True, nogil=True, inline="always")
def cell_centre(fx, fy, x0, y0, dx, dy):
    """The centre of the cell in column ``fx``, row ``fy``."""
    return x0 + (fx + 0.5) * dx, y0 + (fy + 0.5) * dy


@njit(cache=True, nogil=True, inline="always")
def cell_and_centre(x, y, x0, y0, dx, dy, nx, ny):
    """The cell of (x, y) in a grid of ``nx`` × ``ny`` cells from (x0, y0), -1 outside it, and
    the cell's centre."""
    fx = math.floor((x - x0) / dx)
    fy = math.floor((y - y0) / dy)
    if not (0 <= fx < nx and 0 <= fy < ny):
        return np.int64(-1), 0.0, 0.0
    cx, cy = cell_centre(np.float64(fx), np.float64(fy), x0, y0, dx, dy)
    return np.int64(fy) * np.int64(nx) + np.int64(fx), cx, cy


@njit(cache=True, nogil=True)
def _cell_edges(blob, start, minx, miny, maxx, maxy, out, m):
    """Write into ``out[m:]`` (None: only count) the byte offsets (from ``start``) of the edges
    of the polygon at ``blob[start]`` that may touch the box; the new ``m``, -1 where the WKB
    is not a 2D little-endian (Multi)Polygon."""
    parts, at = wkb_polygons_at(blob, start)
    if parts < 0:
        return -1
    for _ in range(parts):
        rings, at = wkb_rings_at(blob, at)
        if rings < 0:
            return -1
        for _ in range(rings):
            count = wkb_u32(blob, at)
            at += 4
            for i in range(count - 1):
                v = at + 16 * i
                ax, ay, bx, by = (
                    wkb_f64(blob, v),
                    wkb_f64(blob, v + 8),
                    wkb_f64(blob, v + 16),
                    wkb_f64(blob, v + 24),
                )
                if _segment_meets_box(ax, ay, bx, by, minx, miny, maxx, maxy):
                    if out is not None:
                        out[m] = v - start
                    m += 1
            at += 16 * count
    return m


@njit(cache=True, nogil=True)
def _centre_state(blob, start, cx, cy, edge_at):
    """Whether the polygon covers the cell's centre (COVERED, OUTSIDE), UNDECIDED where the
    centre lies on or within rounding of the line of one of the cell's edges."""
    for j in range(len(edge_at)):
        v = start + np.int64(edge_at[j])
        ax, ay, bx, by = (
            wkb_f64(blob, v),
            wkb_f64(blob, v + 8),
            wkb_f64(blob, v + 16),
            wkb_f64(blob, v + 24),
        )
        side = _side(ax, ay, bx, by, cx, cy)
        if side == 0 or side == 2:
            return UNDECIDED
    return covers(blob, start, cx, cy)


@njit(cache=True, nogil=True)
def cell_edges(
    x0, y0, dx, dy, nx, cell_ptr, entry_poly, entry_boundary, blob, offsets,
    clip_vertices=CLIP_VERTICES,
):  # fmt: skip
    """Per entry of an index, the edges of its polygon that may touch its cell (``edge_ptr``,
    ``edge_at``) and whether its cell's centre is covered (``entry_ref``: COVERED, OUTSIDE, or
    UNDECIDED where a point of the cell asks the whole polygon: a polygon of at most
    ``clip_vertices`` vertices, a centre on an edge's line). Interior entries keep none
    (their cell is covered without a test)."""
    entries = len(entry_poly)
    cell_of = np.empty(entries, dtype=np.int64)
    for cell in range(len(cell_ptr) - 1):
        for e in range(cell_ptr[cell], cell_ptr[cell + 1]):
            cell_of[e] = cell
    margin = _CELL_MARGIN * max(dx, dy)
    edge_ptr = np.zeros(entries + 1, dtype=np.int64)
    entry_ref = np.full(entries, COVERED, dtype=np.int8)
    edge_at = np.empty(0, dtype=np.uint32)
    for fill in range(2):
        for e in range(entries):
            if not entry_boundary[e] or entry_ref[e] == UNDECIDED:
                continue
            poly = entry_poly[e]
            if (offsets[poly + 1] - offsets[poly]) // 16 <= clip_vertices:
                entry_ref[e] = UNDECIDED  # walked whole
                continue
            gx, gy = cell_of[e] % nx, cell_of[e] // nx
            minx, miny = x0 + gx * dx - margin, y0 + gy * dy - margin
            maxx, maxy = x0 + (gx + 1) * dx + margin, y0 + (gy + 1) * dy + margin
            start = offsets[poly]
            if fill:
                m = _cell_edges(blob, start, minx, miny, maxx, maxy, edge_at, edge_ptr[e])
                cx, cy = cell_centre(np.float64(gx), np.float64(gy), x0, y0, dx, dy)
                entry_ref[e] = _centre_state(blob, start, cx, cy, edge_at[edge_ptr[e] : m])
            else:
                m = _cell_edges(blob, start, minx, miny, maxx, maxy, None, 0)
                if m < 0:
                    entry_ref[e] = UNDECIDED
                edge_ptr[e + 1] = max(m, 0)
        if not fill:
            for e in range(entries):
                edge_ptr[e + 1] += edge_ptr[e]
            edge_at = np.empty(edge_ptr[-1], dtype=np.uint32)
    return edge_ptr, edge_at, entry_ref


@njit(cache=True, nogil=True, inline="always")
def _covers_entry(blob, offsets, bounds, poly, x, y, e, cx, cy, edge_ptr, edge_at, entry_ref):
    """:func:`covers` for the polygon of boundary entry ``e``, its bounds asked first, then
    its cell's own edges from the cell's centre (cx, cy) (see above), or the whole polygon."""
    if x < bounds[poly, 0] or y < bounds[poly, 1] or x > bounds[poly, 2] or y > bounds[poly, 3]:
        return OUTSIDE
    ref = entry_ref[e]
    start = offsets[poly]
    if ref == UNDECIDED:
        return covers(blob, start, x, y)
    inside = ref == COVERED
    lox, hix, loy, hiy = min(x, cx), max(x, cx), min(y, cy), max(y, cy)
    for j in range(edge_ptr[e], edge_ptr[e + 1]):
        v = start + np.int64(edge_at[j])
        ax, ay, bx, by = (
            wkb_f64(blob, v),
            wkb_f64(blob, v + 8),
            wkb_f64(blob, v + 16),
            wkb_f64(blob, v + 24),
        )
        if max(ax, bx) < lox or min(ax, bx) > hix or max(ay, by) < loy or min(ay, by) > hiy:
            continue  # the edge's box misses the segment's
        side = _side(ax, ay, bx, by, x, y)
        if side == 0 or side == 2:
            return covers(blob, start, x, y)  # on or near the edge's line
        if side == _side(ax, ay, bx, by, cx, cy):
            continue  # the point and the centre on one side of the edge's line
        a_side = _side(x, y, cx, cy, ax, ay)
        b_side = _side(x, y, cx, cy, bx, by)
        if a_side == 0 or a_side == 2 or b_side == 0 or b_side == 2:
            return covers(blob, start, x, y)  # the segment through (or near) a vertex
        if a_side != b_side:
            inside = not inside
    return COVERED if inside else OUTSIDE


@njit(cache=True, nogil=True, inline="always")
def append_covering(
    out, m, cell, x, y, cx, cy, cell_ptr, entry_poly, entry_boundary, bounds, blob, offsets,
    edge_ptr, edge_at, entry_ref,
):  # fmt: skip
    """Append to ``out[m:]`` (grown when full) the polygons of one cell (its centre: cx, cy)
    covering (x, y), in the cell's order, ``-1 - poly`` where GEOS must tell; returns (out,
    the new count)."""
    for e in range(cell_ptr[cell], cell_ptr[cell + 1]):
        poly = np.int64(entry_poly[e])
        if entry_boundary[e]:
            state = _covers_entry(blob, offsets, bounds, poly, x, y, e, cx, cy, edge_ptr, edge_at,
                                  entry_ref)  # fmt: skip
            if state == OUTSIDE:
                continue
            if state == UNDECIDED:
                poly = -1 - poly
        if m == len(out):
            grown = np.empty(2 * m + 8, dtype=np.int64)
            grown[:m] = out[:m]
            out = grown
        out[m] = poly
        m += 1
    return out, m


@njit(cache=True, nogil=True)
def cell_covering(
    cell, x, y, cx, cy, cell_ptr, entry_poly, entry_boundary, bounds, blob, offsets, edge_ptr,
    edge_at, entry_ref,
):  # fmt: skip
    """The polygons of one cell (its centre: cx, cy) covering (x, y), in the cell's order:
    ``-1 - poly`` where GEOS must tell (one point: the single look-up's query, no polygon
    decoded)."""
    out = np.empty(cell_ptr[cell + 1] - cell_ptr[cell], dtype=np.int64)
    out, m = append_covering(out, 0, cell, x, y, cx, cy, cell_ptr, entry_poly, entry_boundary,
                             bounds, blob, offsets, edge_ptr, edge_at, entry_ref)  # fmt: skip
    return out[:m]


@njit(cache=True, nogil=True)
def covers_pairs(
    px, py, x0, y0, dx, dy, nx, ny, cell_ptr, entry_poly, entry_boundary, bounds, blob, offsets,
    edge_ptr, edge_at, entry_ref,
):  # fmt: skip
    """Every (point, polygon, state) where a polygon listed in the point's cell covers it
    (COVERED) or GEOS must tell (UNDECIDED), in the points' order and each cell's order of
    polygons — what ``PolygonIndex.query`` answers, before the undecided are asked."""
    n = len(px)
    cells = np.empty(n, dtype=np.int64)
    total = 0
    for k in range(n):
        fx = math.floor((px[k] - x0) / dx)
        fy = math.floor((py[k] - y0) / dy)
        if 0 <= fx < nx and 0 <= fy < ny:
            cell = np.int64(fy) * nx + np.int64(fx)
            cells[k] = cell
            total += cell_ptr[cell + 1] - cell_ptr[cell]
        else:
            cells[k] = -1
    points = np.empty(total, dtype=np.int64)
    polys = np.empty(total, dtype=np.int32)
    states = np.empty(total, dtype=np.int8)
    m = 0
    for k in range(n):
        cell = cells[k]
        if cell < 0:
            continue
        cx, cy = cell_centre(np.float64(cell % nx), np.float64(cell // nx), x0, y0, dx, dy)
        for e in range(cell_ptr[cell], cell_ptr[cell + 1]):
            poly = entry_poly[e]
            state = COVERED
            if entry_boundary[e]:
                state = _covers_entry(blob, offsets, bounds, poly, px[k], py[k], e, cx, cy,
                                      edge_ptr, edge_at, entry_ref)  # fmt: skip
                if state == OUTSIDE:
                    continue
            points[m] = k
            polys[m] = poly
            states[m] = state
            m += 1
    return points[:m], polys[:m], states[:m]


@njit(cache=True, nogil=True, inline="always")
def _first_covering(
    x, y, grid, cell_ptr, entry_poly, entry_boundary, bounds, blob, offsets, edge_ptr, edge_at,
    entry_ref,
):  # fmt: skip
    """The lowest row of the polygons covering (x, y) — a cell lists its polygons by row — or
    -1 for none, ``NOT_DECIDED`` where GEOS must tell. ``grid``: x0, y0, dx, dy, nx, ny."""
    fx = math.floor((x - grid[0]) / grid[2])
    fy = math.floor((y - grid[1]) / grid[3])
    if not (0 <= fx < grid[4] and 0 <= fy < grid[5]):
        return -1
    cell = np.int64(fy) * np.int64(grid[4]) + np.int64(fx)
    cx, cy = cell_centre(fx, fy, grid[0], grid[1], grid[2], grid[3])
    for e in range(cell_ptr[cell], cell_ptr[cell + 1]):
        poly = entry_poly[e]
        if not entry_boundary[e]:
            return np.int64(poly)
        state = _covers_entry(blob, offsets, bounds, poly, x, y, e, cx, cy, edge_ptr, edge_at,
                              entry_ref)  # fmt: skip
        if state == COVERED:
            return np.int64(poly)
        if state == UNDECIDED:
            return NOT_DECIDED
    return -1


@njit(cache=True, nogil=True)
def first_covering_rows(
    px, py, x0, y0, dx, dy, nx, ny, cell_ptr, entry_poly, entry_boundary, bounds, blob, offsets,
    edge_ptr, edge_at, entry_ref,
):  # fmt: skip
    """Per point, what :func:`_first_covering` answers — the lowest row of the polygons
    covering it, -1 for none, ``NOT_DECIDED`` where GEOS must tell — without listing every
    covering polygon (:func:`covers_pairs`). The loop is written out: calling
    ``_first_covering`` per point, an inlined function given nine arrays, was 2–6× slower on
    the city's grids, with or without its early returns and with the grid's numbers taken out
    first (most likely the arrays' reference counts, kept at each call)."""
    n = len(px)
    out = np.full(n, -1, dtype=np.int64)
    for k in range(n):
        x, y = px[k], py[k]
        cell, cx, cy = cell_and_centre(x, y, x0, y0, dx, dy, nx, ny)
        if cell < 0:
            continue
        for e in range(cell_ptr[cell], cell_ptr[cell + 1]):
            poly = entry_poly[e]
            if not entry_boundary[e]:
                out[k] = poly
                break
            state = _covers_entry(blob, offsets, bounds, poly, x, y, e, cx, cy, edge_ptr,
                                  edge_at, entry_ref)  # fmt: skip
            if state == COVERED:
                out[k] = poly
                break
            if state == UNDECIDED:
                out[k] = NOT_DECIDED
                break
    return out


@njit(cache=True, nogil=True, inline="always")
def _segment_meets_box(ax, ay, bx, by, minx, miny, maxx, maxy):
    """Whether segment a–b may touch the closed box: False only where the box's four corners
    lie on one side of its line by more than ``_SIDE_MARGIN`` (in the coordinates' units)."""
    if max(ax, bx) < minx or min(ax, bx) > maxx or max(ay, by) < miny or min(ay, by) > maxy:
        return False
    dx, dy = bx - ax, by - ay
    margin = _SIDE_MARGIN * (abs(dx) + abs(dy))
    left = right = False
    for cx, cy in ((minx, miny), (maxx, miny), (minx, maxy), (maxx, maxy)):
        side = dx * (cy - ay) - dy * (cx - ax)
        if side > margin:
            left = True
        elif side < -margin:
            right = True
        else:
            return True  # a corner on (or within the margin of) the line
    return left and right


@njit(cache=True, nogil=True)
def boundary_meets_box(blob, start, minx, miny, maxx, maxy):
    """Whether an edge of the polygon whose WKB starts at ``blob[start]`` may touch the box
    (True too where the WKB is not a 2D little-endian (Multi)Polygon: the caller then asks
    more than it needs, never less)."""
    parts, at = wkb_polygons_at(blob, start)
    if parts < 0:
        return True
    for _ in range(parts):
        rings, at = wkb_rings_at(blob, at)
        if rings < 0:
            return True
        for _ in range(rings):
            count = wkb_u32(blob, at)
            at += 4
            x1, y1 = wkb_f64(blob, at), wkb_f64(blob, at + 8)
            for i in range(1, count):
                x2, y2 = wkb_f64(blob, at + 16 * i), wkb_f64(blob, at + 16 * i + 8)
                if _segment_meets_box(x1, y1, x2, y2, minx, miny, maxx, maxy):
                    return True
                x1, y1 = x2, y2
            at += 16 * count
    return False


@njit(cache=True, nogil=True)
def boundary_in_box(
    minx, miny, maxx, maxy, limit, rank, x0, y0, dx, dy, nx, ny, cell_ptr, entry_poly,
    entry_boundary, bounds, blob, offsets,
):  # fmt: skip
    """Whether an edge of a polygon ranked below ``limit`` (``rank[poly] < limit``) may run
    through the box. The polygons asked are those a cell under the box lists as crossed by an
    edge (a boundary entry): an edge through the box runs through one of those cells."""
    fx0 = max(math.floor((minx - x0) / dx), 0)
    fy0 = max(math.floor((miny - y0) / dy), 0)
    fx1 = min(math.floor((maxx - x0) / dx), nx - 1)
    fy1 = min(math.floor((maxy - y0) / dy), ny - 1)
    for gy in range(fy0, fy1 + 1):
        for gx in range(fx0, fx1 + 1):
            cell = np.int64(gy) * nx + np.int64(gx)
            for e in range(cell_ptr[cell], cell_ptr[cell + 1]):
                poly = entry_poly[e]
                if not entry_boundary[e] or rank[poly] >= limit:
                    continue
                if (
                    bounds[poly, 0] > maxx or bounds[poly, 2] < minx
                    or bounds[poly, 1] > maxy or bounds[poly, 3] < miny
                ):  # fmt: skip
                    continue
                if boundary_meets_box(blob, offsets[poly], minx, miny, maxx, maxy):
                    return True
    return False


@njit(cache=True, nogil=True)
def boundaries_in_boxes(
    minx, miny, maxx, maxy, limit, rank, x0, y0, dx, dy, nx, ny, cell_ptr, entry_poly,
    entry_boundary, bounds, blob, offsets,
):  # fmt: skip
    """:func:`boundary_in_box` for many boxes (``limit`` per box)."""
    out = np.zeros(len(minx), dtype=np.bool_)
    for k in range(len(minx)):
        out[k] = boundary_in_box(minx[k], miny[k], maxx[k], maxy[k], limit[k], rank, x0, y0,
                                 dx, dy, nx, ny, cell_ptr, entry_poly, entry_boundary, bounds,
                                 blob, offsets)  # fmt: skip
    return out


@njit(cache=True, nogil=True)
def lower_best_keys(points, polys, rank, order, number, best_key, best_layer, best_zone, any_zone):
    """One zone layer's turn in the batch's decision, for its (point, zone) pairs in runs of
    equal point (an index query's pairs): every point with a pair has a zone; the least key
    (the zone's rule rank, then its place in the global zone order) of a point's pairs — the
    first on a tie — replaces ``best_key[point]`` where it is lower, with the layer's
    ``number`` and the zone."""
    n = len(points)
    i = 0
    while i < n:
        point = points[i]
        any_zone[point] = True
        zone = polys[i]
        least = (np.int64(rank[zone]) << 32) | np.int64(order[zone])
        j = i + 1
        while j < n and points[j] == point:
            key = (np.int64(rank[polys[j]]) << 32) | np.int64(order[polys[j]])
            if key < least:
                least, zone = key, polys[j]
            j += 1
        if least < best_key[point]:
            best_key[point] = least
            best_layer[point] = number
            best_zone[point] = zone
        i = j


NOT_DECIDED = -3  # a row GEOS must find
ASK = -2  # a row not known beforehand: ask the index


LINK_MISSING = -4  # a grid's chain up to its district breaks: a parent row is missing


def district_chains(present, sizes, parent_rows):
    """Per level (district first) and row, the district its parent rows lead up to, or
    ``LINK_MISSING`` where a link (or a level) is missing on the way: one array of all levels'
    rows (``sizes``: each level's count), and where each level starts in it."""
    levels = len(present)
    sizes = [sizes[level] if present[level] else 0 for level in range(levels)]
    base = np.zeros(levels + 1, dtype=np.int64)
    np.cumsum(sizes, out=base[1:])
    chain = np.full(int(base[-1]), LINK_MISSING, dtype=np.int64)
    if present[0]:
        chain[: sizes[0]] = np.arange(sizes[0])
    for level in range(1, levels):
        if not (present[level] and present[level - 1]):
            continue
        parents = np.asarray(parent_rows[level], dtype=np.int64)
        linked = parents >= 0
        up = np.full(len(parents), LINK_MISSING, dtype=np.int64)
        up[linked] = chain[base[level - 1] + parents[linked]]
        chain[base[level] : base[level + 1]] = up
    return chain, base


@njit(cache=True, nogil=True)
def _rows_at(
    px, py, owner, given, which, grid, cell_ptr, entry_poly, entry_boundary, bounds, blob,
    offsets, edge_ptr, edge_at, entry_ref, out,
):  # fmt: skip
    """``out[k]`` for every sample ``k`` of ``which``: the row its centre is given at this level
    (``given[centre]``), or where that is ``ASK`` the index's lowest row covering it (-1 none,
    ``NOT_DECIDED`` where GEOS must tell), those asked together (:func:`first_covering_rows`)."""
    ask = np.empty(len(which), dtype=np.int64)
    m = 0
    for k in which:
        out[k] = given[owner[k]]
        if out[k] == ASK:
            ask[m] = k
            m += 1
    if m:
        ask = ask[:m]
        rows = first_covering_rows(px[ask], py[ask], grid[0], grid[1], grid[2], grid[3],
                                   np.int64(grid[4]), np.int64(grid[5]), cell_ptr, entry_poly,
                                   entry_boundary, bounds, blob, offsets, edge_ptr, edge_at,
                                   entry_ref)  # fmt: skip
        for i in range(m):
            out[ask[i]] = rows[i]


@njit(cache=True, nogil=True)
def _walk_up(
    x, y, centre, found_at, found_row, given, present, grids, cell_ptr, entry_poly,
    entry_boundary, bounds, blob, offsets, edge_ptr, edge_at, entry_ref, parent_rows,
):  # fmt: skip
    """One sample's district from the level it was found at, through the parent rows, asking
    the index where a link is missing (``NOT_DECIDED`` where GEOS must tell)."""
    row = found_row  # at the level below the one asked next: -1 for none or a missing level
    for level in range(found_at - 1, -1, -1):
        if not present[level]:
            row = -1
            continue
        row = parent_rows[level + 1][row] if row >= 0 else -1
        if row < 0:
            row = given[level, centre]
            if row == ASK:
                row = _first_covering(x, y, grids[level], cell_ptr[level], entry_poly[level],
                    entry_boundary[level], bounds[level], blob[level], offsets[level],
                    edge_ptr[level], edge_at[level], entry_ref[level])  # fmt: skip
            if row == NOT_DECIDED:
                return NOT_DECIDED
    return row


@njit(cache=True, nogil=True)
def sample_districts(
    px, py, owner, given, present, grids, cell_ptr, entry_poly, entry_boundary, bounds, blob,
    offsets, edge_ptr, edge_at, entry_ref, parent_rows, chain, chain_base,
):  # fmt: skip
    """Per sample point, the district row of its grid chain (-1 none, ``NOT_DECIDED`` where
    GEOS must tell), as ``rings.districts_at``: the lowest level found spatially, then up
    through the parent rows (``chain``: where they lead, :func:`district_chains`), spatially
    where a link is missing. Levels are numbered district first; per level, the index's
    arrays are items of the tuples, taken out once a level (each take costs a reference
    count). ``given[level, centre]``: the row each centre is known to have there (-1 none),
    ``ASK`` where the index must be asked; ``owner``: each sample's centre."""
    levels, n = len(present), len(px)
    found_row = np.full(n, -1, dtype=np.int64)
    found_at = np.full(n, -1, dtype=np.int64)
    which = np.arange(n)
    pending = n  # which[:pending]: the samples no level has answered yet, lowest level first
    for level in range(levels - 1, -1, -1):
        if not present[level] or pending == 0:
            continue
        _rows_at(px, py, owner, given[level], which[:pending], grids[level], cell_ptr[level],
                 entry_poly[level], entry_boundary[level], bounds[level], blob[level],
                 offsets[level], edge_ptr[level], edge_at[level], entry_ref[level],
                 found_row)  # fmt: skip
        left = 0
        for i in range(pending):
            k = which[i]
            if found_row[k] == NOT_DECIDED or found_row[k] >= 0:
                found_at[k] = level
            else:
                which[left] = k
                left += 1
        pending = left
    out = np.empty(n, dtype=np.int64)
    for k in range(n):
        at, row = found_at[k], found_row[k]
        if at < 0 or row == NOT_DECIDED:
            out[k] = -1 if at < 0 else NOT_DECIDED
            continue
        district = chain[chain_base[at] + row]
        if district == LINK_MISSING:
            district = _walk_up(px[k], py[k], owner[k], at, row, given, present, grids,
                                cell_ptr, entry_poly, entry_boundary, bounds, blob, offsets,
                                edge_ptr, edge_at, entry_ref, parent_rows)  # fmt: skip
        out[k] = district
    return out


@njit(cache=True, nogil=True)
def _layer_ranks(
    px, py, owner, possible, lent, plain_ok, covered, centre_best, rank, grid, cell_ptr,
    entry_poly, entry_boundary, bounds, blob, offsets, edge_ptr, edge_at, entry_ref, best,
    any_zone, undecided,
):  # fmt: skip
    """One zone layer's turn for every sample (see :func:`sample_best_ranks`)."""
    x0, y0, dx, dy, nx, ny = grid[0], grid[1], grid[2], grid[3], np.int64(grid[4]), grid[5]
    for k in range(len(px)):
        b, hit = best[k], any_zone[k]
        if hit and b <= possible:
            continue  # no zone of this layer (or a later one) could better it
        centre = owner[k]
        if lent and plain_ok[centre]:
            any_zone[k] = hit or covered[centre]
            best[k] = min(b, centre_best[centre])
            continue
        x, y = px[k], py[k]
        cell, cx, cy = cell_and_centre(x, y, x0, y0, dx, dy, nx, ny)
        if cell < 0:
            continue
        for e in range(cell_ptr[cell], cell_ptr[cell + 1]):
            poly = entry_poly[e]
            if entry_boundary[e]:
                state = _covers_entry(blob, offsets, bounds, poly, x, y, e, cx, cy, edge_ptr,
                                      edge_at, entry_ref)  # fmt: skip
                if state == OUTSIDE:
                    continue
                if state == UNDECIDED:
                    undecided[k] = True
                    continue
            hit = True
            b = min(b, np.int64(rank[poly]))
            if b <= possible:
                break  # no other zone of the layer could better it
        best[k] = b
        any_zone[k] = hit


@njit(cache=True, nogil=True)
def sample_best_ranks(
    px, py, owner, order, possible, lent, plain_ok, covered, centre_best, ranks, no_rule,
    grids, cell_ptr, entry_poly, entry_boundary, bounds, blob, offsets, edge_ptr, edge_at,
    entry_ref,
):  # fmt: skip
    """Per sample point, the best rule rank of the zones covering it (``no_rule`` for none),
    whether any zone covers it, and whether GEOS must tell — as ``rings.best_ranks_at``: the
    layers asked best rule first (``order``; ``possible``, the best rank a layer can give),
    a sample no longer asked once a layer could not better it; a layer whose tolerance box
    around the sample's centre is plain (``lent[layer]`` and ``plain_ok[layer, centre]``)
    lends the centre's answer (``covered``, ``centre_best``) instead of a query. Layer by
    layer, so that each layer's arrays are taken out of the tuples once."""
    n = len(px)
    best = np.full(n, no_rule, dtype=np.int64)
    any_zone = np.zeros(n, dtype=np.bool_)
    undecided = np.zeros(n, dtype=np.bool_)
    for layer in order:
        _layer_ranks(px, py, owner, possible[layer], lent[layer], plain_ok[layer], covered[layer],
                     centre_best[layer], ranks[layer], grids[layer], cell_ptr[layer],
                     entry_poly[layer], entry_boundary[layer], bounds[layer], blob[layer],
                     offsets[layer], edge_ptr[layer], edge_at[layer], entry_ref[layer], best,
                     any_zone, undecided)  # fmt: skip
    return best, any_zone, undecided
