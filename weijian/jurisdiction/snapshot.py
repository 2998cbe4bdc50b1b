"""What the engine answers from: every active layer version, the grid levels, the rules and
the departments, loaded once from PostGIS into memory with an index per layer version.

A snapshot is immutable; :class:`SnapshotHolder` swaps in a new one when a layer version is
activated, the rules or the departments change — told by PostgreSQL ``LISTEN/NOTIFY``, with
a periodic version check as a safety net — so nothing on the request path reads files or
builds indexes.
"""

from __future__ import annotations

import functools
import gc
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import shapely
from sqlalchemy import Engine, text

from weijian.gis.crs import gk3_epsg_for_lon
from weijian.gis.gauss_kruger import Zone, forward_coords, forward_many, zone_of_epsg
from weijian.jurisdiction import repository
from weijian.jurisdiction.answer import fragments_of
from weijian.jurisdiction.distances import (
    Segments,
    boundary_distance,
    line_distance_one,
    line_distances,
    ring_joins,
)
from weijian.jurisdiction.index import DECODED_LIMIT, Geoms, Grid, PolygonIndex
from weijian.jurisdiction.locator import Locator, ring_cells
from weijian.jurisdiction.repository import Department
from weijian.jurisdiction.rules import RuleSet, ZoneHit
from weijian.jurisdiction.zonefiles import ZoneParts, zone_parts
from weijian.layers.model import GRID_LEVELS, NOTIFY_CHANNEL

log = logging.getLogger(__name__)
NO_RULE = np.iinfo(np.int32).max
#: a zone layer's zones kept as ``ZoneHit`` once asked (a point's deciding zone), at most
HITS_KEPT = 65_536


@dataclass
class ZoneLayer(ZoneParts):
    """A zone layer version: its index, its zones' attributes (``kinds[i]``, ``codes[i]``,
    ``names[i]``) and answer parts, most of them mapped from the machine's shared files, and
    its zones' place in the snapshot's global tie-break order."""

    order: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    _hits: dict[int, ZoneHit] = field(default_factory=dict)  # the zones that decided lately

    def hit(self, i: int) -> ZoneHit:
        found = self._hits.get(i)
        if found is None:
            found = ZoneHit(self.name, self.codes[i], self.kinds[i], self.names[i], self.version,
                            int(self.ids[i]))  # fmt: skip
            if len(self._hits) >= HITS_KEPT:
                self._hits = {}
            self._hits[i] = found
        return found


@dataclass
class GridLevel:
    level: str
    version: int
    index: PolygonIndex
    codes: np.ndarray
    names: np.ndarray
    parents: np.ndarray
    responsible: list[list[dict]]
    row_of: dict[str, int]
    parent_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


