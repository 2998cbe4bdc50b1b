"""One point's cells in every layer of a snapshot, and its decision, in one compiled call.

A single look-up asks each zone layer and each grid level which polygons cover the point. Each
of those cell queries is a few hundred nanoseconds of work behind some 5 µs of calling it: the
compiled function checks and unpacks its fourteen arguments, and Python builds the point's
cell, the list of hits and the call itself, seven times a look-up.

:class:`Locator` makes that one call. It keeps a table of where every layer's arrays lie in
memory (address and length, a row per layer) and the layers' grids, two arrays. The compiled
loop views each layer's arrays from the table (``numba.carray``, no copy) and asks the cell's
polygons as :func:`~weijian.jurisdiction.kernels.cell_covering` does (both through
:func:`~weijian.jurisdiction.kernels.append_covering`). The locator holds a
reference to every array the table points into: they live, and stay where they are, as long
as it does.

On the same table, :func:`decide_cells` decides the point in that one call — its zones in the
answer's order, the deciding zone (the lowest rule rank, then global order) and the grid chain
— given a second small table of where each layer's rule ranks and order lie and each grid
level's parent rows (``Snapshot.decide_one``); :func:`ring_cells` decides the 24 samples of
its rings (the ambiguity check) the same way, drawn by :func:`ring_lonlat`. Both are tested
against the decisions made from the cells' polygons and the batch's arrays, and leave to the
callers' slower paths any point where GEOS must tell.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import carray, njit, types
from numba.extending import intrinsic
from shapely.lib import intersects_xy

from weijian.gis.gauss_kruger import inverse_xy
from weijian.jurisdiction.index import PolygonIndex
from weijian.jurisdiction.kernels import append_covering, cell_centre

#: the arrays of a layer in a table row, each as (address, length), in this order and type
FIELDS = (
    ("cell_ptr", np.int64),
    ("entry_poly", np.int32),
    ("entry_boundary", np.bool_),
    ("bounds", np.float64),  # (polygons, 4): its length is the polygons'
    ("wkb_blob", np.uint8),
    ("wkb_offsets", np.int64),
    ("edge_ptr", np.int64),
    ("edge_at", np.uint32),
    ("entry_ref", np.int8),
    ("cell_has_boundary", np.bool_),
)
#: the table's column of a layer's ``cell_has_boundary`` address (its length follows)
_HAS_BOUNDARY = 2 * [name for name, _ in FIELDS].index("cell_has_boundary")


@intrinsic
def _pointer(typingctx, address, kind):
    """The memory at ``address`` (an int64) as a pointer to ``kind`` (a numpy scalar type)."""
    target = types.CPointer(kind.dtype)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(target))

    return target(types.int64, kind), codegen


@njit(cache=True, nogil=True, inline="always")
def _column_row(grid, x, y):
    """The column and row (floored, as floats) of (x, y) in ``grid`` (x0, y0, dx, dy, nx, ny),
    (-1, -1) outside it (as ``Grid.column_row``)."""
    fx, fy = np.floor((x - grid[0]) / grid[2]), np.floor((y - grid[1]) / grid[3])
    if not (0 <= fx < grid[4] and 0 <= fy < grid[5]):
        return -1.0, -1.0
    return fx, fy


@njit(cache=True, nogil=True)
def locate_cells(table, grids, x, y):
    """The polygons of every layer covering (x, y): the hits of all the layers one after the
    other, each layer's in its cell's order (``-1 - poly`` where GEOS must tell), and how many
    each layer has. ``grids[layer]`` is its grid's x0, y0, dx, dy, nx, ny."""
    layers = grids.shape[0]
    counts = np.zeros(layers, dtype=np.int64)
    found = np.empty(16, dtype=np.int64)
    m = 0
    for n in range(layers):
        grid = grids[n]
        fx, fy = _column_row(grid, x, y)
        if fx < 0:
            continue
        cell = np.int64(fy) * np.int64(grid[4]) + np.int64(fx)
        cx, cy = cell_centre(fx, fy, grid[0], grid[1], grid[2], grid[3])
        row = table[n]
        cell_ptr = carray(_pointer(row[0], np.int64), row[1])
        entry_poly = carray(_pointer(row[2], np.int32), row[3])
        entry_boundary = carray(_pointer(row[4], np.bool_), row[5])
        bounds = carray(_pointer(row[6], np.float64), (row[7], 4))
        blob = carray(_pointer(row[8], np.uint8), row[9])
        offsets = carray(_pointer(row[10], np.int64), row[11])
        edge_ptr = carray(_pointer(row[12], np.int64), row[13])
        edge_at = carray(_pointer(row[14], np.uint32), row[15])
        entry_ref = carray(_pointer(row[16], np.int8), row[17])
        before = m
        found, m = append_covering(found, m, cell, x, y, cx, cy, cell_ptr, entry_poly,
                                   entry_boundary, bounds, blob, offsets, edge_ptr, edge_at,
                                   entry_ref)  # fmt: skip
        counts[n] = m - before
    return found[:m], counts


