"""Point-in-polygon at memory speed: a uniform cell grid over a layer's polygons.

Each cell lists the polygons that touch it, marked *interior* (the closed cell lies inside the
polygon: any point in it is covered, no test needed) or *boundary* (an edge of the polygon runs
through the cell: the point is tested exactly, by the compiled loops on the polygon's WKB or by
GEOS where they cannot tell; a long boundary only by the edges through the cell, from the cell's
centre, whose side is known). Cells no polygon touches are empty. Most points fall in interior
or empty cells and are answered by array look-ups alone; the rest need one exact test per
touching polygon. The answer is PostGIS ``ST_Covers``:
a point on an edge or a vertex is covered.

Boundary cells are found by cutting every polygon edge at the grid lines (each piece lies in one
cell); cells of a polygon's bounding box that no edge crosses are wholly inside or outside, and
their centre decides which.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.lib import intersects_xy

from weijian.jurisdiction.kernels import (
    CLIP_VERTICES,
    NOT_DECIDED,
    UNDECIDED,
    boundaries_in_boxes,
    boundary_in_box,
    cell_covering,
    cell_edges,
    covers_pairs,
    first_covering_rows,
)

MAX_CELLS = 4_000_000
MIN_CELLS = 65_536
# the grid origin is offset by an odd fraction of a cell so that data on round coordinates do
# not fall on grid lines
ORIGIN_JITTER = 0.3819660113


@dataclass(frozen=True)
class Grid:
    x0: float
    y0: float
    dx: float
    dy: float
    nx: int
    ny: int

    def cell_of(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Cell number of each point; -1 outside the grid (or NaN)."""
        fx = np.floor((x - self.x0) / self.dx)
        fy = np.floor((y - self.y0) / self.dy)
        ok = (fx >= 0) & (fx < self.nx) & (fy >= 0) & (fy < self.ny)
        # in floating point, exact below 2**53 cells; the points outside never reach the cast
        return np.where(ok, fy * self.nx + fx, -1.0).astype(np.int64)

    def boxes_outside(self, minx, miny, maxx, maxy):
        """Where a box lies wholly outside the grid (both of its corners outside it is not
        enough: a box may reach over the grid's corner from outside). Arrays or floats."""
        return (
            ((maxx - self.x0) / self.dx < 0)
            | ((minx - self.x0) / self.dx >= self.nx)
            | ((maxy - self.y0) / self.dy < 0)
            | ((miny - self.y0) / self.dy >= self.ny)
        )

    def column_row(self, x: float, y: float) -> tuple[int, int] | None:
        """:meth:`cell_of` for one point, as (column, row); None outside the grid."""
        fx = (x - self.x0) / self.dx
        fy = (y - self.y0) / self.dy
        if not (0 <= fx < self.nx and 0 <= fy < self.ny):
            return None
        return int(fx), int(fy)


def _choose_grid(geoms: np.ndarray, cells_per_polygon: float) -> Grid:
    bounds = shapely.bounds(geoms)
    minx, miny = bounds[:, 0].min(), bounds[:, 1].min()
    maxx, maxy = bounds[:, 2].max(), bounds[:, 3].max()
    widths = np.maximum(bounds[:, 2] - bounds[:, 0], 1e-9)
    heights = np.maximum(bounds[:, 3] - bounds[:, 1], 1e-9)
    # aim for ~cells_per_polygon cells across a typical polygon, within the cell budget
    typical = float(np.median(np.sqrt(widths * heights)))
    span_x, span_y = (maxx - minx) or 1e-6, (maxy - miny) or 1e-6
    size = min(typical / math.sqrt(cells_per_polygon), math.sqrt(span_x * span_y / MIN_CELLS))
    size = max(size, math.sqrt(span_x * span_y / MAX_CELLS))
    nx = int(span_x / size) + 2
    ny = int(span_y / size) + 2
    return Grid(
        x0=minx - ORIGIN_JITTER * size,
        y0=miny - ORIGIN_JITTER * size,
        dx=size,
        dy=size,
        nx=nx,
        ny=ny,
    )