@dataclass
class Snapshot:
    token: str
    built_at: float
    build_seconds: float
    zone_layers: list[ZoneLayer]
    grids: dict[str, GridLevel]
    rules: RuleSet
    rules_record: dict
    departments: dict[tuple[str, str], Department]
    templates: dict[str, tuple[str, str]]
    gk_epsg: int
    to_gk: pyproj.Transformer
    gk_zone: Zone
    zone_boundaries_gk: list[GkBoundaries] = field(default_factory=list)
    district_edges: Segments | None = None  # the districts' boundary segments in metres
    district_clearance: np.ndarray | None = None  # per clearance cell: metres to an edge
    clearance_grid: Grid | None = None
    fragments: Any = None  # answer.Fragments: the answer's parts serialised, built at load
    grid_tables: Any = None  # rings.Tables of the grid levels (and their parent rows), made once
    zone_tables: Any = None  # rings.Tables of the zone layers, made once
    sample_ranks: dict = field(default_factory=dict)  # rings: per day, the ranks as it asks them
    _locator: Locator | None = None
    _ranks: dict[date, list[np.ndarray]] = field(default_factory=dict)
    _in_force: dict[date, list] = field(default_factory=dict)
    _best: dict[date, list[int]] = field(default_factory=dict)
    _positions: dict[date, dict[int, int]] = field(default_factory=dict)
    _keys: dict[date, tuple] = field(default_factory=dict)

    def locate(self, lon: float, lat: float) -> tuple[list[list[int]], dict[str, list[int]]]:
        """The zones of each zone layer and the grids of each level covering a point, as
        their indexes' ``query_one`` answer, in one compiled call (:mod:`.locator`)."""
        return self._by_layer(self._locate().query(lon, lat))

    def decide_one(self, lon: float, lat: float, on: date) -> list[int] | None:
        """A point's decision as ``locator.decide_cells`` answers it (None: ask :meth:`locate`
        and decide the long way), with the rules in force on ``on``."""
        return self._locate().decide(self._decide_keys(on), len(self.zone_layers), lon, lat)

    def ring_decisions(
        self, x_gk: float, y_gk: float, tolerance: float, ring_cos, ring_sin, on: date
    ) -> tuple[list, list, list] | None:
        """Per sample of a point's rings (``locator.ring_cells``), its district row (None:
        none), best rule rank (NO_RULE: none) and whether a zone covers it; None where GEOS
        must tell a sample's polygon."""
        grids = list(self.grids)
        district = grids.index("district") if "district" in self.grids else -1
        locator, zone = self._locate(), self.gk_zone
        out = ring_cells(locator.table, locator.grids, self._decide_keys(on),
                         len(self.zone_layers), district, x_gk, y_gk, tolerance, ring_cos,
                         ring_sin, zone.central_meridian, zone.false_easting, NO_RULE)  # fmt: skip
        if out[:, 0].any():
            return None
        rows = out[:, 3].tolist()
        districts = [None if row < 0 else row for row in rows]
        return districts, out[:, 1].tolist(), out[:, 2].astype(bool).tolist()

    def _decide_keys(self, on: date) -> np.ndarray:
        """``decide_cells``' keys for a day: where each zone layer's ranks and order lie, and
        each grid level's parent rows. The arrays pointed into are kept with the table."""
        found = self._keys.get(on)
        if found is None:
            ranks = [np.ascontiguousarray(r, dtype=np.int32) for r in self.zone_ranks(on)]
            orders = [
                np.ascontiguousarray(layer.order, dtype=np.int64) for layer in self.zone_layers
            ]
            parents = [
                np.ascontiguousarray(g.parent_rows, dtype=np.int64) for g in self.grids.values()
            ]
            rows = [
                (r.ctypes.data, len(r), o.ctypes.data, len(o))
                for r, o in zip(ranks, orders, strict=True)
            ]
            rows += [
                (p.ctypes.data, len(p), GRID_LEVELS.index(level), 0)
                for p, level in zip(parents, self.grids, strict=True)
            ]
            table = np.array(rows, dtype=np.int64).reshape(len(rows), 4)
            found = (table, ranks, orders, parents)
            if len(self._keys) > 8:
                self._keys = {}
            self._keys[on] = found
        return found[0]

    def plain(self, box: tuple[float, float, float, float]) -> tuple[list[bool], dict[str, bool]]:
        """Per zone layer and per grid level, whether a box (minx, miny, maxx, maxy) is plain
        there (``PolygonIndex.box_is_plain_one``), in one compiled call."""
        return self._by_layer(self._locate().plain(*box))

    def _by_layer(self, found: list) -> tuple[list, dict]:
        """The locator's answer per index split into the zone layers' and the grid levels'."""
        zones = len(self.zone_layers)
        return found[:zones], dict(zip(self.grids, found[zones:], strict=True))

    def _locate(self) -> Locator:
        locator = self._locator
        if locator is None:
            indexes = [layer.index for layer in self.zone_layers]
            locator = self._locator = Locator(indexes + [g.index for g in self.grids.values()])
        return locator

    # -- rules as arrays -------------------------------------------------------------------
    def zone_ranks(self, on: date) -> list[np.ndarray]:
        """Per zone layer, per zone: position of the first rule in force on ``on`` that matches
        the zone (NO_RULE when none) — the vectorised form of :func:`rules.resolve`."""
        cached = self._ranks.get(on)
        if cached is not None:
            return cached
        ordered = [r for r in self.rules.ordered() if r.in_force(on)]
        ranks = []
        for layer in self.zone_layers:
            # a rule matches a zone by its kind and code: one match per distinct pair
            pair_rank = np.array(
                [
                    next((n for n, rule in enumerate(ordered) if rule.matches(hit)), NO_RULE)
                    for hit in (layer.hit(int(i)) for i in layer.pair_first)
                ],
                dtype=np.int32,
            )
            ranks.append(pair_rank[layer.pair_of] if len(pair_rank) else np.zeros(0, np.int32))
        if len(self._ranks) > 8:
            self._ranks.clear()
        self._ranks[on] = ranks
        return ranks

    def best_ranks(self, on: date) -> list[int]:
        """Per zone layer, the best rank any of its zones has."""
        found = self._best.get(on)
        if found is None:
            found = [int(r.min()) if len(r) else NO_RULE for r in self.zone_ranks(on)]
            self._best = {on: found}
        return found

    def rules_in_force(self, on: date) -> list:
        found = self._in_force.get(on)
        if found is None:
            found = [r for r in self.rules.ordered() if r.in_force(on)]
            self._in_force = {on: found}
        return found

    def rule_position(self, rule, on: date) -> int:
        if rule is None:
            return -1
        positions = self._positions.get(on)
        if positions is None:
            positions = {id(r): n for n, r in enumerate(self.rules_in_force(on))}
            self._positions = {on: positions}
        return positions[id(rule)]

    # -- departments -----------------------------------------------------------------------
    def department(
        self, type_: str, district_code: str | None, district_name: str | None
    ) -> Department:
        found = self.departments.get((type_, district_code or ""))
        if found:
            return found
        _, template = self.templates.get(type_, (type_, "{district}" + type_))
        return Department(
            type=type_,
            code=f"{district_code}-{type_}" if district_code else type_,
            name=template.format(district=district_name or ""),
            district_code=district_code,
        )

    def points_gk(self, lon, lat) -> tuple[np.ndarray, np.ndarray]:
        """Points in Gauss-Krüger metres by the compiled formulas a single look-up and the
        boundaries' vertices use (not PROJ, whose numbers differ by nanometres): a point of a
        batch lands on the same bits as the same point asked alone."""
        return forward_many(lon, lat, self.gk_zone)

    def district_boundary_distance(self, x_gk: np.ndarray, y_gk: np.ndarray) -> np.ndarray:
        """Metres from each point to the nearest district boundary (NaN without districts)."""
        if self.district_edges is None:
            return np.full(len(x_gk), np.nan)
        return self.district_edges.nearest_within(x_gk, y_gk, np.inf)

    def district_distance_within(
        self,
        lon: np.ndarray,
        lat: np.ndarray,
        x_gk: np.ndarray,
        y_gk: np.ndarray,
        limit: np.ndarray,
    ) -> np.ndarray:
        """Metres to the nearest district boundary where it is below ``limit`` (per point),
        +inf elsewhere. Each cell of the district index knows how far its edges lie, so the
        exact distance is computed only where it can matter."""
        out = np.full(len(lon), np.inf)
        if self.district_clearance is None or len(lon) == 0:
            return out
        cell = self.clearance_grid.cell_of(lon, lat)
        bound = np.where(cell >= 0, self.district_clearance[np.maximum(cell, 0)], 0.0)
        exact = np.flatnonzero(bound < limit)
        if len(exact):
            out[exact] = self.district_edges.nearest_within(x_gk[exact], y_gk[exact], limit[exact])
        return out

    def district_distance_within_one(
        self, lon: float, lat: float, x_gk: float, y_gk: float, limit: float
    ) -> float:
        if self.district_clearance is None:
            return math.inf
        grid = self.clearance_grid
        fx, fy = (lon - grid.x0) / grid.dx, (lat - grid.y0) / grid.dy
        inside = 0 <= fx < grid.nx and 0 <= fy < grid.ny
        bound = self.district_clearance[int(fy) * grid.nx + int(fx)] if inside else 0.0
        if bound >= limit:
            return math.inf
        return self.district_edges.nearest_within_one(x_gk, y_gk, limit)

    @property
    def layer_versions(self) -> dict[str, int]:
        return dict(self._layer_versions)

    def __post_init__(self) -> None:
        versions = {layer.name: layer.version for layer in self.zone_layers}
        versions.update({f"grid_{g.level}": g.version for g in self.grids.values()})
        self._layer_versions = versions

    def describe(self) -> dict:
        return {
            "token": self.token,
            "build_seconds": round(self.build_seconds, 3),
            "rule_version": self.rules.version,
            "layers": {
                layer.name: {"version": layer.version, **layer.index.stats}
                for layer in self.zone_layers
            },
            "grids": {
                g.level: {"version": g.version, **g.index.stats} for g in self.grids.values()
            },
        }


