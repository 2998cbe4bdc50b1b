"""The in-memory engine against PostGIS ST_Covers on the sample city: random points, points
exactly on vertices and on edges, points inside holes — the same zones and grids, every one; and
the single lookup against the batch, down to the alternatives of points that must be ambiguous."""

from __future__ import annotations

import itertools
import math
from datetime import date

import numpy as np
import pytest
import shapely
from sqlalchemy import text

from weijian.demo.city import load_samples
from weijian.jurisdiction.engine import REASON_CODES, answer_arrays, decide_arrays, lookup
from weijian.jurisdiction.snapshot import load_snapshot


@pytest.fixture
def loaded(sample_city):
    return load_snapshot(sample_city)


def sample_points(snap, rng, count):
    """Random points over the land-use window, vertices, edge midpoints, hole interiors."""
    landuse = next(layer for layer in snap.zone_layers if layer.name == "landuse")
    geoms = landuse.index.geoms.all()
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    pad = 0.02
    lon = [rng.uniform(minx - pad, maxx + pad, count)]
    lat = [rng.uniform(miny - pad, maxy + pad, count)]
    all_geoms = np.concatenate(
        [layer.index.geoms.all() for layer in snap.zone_layers]
        + [g.index.geoms.all() for g in snap.grids.values()]
    )
    rings = shapely.get_rings(shapely.get_parts(all_geoms))
    coords, which = shapely.get_coordinates(rings, return_index=True)
    pick = rng.choice(len(coords) - 1, 2000, replace=False)
    lon.append(coords[pick, 0])  # exactly on vertices
    lat.append(coords[pick, 1])
    same = which[pick] == which[pick + 1]
    a, b = coords[pick][same], coords[pick + 1][same]
    lon.append((a[:, 0] + b[:, 0]) / 2)  # on edges (as near as doubles get)
    lat.append((a[:, 1] + b[:, 1]) / 2)
    parts = shapely.get_parts(all_geoms)
    holes = [shapely.Polygon(hole) for part in parts for hole in part.interiors]
    if holes:
        inside = shapely.point_on_surface(np.array(holes, dtype=object))
        lon.append(shapely.get_x(inside))
        lat.append(shapely.get_y(inside))
    return np.concatenate(lon), np.concatenate(lat), len(holes)


def points_beside_district_borders(snap, rng, count: int, offset_m: float = 3.0):
    """Points ``offset_m`` from the border of two districts, on either side of the middle of
    its straight pieces (40 m long or more, so no corner is nearer than 20 m): the other
    district's answer lies within the tolerance, so each must be ambiguous. Returns lon, lat
    and the row of the district across the border."""
    districts = snap.grids["district"].index.geoms.all()
    metric = shapely.transform(
        districts, lambda xy: np.column_stack(snap.to_gk.transform(xy[:, 0], xy[:, 1]))
    )
    xs, ys, across = [], [], []
    for i in range(len(metric)):
        for j in range(i + 1, len(metric)):
            shared = shapely.intersection(metric[i].boundary, metric[j].boundary)
            lines = [g for g in shapely.get_parts(shared) if isinstance(g, shapely.LineString)]
            for line in lines:
                coords = shapely.get_coordinates(line)
                for (x0, y0), (x1, y1) in itertools.pairwise(coords):
                    length = math.hypot(x1 - x0, y1 - y0)
                    if length < 40.0:
                        continue
                    mx, my = (x0 + x1) / 2, (y0 + y1) / 2
                    nx, ny = (y0 - y1) / length, (x1 - x0) / length  # the unit normal
                    for side in (1, -1):
                        px, py = mx + side * offset_m * nx, my + side * offset_m * ny
                        here = shapely.contains_xy(metric, px, py)
                        if here[i] != here[j] and here.sum() == 1:
                            xs.append(px)
                            ys.append(py)
                            across.append(j if here[i] else i)
    assert len(xs) >= count, f"only {len(xs)} points beside district borders"
    pick = rng.choice(len(xs), count, replace=False)
    lon, lat = snap.to_gk.transform(np.array(xs)[pick], np.array(ys)[pick], direction="INVERSE")
    return np.asarray(lon), np.asarray(lat), np.array(across)[pick]


