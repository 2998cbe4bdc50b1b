"""The compiled loops give GEOS's answers bit for bit: point-in-polygon (``ST_Covers``: on an
edge or a vertex is covered), the distance to a boundary and to the nearest segment — on the
real district boundaries of Baishan and on the cases that are hard for floating point."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely import affinity

from weijian.gis.gauss_kruger import forward_coords, zone_of_epsg
from weijian.jurisdiction import distances, kernels
from weijian.jurisdiction.index import Geoms, PolygonIndex, build_index, packed
from weijian.jurisdiction.snapshot import GkBoundaries


@pytest.fixture(scope="module")
def districts(shared_data) -> np.ndarray:
    path = shared_data / "baishan_districts" / "baishan_districts_gcj02.geojson"
    geoms = shapely.from_geojson(path.read_text(encoding="utf-8"))
    return np.asarray(shapely.get_parts(geoms) if geoms.geom_type == "GeometryCollection"
                      else [geoms], dtype=object)  # fmt: skip


def _hard_points(geoms: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    """Random points in the polygons' bounds, every vertex, points on edges (their midpoints,
    and points a fraction along an oblique edge: within rounding of its line)."""
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    spread = np.column_stack([rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n)])
    coords = shapely.get_coordinates(geoms)
    along = rng.uniform(0, 1, (len(coords) - 1, 1))
    on_edges = coords[:-1] + along * (coords[1:] - coords[:-1])
    return np.concatenate([spread, coords, (coords[:-1] + coords[1:]) / 2, on_edges])


def _geos_pairs(geoms, x, y) -> set[tuple[int, int]]:
    return {
        (k, p)
        for p, geom in enumerate(geoms)
        for k in np.flatnonzero(shapely.intersects_xy(geom, x, y)).tolist()
    }


def test_covers_is_geos_on_real_district_boundaries(districts):
    index = PolygonIndex(districts)
    points = _hard_points(districts, np.random.default_rng(7), 20_000)
    x, y = np.ascontiguousarray(points[:, 0]), np.ascontiguousarray(points[:, 1])
    found, polys = index.query(x, y)
    assert set(zip(found.tolist(), polys.tolist(), strict=True)) == _geos_pairs(districts, x, y)
    assert np.all(np.diff(found) >= 0), "pairs come in the points' order"
    # the hard points reached the exact answer on an edge as well as inside and outside
    states = [
        kernels.covers(index.geoms.wkb_blob, index.geoms.wkb_offsets[p], px, py)
        for px, py in points[-2000:]
        for p in range(len(districts))
    ]
    assert kernels.COVERED in states and kernels.OUTSIDE in states


def test_first_rows_are_the_lowest_of_geos_pairs(districts):
    """The lowest covering row per point, found without listing every pair: GEOS's answer on
    the hard points, which take the undecided way too; overlapping polygons (each district
    and a shrunken copy after all of them) tell the lowest row from any covering one."""
    shrunk = np.array([affinity.scale(d, 0.5, 0.5) for d in districts], dtype=object)
    geoms = np.concatenate([districts, shrunk])
    index = PolygonIndex(geoms)
    points = _hard_points(geoms, np.random.default_rng(11), 20_000)
    x, y = np.ascontiguousarray(points[:, 0]), np.ascontiguousarray(points[:, 1])
    pairs = _geos_pairs(geoms, x, y)
    expected = np.full(len(x), -1)
    for k, p in sorted(pairs, reverse=True):
        expected[k] = p  # the lowest row of each point's pairs is written last
    grid = index.grid
    rows = kernels.first_covering_rows(
        x, y, grid.x0, grid.y0, grid.dx, grid.dy, grid.nx, grid.ny, index.cell_ptr,
        index.entry_poly, index.entry_boundary, index.bounds, index.geoms.wkb_blob,
        index.geoms.wkb_offsets, index.edge_ptr, index.edge_at, index.entry_ref,
    )  # fmt: skip
    assert (rows == kernels.NOT_DECIDED).any(), "some hard points were left to GEOS"
    assert index.first_rows(x, y).tolist() == expected.tolist()
    covering = np.bincount([k for k, _ in pairs], minlength=len(x))
    assert (covering >= 2).sum() > 1000 and (expected == -1).any()  # the lowest of several


def test_one_point_s_query_is_the_arrays_and_geos_answer(districts):
    """``query_one`` (the single look-up's: one compiled call on a cell's WKB, GEOS where it
    cannot tell) against the array query and GEOS, on the hard points, none of the polygons
    decoded by it."""
    blob, offsets = packed(shapely.to_wkb(districts))  # WKB only, as mapped from the files
    index = PolygonIndex.from_arrays(
        Geoms(len(districts), wkb=blob, offsets=offsets),
        build_index(districts).with_cell_edges((blob, offsets)),
    )
    points = _hard_points(districts, np.random.default_rng(9), 5_000)
    x, y = np.ascontiguousarray(points[:, 0]), np.ascontiguousarray(points[:, 1])
    found, polys = index.query(x, y)
    expected = _geos_pairs(districts, x, y)
    assert set(zip(found.tolist(), polys.tolist(), strict=True)) == expected
    one = {(k, p) for k, (px, py) in enumerate(points.tolist()) for p in index.query_one(px, py)}
    assert one == expected
    assert index.geoms.decoded <= 6  # only what GEOS had to tell: not a polygon per point
    triangle = shapely.Polygon([(0, 0), (3, 1), (0, 1)])  # (1, 1/3): GEOS must tell
    small = PolygonIndex(np.array([triangle]))
    for px, py in ((1.0, 1 / 3), (2.0, 2 / 3), (1.0, 0.9), (0.5, 0.1)):
        assert small.query_one(px, py) == ([0] if shapely.intersects_xy(triangle, px, py) else [])
    assert kernels.covers(small.geoms.wkb_blob, 0, 1.0, 1 / 3) == kernels.UNDECIDED


def test_a_point_within_rounding_of_an_edge_is_left_to_geos():
    # (1, 1/3) lies on the line of the edge (0, 0)–(3, 1) but for the rounding of 1/3: the
    # orientation's filter cannot tell its side, and GEOS's exact arithmetic decides
    triangle = shapely.Polygon([(0, 0), (3, 1), (0, 1)])
    index = PolygonIndex(np.array([triangle]))
    assert kernels.covers(index.geoms.wkb_blob, 0, 1.0, 1 / 3) == kernels.UNDECIDED
    x = np.array([1.0, 2.0, 1.0, 0.5])
    y = np.array([1 / 3, 2 / 3, 0.9, 0.1])
    found, _ = index.query(x, y)
    assert found.tolist() == np.flatnonzero(shapely.intersects_xy(triangle, x, y)).tolist()
    assert 2 in found.tolist() and 3 not in found.tolist()


def test_holes_multipolygons_and_horizontal_edges_are_geos():
    shell = [(0, 0), (10, 0), (10, 10), (0, 10), (0, 0)]
    hole = [(2, 2), (8, 2), (8, 8), (2, 8), (2, 2)]
    geoms = np.array(
        [
            shapely.Polygon(shell, [hole]),
            shapely.MultiPolygon([shapely.box(20, 0, 25, 5), shapely.box(30, 0, 35, 5)]),
            # a hole touching the shell's edge at one point
            shapely.Polygon([(40, 0), (50, 0), (50, 10), (40, 10)], [[(40, 5), (43, 5), (43, 7)]]),
            # an edge all but horizontal
            shapely.Polygon([(0, 20), (10, 20), (10, 20.0000001), (0, 30)]),
        ]
    )
    assert shapely.is_valid(geoms).all()
    index = PolygonIndex(geoms)
    rng = np.random.default_rng(3)
    grid = np.mgrid[-1:52:0.5, -1:32:0.5].reshape(2, -1).T
    points = np.concatenate([grid, _hard_points(geoms, rng, 5_000)])
    x, y = np.ascontiguousarray(points[:, 0]), np.ascontiguousarray(points[:, 1])
    found, polys = index.query(x, y)
    assert set(zip(found.tolist(), polys.tolist(), strict=True)) == _geos_pairs(geoms, x, y)
    assert (5.0, 5.0) not in {tuple(points[k]) for k in found.tolist()}, "a hole's inside"
    on_hole_edge = np.flatnonzero((points[:, 0] == 2) & (points[:, 1] == 5))
    assert set(found.tolist()) >= set(on_hole_edge.tolist()), "a hole's edge is covered"


@pytest.mark.parametrize("clip_vertices", [0, 10**9], ids=["every-cell-s-edges", "whole"])
def test_a_cell_s_own_edges_answer_as_the_whole_polygon(districts, clip_vertices):
    """Each boundary entry tests the point against the edges through its cell from the cell's
    centre; the hard points (on vertices, on edges, within rounding of an edge's line) and the
    holes, parts and all but horizontal edges give GEOS's answer with every entry listing its
    edges, as with none (every polygon walked whole)."""
    shell = [(0, 0), (10, 0), (10, 10), (0, 10), (0, 0)]
    geoms = np.concatenate([districts, [
        shapely.Polygon(shell, [[(2, 2), (8, 2), (8, 8), (2, 8), (2, 2)]]),
        shapely.MultiPolygon([shapely.box(20, 0, 25, 5), shapely.box(30, 0, 35, 5)]),
        shapely.Polygon([(40, 0), (50, 0), (50, 10), (40, 10)], [[(40, 5), (43, 5), (43, 7)]]),
        shapely.Polygon([(0, 20), (10, 20), (10, 20.0000001), (0, 30)]),
    ]])  # fmt: skip
    for part in (geoms[: len(districts)], geoms[len(districts) :]):
        made = Geoms.of(part)
        wkb = (made.wkb_blob, made.wkb_offsets)
        arrays = build_index(part).with_cell_edges(wkb, clip_vertices)
        index = PolygonIndex.from_arrays(made, arrays)
        listed = np.count_nonzero(index.entry_boundary & (index.entry_ref != kernels.UNDECIDED))
        assert (listed > 0) == (clip_vertices == 0)
        points = _hard_points(part, np.random.default_rng(11), 20_000)
        x, y = np.ascontiguousarray(points[:, 0]), np.ascontiguousarray(points[:, 1])
        found, polys = index.query(x, y)
        assert set(zip(found.tolist(), polys.tolist(), strict=True)) == _geos_pairs(part, x, y)
        one = {
            (k, p) for k, (px, py) in enumerate(points.tolist()) for p in index.query_one(px, py)
        }
        assert one == _geos_pairs(part, x, y)


def test_a_polygon_the_loop_cannot_read_is_left_to_geos():
    # three-dimensional WKB: the compiled loop reads 2D only, so GEOS answers every pair
    geoms = np.array([shapely.Polygon([(0, 0, 1), (4, 0, 1), (4, 4, 1), (0, 4, 1)])])
    index = PolygonIndex(geoms)
    assert kernels.covers(index.geoms.wkb_blob, 0, 1.0, 1.0) == kernels.UNDECIDED
    x = np.array([1.0, 4.0, 5.0, 2.0])
    y = np.array([1.0, 2.0, 1.0, 4.0])
    found, polys = index.query(x, y)
    assert found.tolist() == [0, 1, 3] and polys.tolist() == [0, 0, 0]


def test_boundary_distances_are_geos_to_the_last_bit(districts):
    # in metres as the snapshot measures: the boundary of each polygon, holes and parts apart
    geoms = np.concatenate(
        [districts, [shapely.Polygon(shapely.box(0, 0, 1, 1).exterior, [[(0.2, 0.2), (0.4, 0.2),
                                                                       (0.4, 0.4), (0.2, 0.2)]]),
                     shapely.MultiPolygon([shapely.box(2, 0, 3, 1), shapely.box(4, 0, 5, 1)]),
                     shapely.Point(7, 0.5).buffer(0.5, quad_segs=25)]]  # 101 vertices
    )  # fmt: skip
    # the hand-made ones a few km wide beside the districts
    geoms[-3:] = [affinity.translate(affinity.scale(g, 0.01, 0.01, origin=(0, 0)), 126.5, 41.5)
                  for g in geoms[-3:]]  # fmt: skip
    index = PolygonIndex(geoms)
    zone = zone_of_epsg(4551)  # CGCS2000 3° Gauss-Krüger, CM 126°E
    rng = np.random.default_rng(11)
    rows = rng.integers(0, len(geoms), 30_000)
    lines = shapely.boundary(shapely.transform(geoms, lambda c: forward_coords(c, zone)))
    bounds = shapely.bounds(lines)[rows]
    x = rng.uniform(bounds[:, 0] - 50, bounds[:, 2] + 50)
    y = rng.uniform(bounds[:, 1] - 50, bounds[:, 3] + 50)
    expected = shapely.distance(shapely.points(x, y), lines[rows])
    assert np.array_equal(GkBoundaries(index.geoms, zone).distances(rows, x, y), expected)
    # one point at a time: the short boundaries measured off the WKB before they are made (the
    # circle's 101 vertices until its second point), the long ones (the districts) made with
    # their R-tree, then every boundary as made
    one = GkBoundaries(index.geoms, zone)
    circle = len(geoms) - 1
    assert one.distance_one(circle, float(x[0]), float(y[0])) == lines[circle].distance(
        shapely.Point(x[0], y[0])
    )
    assert not one._have[circle]
    for k in range(3000):
        assert one.distance_one(int(rows[k]), float(x[k]), float(y[k])) == expected[k]
    assert len(one.trees) == len(districts)
    assert one._have.tolist() == [True] * len(districts) + [False, False, True]
    one[np.arange(len(geoms))]
    for k in range(3000, 4000):
        assert one.distance_one(int(rows[k]), float(x[k]), float(y[k])) == expected[k]


@pytest.mark.parametrize("lat", [18.5, 41.5, 53.5])
def test_a_boundary_measured_on_the_tangent_map_is_geos_number(lat):
    # polygons of 16–400 vertices from 30 m to 40 km across (past TANGENT_REACH_M: moved
    # exactly), at the edge of their 3° zone and on its meridian, points from inside to 5 km
    # off: the segments kept by the tangent map's bound hold the nearest, every time
    zone = zone_of_epsg(4551)  # CM 126°E
    rng = np.random.default_rng(int(lat * 10))
    geoms = []
    for k in range(240):
        vertices = int(rng.integers(distances.TANGENT_FROM, 400))
        angle = np.sort(rng.uniform(0, 2 * np.pi, vertices))
        radius = 10 ** rng.uniform(-3.5, -0.6) * rng.uniform(0.6, 1.0, vertices)  # degrees
        lon0 = 126 + (-1.45 if k % 2 else 0.2)
        ring = np.stack([lon0 + radius * np.cos(angle), lat + radius * np.sin(angle)], axis=1)
        geoms.append(shapely.make_valid(shapely.Polygon(ring)))
    geoms = np.array([g for g in geoms if g.geom_type in ("Polygon", "MultiPolygon")])
    index = PolygonIndex(geoms)
    lines = shapely.boundary(shapely.transform(geoms, lambda c: forward_coords(c, zone)))
    rows = rng.integers(0, len(geoms), 20_000)
    pad = rng.choice([0.0, 10.0, 5000.0], len(rows))
    bounds = shapely.bounds(lines)[rows]
    x = rng.uniform(bounds[:, 0] - pad, bounds[:, 2] + pad)
    y = rng.uniform(bounds[:, 1] - pad, bounds[:, 3] + pad)
    expected = shapely.distance(shapely.points(x, y), lines[rows])
    blob, offsets = index.geoms.wkb_blob, index.geoms.wkb_offsets
    found = [
        distances.boundary_distance(blob, offsets[r], x[k], y[k], zone.central_meridian,
                                    zone.false_easting, 1_000)[0]
        for k, r in enumerate(rows.tolist())
    ]  # fmt: skip
    assert np.array_equal(np.array(found), expected)


def test_nearest_segment_within_is_the_r_tree_s_answer(districts):
    rings = shapely.boundary(districts)
    coords, which = shapely.get_coordinates(shapely.get_parts(rings), return_index=True)
    same = which[1:] == which[:-1]
    start, end = coords[:-1][same] * 1e5, coords[1:][same] * 1e5
    segments = distances.Segments.of(start[:, 0], start[:, 1], end[:, 0], end[:, 1])
    tree = shapely.STRtree(shapely.linestrings(np.stack([start, end], axis=1)))
    rng = np.random.default_rng(5)
    minx, miny, maxx, maxy = (
        start[:, 0].min(),
        start[:, 1].min(),
        start[:, 0].max(),
        start[:, 1].max(),
    )
    span = max(maxx - minx, maxy - miny)
    x = rng.uniform(minx - span / 4, maxx + span / 4, 20_000)
    y = rng.uniform(miny - span / 4, maxy + span / 4, 20_000)
    _, nearest = tree.query_nearest(shapely.points(x, y), return_distance=True, all_matches=False)
    assert np.array_equal(segments.nearest_within(x, y, np.inf), nearest)
    limit = rng.uniform(0, np.median(nearest) * 2, len(x))
    within = segments.nearest_within(x, y, limit)
    assert np.array_equal(within, np.where(nearest < limit, nearest, np.inf))
    assert np.isfinite(within).any() and np.isinf(within).any()


def test_z_order_puts_near_points_together_in_the_order_of_their_keys():
    """``morton_order`` (two radix passes) is the stable sort of the points' Z-order keys:
    ties keep their input order, points that are not finite go to the clipped corners."""
    from weijian.jurisdiction.engine import morton_order

    rng = np.random.default_rng(3)
    for n in (0, 1, 7, 100_000):
        lon, lat = rng.uniform(126.0, 127.5, n), rng.uniform(41.5, 42.5, n)
        if n > 7:
            lon[::97], lat[::101] = np.nan, np.inf
            lon[5:9], lat[5:9] = lon[4], lat[4]  # ties
        order = morton_order(lon, lat)
        finite = np.isfinite(lon) & np.isfinite(lat)
        if n == 0:
            assert len(order) == 0
            continue
        lo_x, hi_x = lon[finite].min(), lon[finite].max()
        lo_y, hi_y = lat[finite].min(), lat[finite].max()
        qx = np.clip(np.nan_to_num((lon - lo_x) * (65535 / max(hi_x - lo_x, 1e-12))), 0, 65535)
        qy = np.clip(np.nan_to_num((lat - lo_y) * (65535 / max(hi_y - lo_y, 1e-12))), 0, 65535)
        bits = np.arange(16)
        key = (((qx.astype(np.int64)[:, None] >> bits) & 1) << (2 * bits)).sum(axis=1) | (
            (((qy.astype(np.int64)[:, None] >> bits) & 1) << (2 * bits + 1)).sum(axis=1)
        )
        assert np.array_equal(order, np.argsort(key, kind="stable"))


def test_a_box_over_the_grids_corner_from_outside_is_not_plain():
    """Both corners of a box outside a layer's grid do not make it wholly outside: a box may
    reach over the grid's corner, where a polygon is. Only a box wholly outside is plain."""
    from weijian.jurisdiction.locator import Locator

    index = PolygonIndex(
        np.array([shapely.box(0.0, 0.0, 1.0, 1.0), shapely.box(2.0, 0.0, 3.0, 1.0)])
    )
    locator = Locator([index])
    over_the_corner = (-0.5, 0.5, 0.5, 1.5)  # lower left outside on the left, upper right above
    assert index.grid.cell_of(np.array([-0.5, 0.5]), np.array([0.5, 1.5])).tolist() == [-1, -1]
    assert not index.box_is_plain_one(*over_the_corner)
    assert not index.boxes_are_plain(*(np.array([v]) for v in over_the_corner))[0]
    assert locator.plain(*over_the_corner) == [False]
    for outside in [(-2.0, -2.0, -1.0, -1.0), (4.0, 0.2, 5.0, 0.8), (0.2, 2.0, 0.8, 3.0)]:
        assert index.box_is_plain_one(*outside)
        assert index.boxes_are_plain(*(np.array([v]) for v in outside))[0]
        assert locator.plain(*outside) == [True]