CLEARANCE_CELLS = 16_384


def _clearance(
    districts: np.ndarray, edges: Segments, to_gk: pyproj.Transformer
) -> tuple[Grid, np.ndarray]:
    """A coarse grid over the districts and, per cell, a lower bound of the metres from any
    point of the cell to a district boundary (centre distance less half the diagonal)."""
    minx, miny, maxx, maxy = shapely.total_bounds(districts)
    size = math.sqrt(max((maxx - minx) * (maxy - miny), 1e-12) / CLEARANCE_CELLS)
    grid = Grid(
        x0=minx - size,
        y0=miny - size,
        dx=size,
        dy=size,
        nx=int((maxx - minx) / size) + 3,
        ny=int((maxy - miny) / size) + 3,
    )
    ix = np.tile(np.arange(grid.nx), grid.ny)
    iy = np.repeat(np.arange(grid.ny), grid.nx)
    cx, cy = to_gk.transform(grid.x0 + (ix + 0.5) * size, grid.y0 + (iy + 0.5) * size)
    corner_x, corner_y = to_gk.transform(grid.x0 + ix * size, grid.y0 + iy * size)
    half_diagonal = np.hypot(cx - corner_x, cy - corner_y) * 1.01 + 0.01
    return grid, edges.nearest_within(cx, cy, np.inf) - half_diagonal