#: ``decide_cells``' answer: its status, the deciding zone (layer, zone, rule rank), then the
#: grid rows and the zones
UNDECIDED, BEST_LAYER, BEST_ZONE, BEST_RANK, CHAIN = 0, 1, 2, 3, 4


@njit(cache=True, nogil=True)
def decide_cells(table, grids, keys, zones, x, y):
    """One point's decision in one call: the polygons of every layer covering (x, y) (as
    :func:`locate_cells`), the deciding zone — the lowest (rule rank, global order) of the
    zone layers' hits — and the grid chain, each level's row: the lowest level's lowest hit,
    its ancestors through their parent rows, spatially where a link is missing (as
    ``engine.grid_chain``). The first ``zones`` indexes are zone layers, whose ``keys`` row is
    (address, length) of their ranks (int32) and of their global order (int64); the grid
    levels' row is (address, length) of their parent rows (int64) and their level's position.

    The answer: ``UNDECIDED`` 1 where GEOS must tell whether a polygon covers the point (the
    caller asks the long way), else the best layer, zone (-1: no zone) and rank, a row per grid
    level (-1: none), the number of zones covering and their (layer, zone) in global order."""
    found, counts = locate_cells(table, grids, x, y)
    layers = grids.shape[0]
    levels = layers - zones
    out = np.full(CHAIN + levels + 1 + 2 * len(found), -1, dtype=np.int64)
    out[UNDECIDED] = 0
    for k in range(len(found)):
        if found[k] < 0:
            out[UNDECIDED] = 1
            return out[:1]
    # the zones: the best by (rank, order), and every zone with its order for the answer's
    pair_order = np.empty(len(found), dtype=np.int64)
    best_rank, best_order, at, m = np.int64(-1), np.int64(-1), 0, 0
    answer_at = CHAIN + levels + 1
    for n in range(zones):
        key = keys[n]
        rank = carray(_pointer(key[0], np.int32), key[1])
        order = carray(_pointer(key[2], np.int64), key[3])
        for k in range(at, at + counts[n]):
            i = found[k]
            r, o = np.int64(rank[i]), order[i]
            if out[BEST_LAYER] < 0 or r < best_rank or (r == best_rank and o < best_order):
                out[BEST_LAYER], out[BEST_ZONE], best_rank, best_order = n, i, r, o
            # insertion into the zones kept in global order (a point has a handful)
            j = m
            while j > 0 and pair_order[j - 1] > o:
                pair_order[j] = pair_order[j - 1]
                out[answer_at + 2 * j] = out[answer_at + 2 * j - 2]
                out[answer_at + 2 * j + 1] = out[answer_at + 2 * j - 1]
                j -= 1
            pair_order[j] = o
            out[answer_at + 2 * j], out[answer_at + 2 * j + 1] = n, i
            m += 1
        at += counts[n]
    out[BEST_RANK] = best_rank
    out[answer_at - 1] = m
    # the grid chain: each level's lowest hit, from the lowest level found
    lowest_hit = np.full(levels, -1, dtype=np.int64)
    for g in range(levels):
        for k in range(at, at + counts[zones + g]):
            if lowest_hit[g] < 0 or found[k] < lowest_hit[g]:
                lowest_hit[g] = found[k]
        at += counts[zones + g]
    lowest = levels - 1
    while lowest >= 0 and lowest_hit[lowest] < 0:
        lowest -= 1
    if lowest >= 0:
        out[CHAIN + lowest] = lowest_hit[lowest]
        for g in range(lowest - 1, -1, -1):
            lower, row = keys[zones + g + 1], np.int64(-1)
            below = out[CHAIN + g + 1]
            if lower[2] == keys[zones + g][2] + 1 and below >= 0 and lower[1] > 0:
                row = carray(_pointer(lower[0], np.int64), lower[1])[below]
            out[CHAIN + g] = row if row >= 0 else lowest_hit[g]
    return out[: answer_at + 2 * m]


