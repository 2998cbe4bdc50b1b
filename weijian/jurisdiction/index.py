"""Point-in-polygon at memory speed: a uniform cell grid over a layer's polygons.

Each cell lists the polygons that touch it, marked *interior* (the closed cell lies inside the
polygon: any point in it is covered, no test needed) or *boundary* (an edge of the polygon runs
through the cell: the point is tested exactly by GEOS on the prepared polygon). Cells no polygon
touches are empty. Most points fall in interior or empty cells and are answered by array look-ups
alone; the rest need one exact test per touching polygon. The answer is PostGIS ``ST_Covers``:
a point on an edge or a vertex is covered.

Boundary cells are found by cutting every polygon edge at the grid lines (each piece lies in one
cell); cells of a polygon's bounding box that no edge crosses are wholly inside or outside, and
their centre decides which.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.lib import intersects_xy

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
    # neighbouring edges mostly share a cell: drop repeats in a row before the costly unique
    if len(found) > 1:
        found = found[np.concatenate([[True], found[1:] != found[:-1]])]
    return np.unique(found)


WARM_VERTICES = 256


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


class PolygonIndex:
    """The polygons (MultiPolygons, any CRS) of one layer version, for covers-queries."""

    def __init__(self, geoms: np.ndarray, cells_per_polygon: float = 12.0):
        self.geoms = np.asarray(geoms, dtype=object)
        shapely.prepare(self.geoms)
        _warm(self.geoms)
        n = len(self.geoms)
        if n == 0:
            self.grid = Grid(0, 0, 1, 1, 1, 1)
            self.cell_ptr = np.zeros(2, dtype=np.int64)
            self.entry_poly = np.zeros(0, dtype=np.int32)
            self.entry_boundary = np.zeros(0, dtype=bool)
            self.cell_has_boundary = np.zeros(1, dtype=bool)
            return
        grid = _choose_grid(self.geoms, cells_per_polygon)
        ncells = grid.nx * grid.ny
        owner, start, end = _edges(self.geoms)
        boundary_keys = _boundary_pairs(grid, owner, start, end)

        # every cell of each polygon's bounding box that no edge crosses: inside or outside?
        bounds = shapely.bounds(self.geoms)
        ix0 = np.clip(np.floor((bounds[:, 0] - grid.x0) / grid.dx), 0, grid.nx - 1).astype(int)
        ix1 = np.clip(np.floor((bounds[:, 2] - grid.x0) / grid.dx), 0, grid.nx - 1).astype(int)
        iy0 = np.clip(np.floor((bounds[:, 1] - grid.y0) / grid.dy), 0, grid.ny - 1).astype(int)
        iy1 = np.clip(np.floor((bounds[:, 3] - grid.y0) / grid.dy), 0, grid.ny - 1).astype(int)
        w = ix1 - ix0 + 1
        h = iy1 - iy0 + 1
        counts = (w * h).astype(np.int64)
        poly = np.repeat(np.arange(n, dtype=np.int64), counts)
        local = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        cx = ix0[poly] + local % w[poly]
        cy = iy0[poly] + local // w[poly]
        keys = poly * ncells + cy * grid.nx + cx
        inner = ~np.isin(keys, boundary_keys, assume_unique=False)
        keys, poly, cx, cy = keys[inner], poly[inner], cx[inner], cy[inner]
        centre_x = grid.x0 + (cx + 0.5) * grid.dx
        centre_y = grid.y0 + (cy + 0.5) * grid.dy
        inside = shapely.contains_xy(self.geoms[poly], centre_x, centre_y)
        interior_keys = keys[inside]

        all_keys = np.concatenate([interior_keys, boundary_keys])
        is_boundary = np.concatenate(
            [np.zeros(len(interior_keys), bool), np.ones(len(boundary_keys), bool)]
        )
        cells = all_keys % ncells
        polys = all_keys // ncells
        order = np.lexsort((polys, cells))
        self.grid = grid
        self.entry_poly = polys[order].astype(np.int32)
        self.entry_boundary = is_boundary[order]
        self.cell_ptr = np.zeros(ncells + 1, dtype=np.int64)
        np.cumsum(np.bincount(cells, minlength=ncells), out=self.cell_ptr[1:])
        self.cell_has_boundary = np.zeros(ncells, dtype=bool)
        self.cell_has_boundary[cells[is_boundary]] = True

    # -- queries ----------------------------------------------------------------------------
    def query(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every (point, polygon) pair where the polygon covers the point, ordered by point."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        cell = self.grid.cell_of(x, y)
        valid = cell >= 0
        start = np.zeros(len(x), dtype=np.int64)
        count = np.zeros(len(x), dtype=np.int64)
        start[valid] = self.cell_ptr[cell[valid]]
        count[valid] = self.cell_ptr[cell[valid] + 1] - start[valid]
        total = int(count.sum())
        if total == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32)
        point = np.repeat(np.arange(len(x), dtype=np.int64), count)
        entry = np.repeat(start - (np.cumsum(count) - count), count) + np.arange(total)
        poly = self.entry_poly[entry]
        boundary = self.entry_boundary[entry]
        keep = ~boundary
        if boundary.any():
            bp = point[boundary]
            keep[boundary] = shapely.intersects_xy(self.geoms[poly[boundary]], x[bp], y[bp])
        return point[keep], poly[keep]

    def boxes_are_plain(self, minx, miny, maxx, maxy) -> np.ndarray:
        """True where a box lies in one cell that no polygon edge crosses: every point of the
        box is then covered by exactly the same polygons."""
        low = self.grid.cell_of(np.atleast_1d(minx), np.atleast_1d(miny))
        high = self.grid.cell_of(np.atleast_1d(maxx), np.atleast_1d(maxy))
        plain = low == high
        inside = plain & (low >= 0)
        plain[inside] = ~self.cell_has_boundary[low[inside]]
        return plain

    def cell_one(self, x: float, y: float) -> int:
        grid = self.grid
        fx = (x - grid.x0) / grid.dx
        fy = (y - grid.y0) / grid.dy
        if not (0 <= fx < grid.nx and 0 <= fy < grid.ny):
            return -1
        return int(fy) * grid.nx + int(fx)

    def box_is_plain_one(self, minx: float, miny: float, maxx: float, maxy: float) -> bool:
        """:meth:`boxes_are_plain` for one box, without numpy overhead."""
        low, high = self.cell_one(minx, miny), self.cell_one(maxx, maxy)
        if low != high:
            return False
        return low < 0 or not self.cell_has_boundary[low]

    def query_one(self, x: float, y: float) -> list[int]:
        """The polygons covering one point (no array work on the hot path)."""
        cell = self.cell_one(x, y)
        if cell < 0:
            return []
        lo, hi = self.cell_ptr[cell : cell + 2].tolist()
        if lo == hi:
            return []
        polys = self.entry_poly[lo:hi].tolist()
        exact = self.entry_boundary[lo:hi].tolist()
        geoms = self.geoms
        # shapely.lib directly: the public wrapper's checks cost as much as the test itself
        return [
            p for p, e in zip(polys, exact, strict=True) if not e or intersects_xy(geoms[p], x, y)
        ]

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