def _texts(values) -> np.ndarray:
    return np.array([v if v is None else str(v) for v in values], dtype=object)


#: a boundary of more vertices than this is measured through an R-tree of its segments
BIG_BOUNDARY = 256
#: a boundary of more vertices than this is made (and kept) at the second point measured to it
#: (moving its vertices to metres each time would cost more than keeping it made); one of
#: fewer is measured off the WKB every time (a city's parcels: most are asked once)
WALKED_BOUNDARY = 64
_NO_INDEX = np.intc(-1)


class GkBoundaries:
    """The boundaries of a zone layer's polygons in Gauss-Krüger metres, for the distance to
    the deciding boundary: made for a polygon when a point first needs it (``[i]`` or
    ``[rows]``). A long boundary (an urban management area of thousands of vertices) is
    measured through an R-tree of its segments: the same nearest segment, found without
    walking every one."""

    def __init__(self, geoms: Geoms, zone: Zone):
        self.geoms = geoms
        self.zone = zone
        self.gk = functools.partial(forward_coords, zone=zone)
        self.objects = np.empty(len(geoms), dtype=object)
        self._have = np.zeros(len(geoms), dtype=bool)  # see Geoms._have
        self._count = 0
        self.trees: dict[int, shapely.STRtree] = {}
        self._walked = np.zeros(len(geoms), dtype=bool)  # measured once off the WKB
        self._vertices: dict[int, tuple] = {}  # a made boundary's, for one point's distance

    def _make(self, rows: np.ndarray) -> np.ndarray:
        made = shapely.boundary(shapely.transform(self.geoms.take(rows), self.gk))
        for row in rows[shapely.get_num_coordinates(made) > BIG_BOUNDARY].tolist():
            self._tree(row, made[np.flatnonzero(rows == row)[0]])
        self._keep(rows, made, len(rows))
        return made

    def _make_one(self, row: int):
        """:meth:`_make` for one polygon without the array work (a single look-up's first touch
        of a parcel: some 30 µs instead of 65): the rings taken first, then moved to metres."""
        made = shapely.transform(shapely.lib.boundary(self.geoms.read(row)), self.gk)
        if shapely.lib.get_num_coordinates(made) > BIG_BOUNDARY:
            self._tree(row, made)
        self._keep(row, made, 1)
        return made

    def _tree(self, row: int, line) -> None:
        """The R-tree of the segments of a long boundary."""
        x, y, joined = _line_vertices(line)
        start = np.flatnonzero(joined)
        ends = np.stack([x[start], y[start], x[start + 1], y[start + 1]], axis=1)
        self.trees[row] = shapely.STRtree(shapely.linestrings(ends.reshape(-1, 2, 2)))

    def _keep(self, rows, made, count: int) -> None:
        """Keep what was made for ``rows`` (one row or an array of them); past the limit, the
        others are let go first (not the trees)."""
        if self._count + count > DECODED_LIMIT:
            self._have[:] = False
            self.objects[:] = None
            self._vertices = {}
            self._count = 0
        self.objects[rows] = made
        self._have[rows] = True
        self._count += count

    def __getitem__(self, key):
        if isinstance(key, int | np.integer):
            found = self.objects[key]
            if found is None:
                found = self._make_one(int(key))
            return found
        rows = np.asarray(key, dtype=np.int64)
        found = self.objects[rows]
        missing = np.flatnonzero(~self._have[rows])
        if len(missing):
            need = np.unique(rows[missing])
            found[missing] = self._make(need)[np.searchsorted(need, rows[missing])]
        return found

    def distance_one(self, row: int, x: float, y: float) -> float:
        """Metres from (x, y) in Gauss-Krüger to polygon ``row``'s boundary. A boundary not made
        yet (the batch makes them) is not made for one point: the compiled loop moves its
        vertices and measures it off the WKB, the same number without the 80–150 µs of making
        it; one of more than ``WALKED_BOUNDARY`` vertices is made at its second point."""
        line = self.objects[row]
        if line is None and row not in self.trees and not self._walked[row]:
            zone, at = self.zone, self.geoms.wkb_offsets[row]
            found, vertices = boundary_distance(self.geoms.wkb_blob, at, x, y,
                                                zone.central_meridian, zone.false_easting,
                                                BIG_BOUNDARY)  # fmt: skip
            if found >= 0:
                self._walked[row] = vertices > WALKED_BOUNDARY
                return found
        tree = self.trees.get(row)
        if tree is not None:
            point = shapely.lib.points(np.array((x, y)), _NO_INDEX)
            return float(tree.query_nearest(point, return_distance=True, all_matches=False)[1][0])
        vertices = self._vertices.get(row)
        if vertices is None:
            vertices = self._vertices[row] = _line_vertices(self[row])
        if len(vertices[0]) > 1:
            return line_distance_one(*vertices, x, y)
        point = shapely.lib.points(np.array((x, y)), _NO_INDEX)
        return float(shapely.lib.distance(point, self[row]))  # a degenerate boundary: GEOS's

    def distances(self, rows: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """:meth:`distance_one` for many points, point k (``x[k]``, ``y[k]`` in
        Gauss-Krüger) to polygon ``rows[k]``'s boundary."""
        out = np.empty(len(rows))
        long = np.isin(rows, np.fromiter(self.trees, dtype=np.int64, count=len(self.trees)))
        short = np.flatnonzero(~long)
        if len(short):
            # the polygons asked, in order, and each point's place among them (np.unique's
            # answer, without its sort)
            asked = np.zeros(len(self.geoms), dtype=bool)
            asked[rows[short]] = True
            need = np.flatnonzero(asked)
            line_of = (np.cumsum(asked) - 1)[rows[short]]
            lines = self[need]
            coords = shapely.get_coordinates(lines)
            # the rings' ends read off the polygons' WKB: the boundary keeps their vertices
            vertex_ptr, joined = ring_joins(self.geoms.wkb_blob, self.geoms.wkb_offsets, need)
            if len(joined) != len(coords):
                parts, part_line = shapely.get_parts(lines, return_index=True)
                coords, vertex_part = shapely.get_coordinates(parts, return_index=True)
                vertex_ptr = np.searchsorted(part_line[vertex_part], np.arange(len(need) + 1))
                joined = np.zeros(len(coords), dtype=bool)
                joined[:-1] = vertex_part[1:] == vertex_part[:-1]
            out[short] = line_distances(
                np.ascontiguousarray(x[short], dtype=np.float64),
                np.ascontiguousarray(y[short], dtype=np.float64),
                line_of.astype(np.int64),
                vertex_ptr.astype(np.int64),
                np.ascontiguousarray(coords[:, 0]),
                np.ascontiguousarray(coords[:, 1]),
                joined,
            )
        for row in np.unique(rows[long]).tolist():
            sel = np.flatnonzero(rows == row)
            which, distance = self.trees[row].query_nearest(
                shapely.points(x[sel], y[sel]), return_distance=True, all_matches=False
            )
            out[sel[which[0]]] = distance
        return out


def _line_vertices(line) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The vertices of (multi-)lines (one or an array) as ``line_distance_one`` reads them:
    x, y, and whether a segment joins each to the next (not across parts or lines)."""
    coords, part = shapely.get_coordinates(shapely.get_parts(line), return_index=True)
    joined = np.zeros(len(coords), dtype=np.bool_)
    joined[:-1] = part[1:] == part[:-1]
    return np.ascontiguousarray(coords[:, 0]), np.ascontiguousarray(coords[:, 1]), joined


def load_snapshot(engine: Engine, files: Path | None = None) -> Snapshot:
    """The snapshot of what is active in ``engine``'s database. ``files``: the machine's folder
    of shared zone layer files (:mod:`.zonefiles`); None builds everything in memory."""
    started = time.perf_counter()
    return build_snapshot(_read_sources(engine, files), started)


def build_snapshot(sources: Sources, started: float | None = None) -> Snapshot:
    """The snapshot of ``sources`` (what :func:`load_snapshot` read from a database, or made
    in memory: ``weijian.jurisdiction.warmup``)."""
    started = time.perf_counter() if started is None else started
    zone_layers = [_zone_layer(parts) for parts in sources.zone_parts]
    _order_zones(zone_layers)
    grids = _grid_levels(sources.grid_rows)
    gk_epsg = _gk_epsg(grids, zone_layers)
    to_gk = pyproj.Transformer.from_crs(4490, gk_epsg, always_xy=True)

    gk_zone = zone_of_epsg(gk_epsg)
    gk = functools.partial(forward_coords, zone=gk_zone)
    zone_boundaries = [GkBoundaries(layer.index.geoms, gk_zone) for layer in zone_layers]
    district_edges, district_clearance, clearance_grid = _district_edges(grids, gk, to_gk)
    snapshot = Snapshot(
        token=sources.token,
        built_at=time.time(),
        build_seconds=time.perf_counter() - started,
        zone_layers=zone_layers,
        grids=grids,
        rules=sources.rules,
        rules_record=sources.record,
        departments=sources.departments,
        templates=sources.templates,
        gk_epsg=gk_epsg,
        to_gk=to_gk,
        gk_zone=gk_zone,
        zone_boundaries_gk=zone_boundaries,
        district_edges=district_edges,
        district_clearance=district_clearance,
        clearance_grid=clearance_grid,
    )
    fragments_of(snapshot)
    snapshot.build_seconds = time.perf_counter() - started
    return snapshot


@dataclass
class Sources:
    """What a snapshot is built from (read from a database in one transaction)."""

    token: str
    zone_parts: list[ZoneParts]
    grid_rows: dict[str, tuple[dict, list]]
    rules: RuleSet
    record: dict
    departments: dict[tuple[str, str], Department]
    templates: dict[str, tuple[str, str]]


def _read_sources(engine: Engine, files: Path | None) -> Sources:
    # one REPEATABLE READ transaction: the token and the data belong together
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
        token = repository.snapshot_token(conn)
        parts = [
            zone_parts(conn, layer, files) for layer in repository.active_layers(conn, "zones")
        ]
        grid_rows = {
            layer["grid_level"]: (layer, repository.grids_of(conn, layer["version_id"]))
            for layer in repository.active_layers(conn, "grids")
        }
        rules, record = repository.rule_set(conn)
        departments = {(d.type, d.district_code or ""): d for d in repository.departments(conn)}
        templates = repository.department_templates(conn)
    return Sources(token, parts, grid_rows, rules, record, departments, templates)


def _zone_layer(parts: ZoneParts) -> ZoneLayer:
    return ZoneLayer(**{f.name: getattr(parts, f.name) for f in fields(ZoneParts)})


def _order_zones(zone_layers: list[ZoneLayer]) -> None:
    """One global order of all zones, the order rules.resolve uses to break ties: by layer
    name, then within a layer by (code, kind, name, version, id) — each layer's part of it
    is kept with the layer's files."""
    offset = 0
    for layer in sorted(zone_layers, key=lambda layer: layer.name):
        layer.order = offset + np.asarray(layer.rank_in_layer, dtype=np.int64)
        offset += len(layer.ids)


def _grid_levels(grid_rows: dict[str, tuple[dict, list]]) -> dict[str, GridLevel]:
    """The imported grid levels, each linked to the rows of its parents in the level above."""
    grids = {}
    for level in GRID_LEVELS:
        if level not in grid_rows:
            continue
        layer, rows = grid_rows[level]
        geoms = shapely.from_wkb([r[5] for r in rows])
        codes = _texts(r[1] for r in rows)
        grids[level] = GridLevel(
            level=level,
            version=layer["version"],
            index=PolygonIndex(geoms),
            codes=codes,
            names=_texts(r[2] for r in rows),
            parents=_texts(r[3] for r in rows),
            responsible=[list(r[4] or []) for r in rows],
            row_of={code: i for i, code in enumerate(codes)},
        )

    for position, level in enumerate(GRID_LEVELS[1:], start=1):
        upper = grids.get(GRID_LEVELS[position - 1])
        if level in grids and upper is not None:
            grids[level].parent_rows = np.array(
                [upper.row_of.get(p, -1) if p else -1 for p in grids[level].parents],
                dtype=np.int64,
            )
    return grids


def _gk_epsg(grids: dict[str, GridLevel], zone_layers: list[ZoneLayer]) -> int:
    """The Gauss-Krüger 3° zone of the city: the one of the districts' (else the first zone
    layer's) centre meridian."""
    centre = 126.0
    if "district" in grids and len(grids["district"].codes):
        bounds = grids["district"].index.total_bounds
        centre = (bounds[0] + bounds[2]) / 2
    elif zone_layers and len(zone_layers[0].ids):
        bounds = zone_layers[0].index.total_bounds
        centre = (bounds[0] + bounds[2]) / 2
    return gk3_epsg_for_lon(centre)


def _district_edges(
    grids: dict[str, GridLevel], gk: Callable, to_gk: pyproj.Transformer
) -> tuple[Segments | None, np.ndarray | None, Grid | None]:
    """The districts' boundary segments in metres, and the coarse grid of clearances to them."""
    district_edges = None
    district_clearance = None
    clearance_grid = None
    if "district" in grids and len(grids["district"].codes):
        districts = grids["district"].index.geoms.all()
        rings = shapely.boundary(shapely.transform(districts, gk))
        x, y, joined = _line_vertices(rings)
        start = np.flatnonzero(joined)
        district_edges = Segments.of(x[start], y[start], x[start + 1], y[start + 1])
        clearance_grid, district_clearance = _clearance(districts, district_edges, to_gk)
    return district_edges, district_clearance, clearance_grid


def frozen(snapshot: Snapshot) -> Snapshot:
    """Move the snapshot's (many, long-lived) objects out of the cyclic collector's sight: a full
    collection walking a city's geometries paused requests for ~100 ms. Reference counting
    still frees them when a newer snapshot replaces this one."""
    gc.collect()
    gc.freeze()
    return snapshot


#: the listener's pause after a failure: the first, doubled up to the last (a failed refresh is
#: tried again at once, a database that is restarting is not asked ten times a second)
RETRY_SECONDS = (0.25, 5.0)


class SnapshotHolder:
    """The current snapshot of one process, kept fresh by a listener thread."""

    def __init__(
        self,
        engine: Engine,
        poll_seconds: float = 30.0,
        read_engine: Engine | None = None,
        replica_wait_seconds: float = 30.0,
        files: Path | None = None,
    ):
        """``engine``: the primary (LISTEN, the token of what is active). ``read_engine``: a
        streaming replica the snapshot is loaded from, once its replay has reached the
        primary's position when the change was seen; without one, the primary."""
        self.engine = engine
        self.read_engine = read_engine or engine
        self.files = files  # the machine's shared zone layer files (None: in memory)
        self.replica_wait_seconds = replica_wait_seconds
        self.lagging = False  # the last reload found the replica behind and kept the snapshot
        self.poll_seconds = poll_seconds
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()
        self._refreshing = threading.Lock()  # one reload at a time, so none swaps in stale data
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def snapshot(self) -> Snapshot:
        current = self._snapshot
        if current is None:
            with self._lock:
                if self._snapshot is None:
                    self._snapshot = frozen(self._load())
                current = self._snapshot
        return current

    def _caught_up(self, deadline: float | None) -> bool:
        """Whether the replica has replayed everything the primary had committed when this
        was asked (at once True without a replica); waits until ``deadline``."""
        if self.read_engine is self.engine:
            return True
        with self.engine.connect() as conn:
            target = conn.execute(text("SELECT pg_current_wal_lsn()")).scalar_one()
        with self.read_engine.connect() as conn:
            while True:
                reached = conn.execute(
                    text("SELECT coalesce(pg_last_wal_replay_lsn() >= CAST(:t AS pg_lsn), true)"),
                    {"t": target},
                ).scalar_one()
                if reached:
                    return True
                if deadline is None or time.monotonic() > deadline:
                    return False
                time.sleep(0.05)

    def _load(self) -> Snapshot:
        """The snapshot from the replica once it has caught up (else from the primary: the
        first load does not wait on a replica that lags)."""
        deadline = time.monotonic() + self.replica_wait_seconds
        source = self.read_engine if self._caught_up(deadline) else self.engine
        return load_snapshot(source, self.files)

    def refresh(self, force: bool = False) -> bool:
        """Reload when the database changed; True when a new snapshot was swapped in. With a
        replica that has not replayed the change within ``replica_wait_seconds``, the snapshot
        in hand stays (its answers name the layer versions they used) and False is returned:
        the next notification or poll tries again."""
        with self._refreshing:
            with self.engine.connect() as conn:
                token = repository.snapshot_token(conn)
            if not force and self._snapshot is not None and token == self._snapshot.token:
                self.lagging = False
                return False
            if not self._caught_up(time.monotonic() + self.replica_wait_seconds):
                self.lagging = True
                log.warning("the replica has not replayed %s yet: the snapshot is kept", token)
                return False
            self.lagging = False
            fresh = frozen(load_snapshot(self.read_engine, self.files))
            with self._lock:
                self._snapshot = fresh
        log.info("jurisdiction snapshot rebuilt in %.2f s (%s)", fresh.build_seconds, token)
        return True

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._listen, name="snapshot-listener", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            try:  # wake the listener rather than wait for its timeout
                with self.engine.begin() as conn:
                    conn.execute(
                        text("SELECT pg_notify(:c, 'stop')"), {"c": repository.RULES_CHANNEL}
                    )
            except Exception:  # the database is gone: the listener ends on its own
                log.debug("could not wake the snapshot listener", exc_info=True)
            self._thread.join(timeout=5)

    def _listen(self) -> None:
        import psycopg

        url = self.engine.url.set(drivername="postgresql")
        dsn = url.render_as_string(hide_password=False)
        pause = RETRY_SECONDS[0]
        while not self._stop.is_set():
            try:
                with psycopg.connect(dsn, autocommit=True) as conn:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    conn.execute(f"LISTEN {repository.RULES_CHANNEL}")
                    self.refresh()
                    pause = RETRY_SECONDS[0]
                    last_check = time.monotonic()
                    while not self._stop.is_set():
                        # wake every second to see whether we are asked to stop
                        notified = any(True for _ in conn.notifies(timeout=1.0, stop_after=1))
                        if self._stop.is_set():
                            return
                        if notified:
                            time.sleep(0.05)  # let a burst of activations settle
                            for _ in conn.notifies(timeout=0.2):
                                pass
                        due = time.monotonic() - last_check >= self.poll_seconds
                        if notified or self.lagging or due:
                            self.refresh()
                            last_check = time.monotonic()
            except Exception:  # keep listening across database restarts
                log.exception("snapshot listener: trying again in %.1f s", pause)
                self._stop.wait(pause)
                pause = min(pause * 2, RETRY_SECONDS[1])