@njit(cache=True, nogil=True, inline="always")
def _cell(grid, x, y):
    """The cell of (x, y) in ``grid``, -1 outside it (as ``PolygonIndex.cell_one``)."""
    fx, fy = _column_row(grid, x, y)
    return np.int64(-1) if fx < 0 else np.int64(fy) * np.int64(grid[4]) + np.int64(fx)


@njit(cache=True, nogil=True, inline="always")
def _outside(grid, minx, miny, maxx, maxy):
    """Whether the box lies wholly outside ``grid`` (as ``Grid.boxes_outside``)."""
    return (
        (maxx - grid[0]) / grid[2] < 0
        or (minx - grid[0]) / grid[2] >= grid[4]
        or (maxy - grid[1]) / grid[3] < 0
        or (miny - grid[1]) / grid[3] >= grid[5]
    )


@njit(cache=True, nogil=True)
def plain_boxes(table, grids, minx, miny, maxx, maxy):
    """Per layer, whether the box lies in one cell that no polygon edge crosses (or wholly
    outside the grid; both corners outside is not enough): every point of it is covered by
    the same polygons of the layer (as
    ``PolygonIndex.box_is_plain_one``)."""
    layers = grids.shape[0]
    plain = np.zeros(layers, dtype=np.bool_)
    for n in range(layers):
        low, high = _cell(grids[n], minx, miny), _cell(grids[n], maxx, maxy)
        if low != high:
            continue
        if low < 0:
            plain[n] = _outside(grids[n], minx, miny, maxx, maxy)
            continue
        at = _HAS_BOUNDARY
        has_boundary = carray(_pointer(table[n, at], np.bool_), table[n, at + 1])
        plain[n] = not has_boundary[low]
    return plain


@njit(cache=True, nogil=True)
def ring_lonlat(x, y, tolerance, ring_cos, ring_sin, central_meridian, false_easting):
    """Per point (x[k], y[k] in Gauss-Krüger metres), its ring samples in lon/lat: the centre,
    and the points ``tolerance`` east and north of it, projected back, and each sample the
    centre plus ``ring_cos[j]`` of the east step and ``ring_sin[j]`` of the north one."""
    n, m = len(x), len(ring_cos)
    lon = np.empty((n, m), dtype=np.float64)
    lat = np.empty((n, m), dtype=np.float64)
    for k in range(n):
        lon0, lat0 = inverse_xy(x[k], y[k], central_meridian, false_easting)
        lon_e, lat_e = inverse_xy(x[k] + tolerance, y[k], central_meridian, false_easting)
        lon_n, lat_n = inverse_xy(x[k], y[k] + tolerance, central_meridian, false_easting)
        for j in range(m):
            lon[k, j] = lon0 + (lon_e - lon0) * ring_cos[j] + (lon_n - lon0) * ring_sin[j]
            lat[k, j] = lat0 + (lat_e - lat0) * ring_cos[j] + (lat_n - lat0) * ring_sin[j]
    return lon, lat