def postgis_covers(engine, lon, lat) -> dict[str, set[tuple[int, int]]]:
    """(point, zone or grid id) pairs per layer, by ST_Covers."""
    with engine.connect() as conn:
        conn.execute(text("CREATE TEMP TABLE pts (i int, geom geometry(Point, 4490))"))
        raw = conn.connection.driver_connection
        with (
            raw.cursor() as cursor,
            cursor.copy("COPY pts (i, geom) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types(["int4", "bytea"])
            points = shapely.set_srid(shapely.points(lon, lat), 4490)
            for i, wkb in enumerate(shapely.to_wkb(points, include_srid=True)):
                copy.write_row((i, wkb))
        conn.execute(text("CREATE INDEX ON pts USING gist (geom)"))
        zone_rows = conn.execute(
            text(
                "SELECT z.layer, p.i, z.id FROM pts p JOIN active_zone z "
                "ON ST_Covers(z.geom, p.geom)"
            )
        ).all()
        grid_rows = conn.execute(
            text(
                "SELECT 'grid_' || g.level, p.i, g.id FROM pts p JOIN active_grid g "
                "ON ST_Covers(g.geom, p.geom)"
            )
        ).all()
    out: dict[str, set] = {}
    for layer, i, zone_id in [*zone_rows, *grid_rows]:
        out.setdefault(layer, set()).add((i, zone_id))
    return out


def test_engine_agrees_with_postgis_st_covers(sample_city, loaded):
    engine = sample_city
    snap = loaded
    rng = np.random.default_rng(20261125)
    lon, lat, holes = sample_points(snap, rng, 12_000)
    assert len(lon) >= 14_000 and holes >= 3
    expected = postgis_covers(engine, lon, lat)

    decision = decide_arrays(snap, lon, lat, date.today())
    ours: dict[str, set] = {}
    for layer, (points, polys) in zip(snap.zone_layers, decision.zone_pairs, strict=True):
        ours[layer.name] = set(zip(points.tolist(), layer.ids[polys].tolist(), strict=True))
    with engine.connect() as conn:
        grid_ids = {
            (level, code): gid
            for level, code, gid in conn.execute(
                text("SELECT level, code, id FROM active_grid")
            ).all()
        }
    for level, grid in snap.grids.items():
        points, polys = grid.index.query(lon, lat)
        ours[f"grid_{level}"] = {
            (p, grid_ids[(level, grid.codes[q])])
            for p, q in zip(points.tolist(), polys.tolist(), strict=True)
        }
    assert set(ours) == set(expected) | (set(ours) - set(expected))
    for layer in ours:
        missing = expected.get(layer, set()) - ours[layer]
        extra = ours[layer] - expected.get(layer, set())
        assert not missing and not extra, (layer, sorted(missing)[:5], sorted(extra)[:5])
    assert sum(len(v) for v in expected.values()) > 20_000


def test_single_and_batch_answers_are_identical(loaded):
    snap = loaded
    rng = np.random.default_rng(7)
    lon, lat, _ = sample_points(snap, rng, 3000)
    border_lon, border_lat, across = points_beside_district_borders(snap, rng, 300)
    lon = np.concatenate([lon[:4000], border_lon])
    lat = np.concatenate([lat[:4000], border_lat])
    beside = dict(zip(range(4000, len(lon)), across.tolist(), strict=True))
    on = date.today()
    batch = answer_arrays(snap, lon, lat, on=on)
    in_force = snap.rules_in_force(on)
    for k in range(len(lon)):
        answer = lookup(snap, float(lon[k]), float(lat[k]), on=on)
        rule = answer["rule"]
        position = int(batch.decision.rule_pos[k])
        assert (rule["id"] if rule else None) == (in_force[position].id if position >= 0 else None)
        distance = batch.distance[k]
        if answer["boundary_distance_m"] is None:
            assert np.isnan(distance)
        else:
            # the point moved by the same compiled projection both ways: the same centimetres
            assert answer["boundary_distance_m"] == distance, (k, distance)
        assert answer["ambiguous"] == (k in batch.alternatives)
        if k in beside:  # 3 m from another district: its answer is among the alternatives
            assert answer["ambiguous"], (k, lon[k], lat[k])
            assert beside[k] in {district for _, district, _ in batch.alternatives[k]}
        if answer["ambiguous"]:
            single_keys = [
                ((a["rule"] or {}).get("id"), (a["department"] or {}).get("code"), a["reason"])
                for a in answer["alternatives"]
            ]
            batch_keys = []
            for rule_pos, district_row, reason in batch.alternatives[k]:
                rule = in_force[rule_pos] if rule_pos >= 0 else None
                district = snap.grids["district"]
                dept = (
                    snap.department(
                        rule.department_type,
                        district.codes[district_row],
                        district.names[district_row],
                    )
                    if rule
                    else None
                )
                batch_keys.append(
                    (rule.id if rule else None, dept.code if dept else None, REASON_CODES[reason])
                )
            assert single_keys == batch_keys
        for level, rows in batch.decision.grid_rows.items():
            grid, row = answer["grid"][level], int(rows[k])
            assert (grid["code"] if grid else None) == (
                snap.grids[level].codes[row] if row >= 0 else None
            )


def test_demo_reload_skips_layers_already_holding_the_same_file(sample_city, sample_dir):
    engine = sample_city
    again = load_samples(engine, sample_dir, log=lambda *_: None, skip_unchanged=True)
    assert again == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT max(number) FROM layer_version")).scalar() == 1