def _edges(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(polygon index, start xy, end xy) of every ring segment."""
    parts, part_owner = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    ring_owner = part_owner[ring_part]
    coords, vertex_ring = shapely.get_coordinates(rings, return_index=True)
    same = vertex_ring[1:] == vertex_ring[:-1]
    start = coords[:-1][same]
    end = coords[1:][same]
    owner = ring_owner[vertex_ring[:-1][same]]
    return owner, start, end


def _boundary_pairs(
    grid: Grid, owner: np.ndarray, start: np.ndarray, end: np.ndarray
) -> np.ndarray:
    """Unique (polygon, cell) pairs where an edge passes through the cell, as int64 keys
    polygon * ncells + cell: the cells of both ends of every edge, and of both sides of every
    grid line an edge crosses."""
    ncells = grid.nx * grid.ny
    gx0 = (start[:, 0] - grid.x0) / grid.dx
    gy0 = (start[:, 1] - grid.y0) / grid.dy
    gx1 = (end[:, 0] - grid.x0) / grid.dx
    gy1 = (end[:, 1] - grid.y0) / grid.dy
    fx0, fy0, fx1, fy1 = np.floor(gx0), np.floor(gy0), np.floor(gx1), np.floor(gy1)

    def keys(poly: np.ndarray, ix: np.ndarray, iy: np.ndarray) -> np.ndarray:
        ix = np.minimum(np.maximum(ix, 0), grid.nx - 1).astype(np.int64)
        iy = np.minimum(np.maximum(iy, 0), grid.ny - 1).astype(np.int64)
        return poly * ncells + iy * grid.nx + ix

    parts = [keys(owner, fx0, fy0)]
    # vertical grid lines crossed: both cells beside the crossing point
    kx = np.abs(fx1 - fx0).astype(np.int64)
    if kx.any():
        seg = np.repeat(np.arange(len(owner)), kx)
        k = np.arange(len(seg)) - np.repeat(np.cumsum(kx) - kx, kx)
        line = np.where(gx1[seg] > gx0[seg], fx0[seg] + 1 + k, fx0[seg] - k)
        t = (line - gx0[seg]) / (gx1[seg] - gx0[seg])
        row = np.floor(gy0[seg] + t * (gy1[seg] - gy0[seg]))
        parts += [keys(owner[seg], line - 1, row), keys(owner[seg], line, row)]
    ky = np.abs(fy1 - fy0).astype(np.int64)
    if ky.any():
        seg = np.repeat(np.arange(len(owner)), ky)
        k = np.arange(len(seg)) - np.repeat(np.cumsum(ky) - ky, ky)
        line = np.where(gy1[seg] > gy0[seg], fy0[seg] + 1 + k, fy0[seg] - k)
        t = (line - gy0[seg]) / (gy1[seg] - gy0[seg])
        column = np.floor(gx0[seg] + t * (gx1[seg] - gx0[seg]))
        parts += [keys(owner[seg], column, line - 1), keys(owner[seg], column, line)]
    found = np.concatenate(parts)
    # neighbouring edges mostly share a cell: drop repeats in a row before sorting
    if len(found) > 1:
        found = found[np.concatenate([[True], found[1:] != found[:-1]])]
    return _sorted_unique(found)


def _sorted_unique(keys: np.ndarray) -> np.ndarray:
    """``np.unique`` of int64 keys by sorting (numpy's hash-based unique is several times
    slower on tens of millions of keys)."""
    keys = np.sort(keys)
    if len(keys) > 1:
        keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])]
    return keys


def _contained(keys: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """Whether each key is in ``sorted_keys`` (sorted, unique): ``np.isin`` by binary search."""
    if not len(sorted_keys):
        return np.zeros(len(keys), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return sorted_keys[at] == keys


WARM_VERTICES = 256
#: polygons a lazily decoded index keeps decoded at once (about 2.5 KB each, prepared)
DECODED_LIMIT = 131_072


def _warm(geoms: np.ndarray) -> None:
    """Build the point locators of the large prepared polygons now: GEOS builds one on a
    polygon's first exact test, which for a district or a town of thousands of vertices takes
    milliseconds — paid here once, not by the first request to touch it."""
    if not len(geoms):
        return
    big = geoms[shapely.get_num_coordinates(geoms) > WARM_VERTICES]
    if len(big):
        first = shapely.get_coordinates(shapely.get_exterior_ring(shapely.get_geometry(big, 0)))
        starts = np.concatenate(
            [
                [0],
                np.cumsum(
                    shapely.get_num_coordinates(
                        shapely.get_exterior_ring(shapely.get_geometry(big, 0))
                    )
                )[:-1],
            ]
        )
        shapely.intersects_xy(big, first[starts, 0], first[starts, 1])


@dataclass(frozen=True)
class IndexArrays:
    """A built index: its grid, its entries per cell, and the polygons' total bounds."""

    grid: Grid
    cell_ptr: np.ndarray  # int64, ncells + 1: entries of cell c are cell_ptr[c]:cell_ptr[c+1]
    entry_poly: np.ndarray  # int32
    entry_boundary: np.ndarray  # bool: the entry needs an exact test
    cell_has_boundary: np.ndarray  # bool per cell
    total_bounds: tuple[float, float, float, float]
    bounds: np.ndarray  # float64 (polygons, 4): each polygon's minx, miny, maxx, maxy
    #: per entry, the edges of its polygon that may touch its cell (``kernels.cell_edges``):
    #: they are edge_at[edge_ptr[e]:edge_ptr[e+1]], byte offsets into the polygon's WKB
    edge_ptr: np.ndarray | None = None  # int64, entries + 1
    edge_at: np.ndarray | None = None  # uint32
    entry_ref: np.ndarray | None = None  # int8 per entry: whether its cell's centre is covered

    def with_cell_edges(
        self, wkb: tuple[np.ndarray, np.ndarray], clip_vertices: int = CLIP_VERTICES
    ) -> IndexArrays:
        """These arrays with each boundary entry's own edges (of the polygons of more than
        ``clip_vertices`` vertices), read off ``wkb``: the polygons' WKB as the index will read
        it (:func:`packed`)."""
        g = self.grid
        edges = cell_edges(g.x0, g.y0, g.dx, g.dy, g.nx, self.cell_ptr, self.entry_poly,
                           self.entry_boundary, *wkb, clip_vertices)  # fmt: skip
        return dataclasses.replace(self, edge_ptr=edges[0], edge_at=edges[1], entry_ref=edges[2])


BUILD_CHUNK = 65_536


def _interior_keys(
    grid: Grid, geoms: np.ndarray, offset: int, boundary_keys: np.ndarray
) -> np.ndarray:
    """Keys of the cells of each polygon's bounding box that no edge crosses and whose centre
    the polygon contains (``geoms`` are the polygons ``offset``, ``offset`` + 1, …)."""
    ncells = grid.nx * grid.ny
    bounds = shapely.bounds(geoms)
    ix0 = np.clip(np.floor((bounds[:, 0] - grid.x0) / grid.dx), 0, grid.nx - 1).astype(int)
    ix1 = np.clip(np.floor((bounds[:, 2] - grid.x0) / grid.dx), 0, grid.nx - 1).astype(int)
    iy0 = np.clip(np.floor((bounds[:, 1] - grid.y0) / grid.dy), 0, grid.ny - 1).astype(int)
    iy1 = np.clip(np.floor((bounds[:, 3] - grid.y0) / grid.dy), 0, grid.ny - 1).astype(int)
    w = ix1 - ix0 + 1
    h = iy1 - iy0 + 1
    counts = (w * h).astype(np.int64)
    local_poly = np.repeat(np.arange(len(geoms), dtype=np.int64), counts)
    local = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    cx = ix0[local_poly] + local % w[local_poly]
    cy = iy0[local_poly] + local // w[local_poly]
    keys = (local_poly + offset) * ncells + cy * grid.nx + cx
    inner = ~_contained(keys, boundary_keys)
    keys, local_poly, cx, cy = keys[inner], local_poly[inner], cx[inner], cy[inner]
    centre_x = grid.x0 + (cx + 0.5) * grid.dx
    centre_y = grid.y0 + (cy + 0.5) * grid.dy
    return keys[shapely.contains_xy(geoms[local_poly], centre_x, centre_y)]


def build_index(geoms: np.ndarray, cells_per_polygon: float = 12.0) -> IndexArrays:
    """The index of ``geoms``, built in chunks of polygons so that a layer of millions of
    parcels never holds all its edges at once; its cells' own edges are then read off the
    WKB (:meth:`IndexArrays.with_cell_edges`)."""
    n = len(geoms)
    if n == 0:
        return IndexArrays(
            Grid(0, 0, 1, 1, 1, 1),
            np.zeros(2, dtype=np.int64),
            np.zeros(0, dtype=np.int32),
            np.zeros(0, dtype=bool),
            np.zeros(1, dtype=bool),
            (0.0, 0.0, 0.0, 0.0),
            np.zeros((0, 4)),
        )
    grid = _choose_grid(geoms, cells_per_polygon)
    ncells = grid.nx * grid.ny
    interior, boundary = [], []
    for offset in range(0, n, BUILD_CHUNK):
        part = geoms[offset : offset + BUILD_CHUNK]
        owner, start, end = _edges(part)
        keys = _boundary_pairs(grid, owner + offset, start, end)
        boundary.append(keys)
        interior.append(_interior_keys(grid, part, offset, keys))
    interior_keys = np.concatenate(interior)
    boundary_keys = np.concatenate(boundary)
    all_keys = np.concatenate([interior_keys, boundary_keys])
    is_boundary = np.concatenate(
        [np.zeros(len(interior_keys), bool), np.ones(len(boundary_keys), bool)]
    )
    cells = all_keys % ncells
    polys = all_keys // ncells
    order = np.lexsort((polys, cells))
    cell_ptr = np.zeros(ncells + 1, dtype=np.int64)
    np.cumsum(np.bincount(cells, minlength=ncells), out=cell_ptr[1:])
    cell_has_boundary = np.zeros(ncells, dtype=bool)
    cell_has_boundary[cells[is_boundary]] = True
    return IndexArrays(
        grid,
        cell_ptr,
        polys[order].astype(np.int32),
        is_boundary[order],
        cell_has_boundary,
        tuple(float(v) for v in shapely.total_bounds(geoms)),
        shapely.bounds(geoms),
    )


def packed(values) -> tuple[np.ndarray, np.ndarray]:
    """Byte strings in one (writable) byte array, with the offsets where each starts."""
    offsets = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum([len(v) for v in values], out=offsets[1:])
    return np.frombuffer(bytearray(b"".join(values)), dtype=np.uint8), offsets


class Geoms:
    """The polygons of an index, each decoded from its WKB and prepared when first needed.

    A layer read from the snapshot's shared files holds only WKB (mapped from the file, shared
    by every process of the machine): a process decodes and prepares the polygons its points
    fall on, not the million it never touches. Built from geometries, all are at hand."""

    def __init__(
        self,
        count: int,
        wkb: np.ndarray | None = None,
        offsets: np.ndarray | None = None,
        objects: np.ndarray | None = None,
        limit: int | None = None,
    ):
        self.objects = np.empty(count, dtype=object) if objects is None else objects
        # which objects are there: a mask, as comparing objects to None calls their __eq__
        self._have = np.full(count, objects is not None, dtype=bool)
        self._wkb = wkb
        self._offsets = offsets
        #: every polygon's WKB, which the compiled point-in-polygon test reads
        self.wkb_blob, self.wkb_offsets = wkb, offsets
        #: at most this many decoded (not counting the pinned, warmed ones); None: no limit
        self.limit = DECODED_LIMIT if limit is None and wkb is not None else limit
        self._pinned = np.zeros(count, dtype=bool)
        self._count = 0

    @classmethod
    def of(cls, geoms: np.ndarray) -> Geoms:
        geoms = np.asarray(geoms, dtype=object)
        shapely.prepare(geoms)
        _warm(geoms)
        made = cls(len(geoms), objects=geoms)
        made.wkb_blob, made.wkb_offsets = packed(shapely.to_wkb(geoms) if len(geoms) else [])
        return made

    def __len__(self) -> int:
        return len(self.objects)

    def _decode(self, rows: np.ndarray) -> np.ndarray:
        """Decode and prepare ``rows`` (unique); past the limit, every decoded polygon but the
        pinned ones is let go first (a busy process re-decodes what it uses)."""
        wkb, offsets = self._wkb, self._offsets
        if wkb is None:
            raise IndexError("a polygon of this index is missing")
        found = shapely.from_wkb(
            [wkb[offsets[i] : offsets[i + 1]].tobytes() for i in rows.tolist()]
        )
        shapely.prepare(found)
        if self.limit is not None:
            if len(rows) > self.limit:
                return found  # more than may be kept at once: used, not kept
            if self._count + len(rows) > self.limit:
                self._have &= self._pinned
                self.objects[~self._pinned] = None
                self._count = 0
        self.objects[rows] = found
        self._have[rows] = True
        self._count += len(rows)
        return found

    def read(self, i: int):
        """Polygon ``i`` as decoded already, or read from its WKB, neither prepared nor kept
        (for what needs its rings once, not point tests)."""
        found = self.objects[i]
        if found is None:
            found = shapely.from_wkb(self._wkb[self._offsets[i] : self._offsets[i + 1]].tobytes())
        return found

    def one(self, i: int):
        found = self.objects[i]
        if found is None:
            found = self._decode(np.array([i], dtype=np.int64))[0]
        return found

    def take(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        found = self.objects[rows]
        missing = np.flatnonzero(~self._have[rows])
        if len(missing):
            # what was decoded is used as such: another thread may let it go meanwhile
            need = np.unique(rows[missing])
            decoded = self._decode(need)
            found[missing] = decoded[np.searchsorted(need, rows[missing])]
        return found

    def __getitem__(self, key):
        if isinstance(key, int | np.integer):
            return self.one(int(key))
        return self.take(key)

    def all(self) -> np.ndarray:
        if self._wkb is None:
            return self.objects
        bounds = self._offsets.tolist()
        return shapely.from_wkb([self._wkb[a:b].tobytes() for a, b in itertools.pairwise(bounds)])

    def warm(self, vertices: np.ndarray) -> None:
        """Decode, prepare, warm and keep now the polygons of more than WARM_VERTICES
        vertices."""
        big = np.flatnonzero(vertices > WARM_VERTICES)
        if len(big):
            _warm(self.take(big))
            self._pinned[big] = True
            self._count = max(self._count - len(big), 0)

    @property
    def decoded(self) -> int:
        return int(np.count_nonzero(self._have))


class PolygonIndex:
    """The polygons (MultiPolygons, any CRS) of one layer version, for covers-queries."""

    def __init__(self, geoms: np.ndarray, cells_per_polygon: float = 12.0):
        geoms = np.asarray(geoms, dtype=object)
        made = Geoms.of(geoms)
        wkb = (made.wkb_blob, made.wkb_offsets)
        self._set(made, build_index(geoms, cells_per_polygon).with_cell_edges(wkb))

    @classmethod
    def from_arrays(cls, geoms: Geoms, arrays: IndexArrays) -> PolygonIndex:
        index = cls.__new__(cls)
        index._set(geoms, arrays)
        return index

    def _set(self, geoms: Geoms, arrays: IndexArrays) -> None:
        self.geoms = geoms
        self.grid = arrays.grid
        self.cell_ptr = arrays.cell_ptr
        self.entry_poly = arrays.entry_poly
        self.entry_boundary = arrays.entry_boundary
        self.cell_has_boundary = arrays.cell_has_boundary
        self.total_bounds = arrays.total_bounds
        self.bounds = arrays.bounds
        self.edge_ptr, self.edge_at, self.entry_ref = (
            arrays.edge_ptr,
            arrays.edge_at,
            arrays.entry_ref,
        )
        self._unranked = None  # every polygon ranked 0: boxes_are_clear asks all their edges

    # -- queries ----------------------------------------------------------------------------
    def query(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every (point, polygon) pair where the polygon covers the point, ordered by point
        (and by polygon for a point): the compiled test on the polygons' WKB, GEOS for the
        pairs it leaves undecided."""
        x = np.ascontiguousarray(x, dtype=np.float64)
        y = np.ascontiguousarray(y, dtype=np.float64)
        grid, geoms = self.grid, self.geoms
        points, polys, states = covers_pairs(
            x, y, grid.x0, grid.y0, grid.dx, grid.dy, grid.nx, grid.ny, self.cell_ptr,
            self.entry_poly, self.entry_boundary, self.bounds, geoms.wkb_blob, geoms.wkb_offsets,
            self.edge_ptr, self.edge_at, self.entry_ref,
        )  # fmt: skip
        undecided = np.flatnonzero(states == UNDECIDED)
        if len(undecided):
            at = points[undecided]
            covered = shapely.intersects_xy(geoms.take(polys[undecided]), x[at], y[at])
            keep = np.ones(len(points), dtype=bool)
            keep[undecided[~covered]] = False
            points, polys = points[keep], polys[keep]
        return points, polys

    def first_rows(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per point, the lowest row of the polygons covering it (-1 for none): the first of
        its cell's that covers it, a cell listing its polygons by row — the lowest point of
        :meth:`query`'s pairs, without making them; the pairs where the compiled test leaves
        a point undecided."""
        x = np.ascontiguousarray(x, dtype=np.float64)
        y = np.ascontiguousarray(y, dtype=np.float64)
        grid, geoms = self.grid, self.geoms
        rows = first_covering_rows(
            x, y, grid.x0, grid.y0, grid.dx, grid.dy, grid.nx, grid.ny, self.cell_ptr,
            self.entry_poly, self.entry_boundary, self.bounds, geoms.wkb_blob, geoms.wkb_offsets,
            self.edge_ptr, self.edge_at, self.entry_ref,
        )  # fmt: skip
        ask = np.flatnonzero(rows == NOT_DECIDED)
        if len(ask):
            rows[ask] = -1
            points, polys = self.query(x[ask], y[ask])
            if len(points):
                first = np.ones(len(points), dtype=bool)
                first[1:] = points[1:] != points[:-1]
                rows[ask[points[first]]] = polys[first]
        return rows

    def boxes_are_plain(self, minx, miny, maxx, maxy) -> np.ndarray:
        """True where a box lies in one cell that no polygon edge crosses, or wholly outside the
        grid: every point of the box is then covered by exactly the same polygons."""
        low = self.grid.cell_of(np.atleast_1d(minx), np.atleast_1d(miny))
        high = self.grid.cell_of(np.atleast_1d(maxx), np.atleast_1d(maxy))
        plain = low == high
        inside = plain & (low >= 0)
        plain[inside] = ~self.cell_has_boundary[low[inside]]
        outside = plain & (low < 0)
        plain[outside] = self.grid.boxes_outside(
            *(np.broadcast_to(part, low.shape)[outside] for part in (minx, miny, maxx, maxy))
        )
        return plain

    def boxes_are_clear(self, minx, miny, maxx, maxy) -> np.ndarray:
        """True where no polygon edge runs through a box (:meth:`boxes_are_plain`, then the
        edges themselves asked): every point of the box is covered by the same polygons."""
        clear = self.boxes_are_plain(minx, miny, maxx, maxy)
        ask = np.flatnonzero(~clear)
        if len(ask):
            if self._unranked is None:
                self._unranked = np.zeros(len(self.geoms), dtype=np.int32)
            one = np.ones(len(ask), dtype=np.int64)
            boxes = (np.atleast_1d(part)[ask] for part in (minx, miny, maxx, maxy))
            clear[ask] = ~self.edges_in_boxes(*boxes, self._unranked, one)
        return clear

    def edges_in_boxes(self, minx, miny, maxx, maxy, rank, limit) -> np.ndarray:
        """Per box, whether an edge of a polygon ranked below the box's limit
        (``rank[polygon] < limit[box]``) may run through it — never False where one does."""
        box = (np.ascontiguousarray(part, dtype=np.float64) for part in (minx, miny, maxx, maxy))
        limit = np.ascontiguousarray(limit, dtype=np.int64)
        return boundaries_in_boxes(*box, limit, rank, *self._edge_arrays())

    def edge_in_box_one(
        self, minx: float, miny: float, maxx: float, maxy: float, rank: np.ndarray, limit: int
    ) -> bool:
        """:meth:`edges_in_boxes` for one box."""
        return boundary_in_box(minx, miny, maxx, maxy, limit, rank, *self._edge_arrays())

    def _edge_arrays(self) -> tuple:
        """The grid and the arrays the compiled edge tests read, in their order."""
        grid, geoms = self.grid, self.geoms
        return (
            grid.x0, grid.y0, grid.dx, grid.dy, grid.nx, grid.ny, self.cell_ptr, self.entry_poly,
            self.entry_boundary, self.bounds, geoms.wkb_blob, geoms.wkb_offsets,
        )  # fmt: skip

    def cell_one(self, x: float, y: float) -> int:
        at = self.grid.column_row(x, y)
        return -1 if at is None else at[1] * self.grid.nx + at[0]

    def box_is_plain_one(self, minx: float, miny: float, maxx: float, maxy: float) -> bool:
        """:meth:`boxes_are_plain` for one box, without numpy overhead."""
        low, high = self.cell_one(minx, miny), self.cell_one(maxx, maxy)
        if low != high:
            return False
        if low < 0:
            return bool(self.grid.boxes_outside(minx, miny, maxx, maxy))
        return not self.cell_has_boundary[low]

    def query_one(self, x: float, y: float) -> list[int]:
        """The polygons covering one point: the compiled test on the cell's polygons' WKB, in
        one call, GEOS for what it leaves undecided (no polygon decoded on the way)."""
        grid = self.grid
        at = grid.column_row(x, y)
        if at is None:
            return []
        column, row = at
        # the cell's centre as the compiled loops compute it (kernels.cell_centre)
        cx, cy = grid.x0 + (column + 0.5) * grid.dx, grid.y0 + (row + 0.5) * grid.dy
        geoms = self.geoms
        found = cell_covering(
            row * grid.nx + column, x, y, cx, cy, self.cell_ptr, self.entry_poly,
            self.entry_boundary, self.bounds, geoms.wkb_blob, geoms.wkb_offsets, self.edge_ptr,
            self.edge_at, self.entry_ref,
        ).tolist()  # fmt: skip
        if found and min(found) < 0:
            # shapely.lib directly: the public wrapper's checks cost as much as the test itself
            found = [p if p >= 0 else -1 - p for p in found
                     if p >= 0 or intersects_xy(geoms.one(-1 - p), x, y)]  # fmt: skip
        return found

    @property
    def stats(self) -> dict:
        ncells = self.grid.nx * self.grid.ny
        occupied = int((np.diff(self.cell_ptr) > 0).sum())
        return {
            "polygons": len(self.geoms),
            "cells": ncells,
            "cell_size": self.grid.dx,
            "occupied_cells": occupied,
            "entries": len(self.entry_poly),
            "boundary_entries": int(self.entry_boundary.sum()),
        }