@njit(cache=True, nogil=True)
def ring_cells(table, grids, keys, zones, district, x, y, tolerance, ring_cos, ring_sin,
               central_meridian, false_easting, no_rule):  # fmt: skip
    """The decisions on a point's rings (the ambiguity check), in one call: the samples drawn
    as :func:`ring_lonlat` draws them around (x, y) in Gauss-Krüger, each decided as
    :func:`decide_cells` decides. Per sample, in order: whether GEOS must tell (the caller
    asks the long way), the best rule rank of its zones (``no_rule`` for none), whether a
    zone covers it, and its district's row (-1: none; ``district``, the district level's
    index among the grid levels, -1 without one)."""
    xs, ys = np.full(1, x), np.full(1, y)
    lon, lat = ring_lonlat(xs, ys, tolerance, ring_cos, ring_sin, central_meridian,
                           false_easting)  # fmt: skip
    samples = lon.shape[1]
    levels = grids.shape[0] - zones
    out = np.full((samples, 4), -1, dtype=np.int64)
    for j in range(samples):
        decided = decide_cells(table, grids, keys, zones, lon[0, j], lat[0, j])
        out[j, 0] = decided[UNDECIDED]
        if decided[UNDECIDED]:
            return out
        covered = decided[CHAIN + levels] > 0
        out[j, 1] = decided[BEST_RANK] if covered else no_rule
        out[j, 2] = covered
        if district >= 0:
            out[j, 3] = decided[CHAIN + district]
    return out


class Locator:
    """The cell queries of ``indexes`` (a snapshot's zone layers, then its grid levels) for
    one point in one compiled call: :meth:`query` answers what each index's ``query_one``
    answers."""

    def __init__(self, indexes: Sequence[PolygonIndex]):
        self.indexes = list(indexes)
        self._arrays = []  # every array the table points into, kept alive with the locator
        rows = []
        for index in self.indexes:
            row = []
            for name, dtype in FIELDS:
                source = getattr(index.geoms if name.startswith("wkb_") else index, name)
                array = np.ascontiguousarray(source, dtype=dtype)  # a copy only if it must
                self._arrays.append(array)
                row += [array.ctypes.data, len(array)]
            rows.append(row)
        self.table = np.array(rows, dtype=np.int64).reshape(len(rows), 2 * len(FIELDS))
        grids = [index.grid for index in self.indexes]
        self.grids = np.array(
            [[g.x0, g.y0, g.dx, g.dy, g.nx, g.ny] for g in grids], dtype=np.float64
        ).reshape(len(grids), 6)

    def plain(self, minx: float, miny: float, maxx: float, maxy: float) -> list[bool]:
        """Per index, :meth:`PolygonIndex.box_is_plain_one` of the box."""
        return plain_boxes(self.table, self.grids, minx, miny, maxx, maxy).tolist()

    def decide(self, keys: np.ndarray, zones: int, x: float, y: float) -> list[int] | None:
        """:func:`decide_cells` of (x, y) as a list; None where GEOS must tell (ask
        :meth:`query` and decide the long way)."""
        out = decide_cells(self.table, self.grids, keys, zones, x, y).tolist()
        return None if out[UNDECIDED] else out

    def query(self, x: float, y: float) -> list[list[int]]:
        """Per index, the polygons covering (x, y) in its cell's order (GEOS asked for what
        the compiled test leaves undecided)."""
        found, counts = locate_cells(self.table, self.grids, x, y)
        found, counts = found.tolist(), counts.tolist()
        out, at = [], 0
        for index, count in zip(self.indexes, counts, strict=True):
            hits = found[at : at + count]
            at += count
            if hits and min(hits) < 0:
                geoms = index.geoms
                hits = [p if p >= 0 else -1 - p for p in hits
                        if p >= 0 or intersects_xy(geoms.one(-1 - p), x, y)]  # fmt: skip
            out.append(hits)
        return out
