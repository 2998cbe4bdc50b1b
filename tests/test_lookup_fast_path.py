"""The answer served from parts serialised beforehand against the answer built the plain way
(``reference_lookup``, then ``public_answer`` for the public) on the sample city: random points,
points on vertices and edges, points within 10 m of a boundary, points outside every zone and
outside the city — the same bytes, for the public and for a user whose scope holds the grid, at
tolerance 0 and 10 m."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import orjson
import pytest
import shapely

from weijian.jurisdiction import engine
from weijian.jurisdiction.engine import (
    answer_json,
    grid_codes,
    lookup,
    lookup_parts,
    public_answer,
)
from weijian.jurisdiction.reference import reference_lookup
from weijian.jurisdiction.snapshot import load_snapshot


@pytest.fixture
def snap(sample_city):
    return load_snapshot(sample_city)


def _points(snap, rng) -> tuple[np.ndarray, np.ndarray]:
    """Random points over and around the city, vertices and edge midpoints of every zone and
    grid, and points moved up to 10 m off them (in Gauss-Krüger)."""
    geoms = np.concatenate(
        [layer.index.geoms.all() for layer in snap.zone_layers]
        + [g.index.geoms.all() for g in snap.grids.values()]
    )
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    pad = 0.05  # beyond every zone and the city's edge
    lon = [rng.uniform(minx - pad, maxx + pad, 1500)]
    lat = [rng.uniform(miny - pad, maxy + pad, 1500)]
    coords, which = shapely.get_coordinates(
        shapely.get_rings(shapely.get_parts(geoms)), return_index=True
    )
    pick = rng.choice(len(coords) - 1, 600, replace=False)
    lon.append(coords[pick, 0])
    lat.append(coords[pick, 1])
    same = which[pick] == which[pick + 1]
    a, b = coords[pick][same], coords[pick + 1][same]
    lon.append((a[:, 0] + b[:, 0]) / 2)
    lat.append((a[:, 1] + b[:, 1]) / 2)
    near = rng.choice(len(coords), 1500, replace=False)
    x, y = snap.points_gk(coords[near, 0], coords[near, 1])
    angle = rng.uniform(0, 2 * np.pi, len(near))
    radius = rng.uniform(0, 10.5, len(near))
    moved_lon, moved_lat = snap.to_gk.transform(
        x + radius * np.cos(angle), y + radius * np.sin(angle), direction="INVERSE"
    )
    lon.append(np.asarray(moved_lon))
    lat.append(np.asarray(moved_lat))
    return np.concatenate(lon), np.concatenate(lat)


def test_one_compiled_call_answers_for_every_layer_as_each_index_does(snap):
    lon, lat = _points(snap, np.random.default_rng(7))
    indexes = [layer.index for layer in snap.zone_layers]
    indexes += [grid.index for grid in snap.grids.values()]
    found = 0
    for x, y in zip(lon.tolist(), lat.tolist(), strict=True):
        zones, grids = snap.locate(x, y)
        assert list(grids) == list(snap.grids)
        each = [index.query_one(x, y) for index in indexes]
        assert zones + list(grids.values()) == each
        found += sum(map(len, each))
    assert found > len(lon)  # most points lie in a grid and a zone or more
    # the tolerance boxes around them: plain where each index calls them plain
    plain = 0
    for x, y in zip(lon.tolist(), lat.tolist(), strict=True):
        for tolerance in (0.5, 10.0, 300.0):
            box = engine.tolerance_box_one(x, y, tolerance)
            zones, grids = snap.plain(box)
            each = [index.box_is_plain_one(*box) for index in indexes]
            assert zones + list(grids.values()) == each
            plain += sum(each)
    assert 0 < plain < len(lon) * 3 * len(indexes)


@pytest.mark.parametrize("broken", [None, "links", "level"])
def test_one_compiled_call_decides_as_the_cells_polygons_do(snap, broken):
    """``decide_cells`` (the zones, the deciding one and the grid chain in one call) against
    the decision made from ``Snapshot.locate``'s polygons: the same everywhere, also where a
    grid's parent is missing or a whole level; where GEOS must tell, it leaves the point."""
    if broken == "links":
        for level, upper in (("compound", "community"), ("community", "town")):
            grid, above = snap.grids[level], snap.grids[upper]
            lost = {grid.parents[row] for row in range(0, len(grid.parents), 3)}
            above.row_of = {code: row for code, row in above.row_of.items() if code not in lost}
            grid.parent_rows = np.array([above.row_of.get(p, -1) if p else -1
                                         for p in grid.parents], dtype=np.int64)  # fmt: skip
    elif broken == "level":
        del snap.grids["community"]
    lon, lat = _points(snap, np.random.default_rng(11))
    on = date.today()
    compiled = 0
    for x, y in zip(lon.tolist(), lat.tolist(), strict=True):
        ours = engine.decide_fast(snap, x, y, on)
        theirs = engine._decide_located(snap, x, y, on)
        order = [layer.order for layer in snap.zone_layers]
        assert ours.resolution == theirs.resolution, (x, y)
        assert ours.district_row == theirs.district_row
        assert ours.chain == theirs.chain, (x, y)
        assert engine._deciding_pair(snap, ours) == engine._deciding_pair(snap, theirs)
        if snap.decide_one(x, y, on) is not None:  # its zones in the answer's order
            assert list(ours.zones) == sorted(theirs.zones, key=lambda z: order[z[0]][z[1]])
            compiled += 1
    assert 0.9 * len(lon) < compiled < len(lon)  # GEOS asked for a few (vertices, edges)
    if broken == "links":
        assert any(-1 in g.parent_rows.tolist() for g in snap.grids.values())


@pytest.mark.parametrize("tolerance_m", [0.0, 10.0])
def test_joined_bytes_are_the_plain_answer(snap, tolerance_m):
    rng = np.random.default_rng(20261205)
    lon, lat = _points(snap, rng)
    on = date.today()
    seen = {"ambiguous": 0, "unassigned": 0, "outside_city": 0, "people": 0}
    for x, y in zip(lon.tolist(), lat.tolist(), strict=True):
        given = {"x": x, "y": y, "crs": "CGCS2000"}
        plain = reference_lookup(snap, x, y, on=on, tolerance_m=tolerance_m, given=given)
        parts = lookup_parts(snap, x, y, on=on, tolerance_m=tolerance_m, given=given)
        scoped = answer_json(snap, parts, scoped=True)
        public = answer_json(snap, parts, scoped=False)
        assert orjson.loads(scoped) == plain, (x, y)
        assert orjson.loads(public) == public_answer(plain), (x, y)
        assert scoped == orjson.dumps(plain)  # key order too
        assert public == orjson.dumps(public_answer(plain))
        assert parts.grid_codes(snap) == grid_codes(plain)
        assert lookup(snap, x, y, on=on, tolerance_m=tolerance_m, given=given) == plain
        seen["ambiguous"] += plain["ambiguous"]
        seen["unassigned"] += plain["status"] == "unassigned"
        seen["outside_city"] += plain["reason"] == "outside_city"
        seen["people"] += any(g and g.get("responsible") for g in plain["grid"].values())
    # the points reach every kind of answer
    assert seen["unassigned"] > 50 and seen["outside_city"] > 20 and seen["people"] > 100
    assert (seen["ambiguous"] > 100) == (tolerance_m > 0)


def test_a_scoped_user_sees_the_people_and_the_public_does_not(snap):
    """What the route sends: the people responsible only in the scoped form, nothing else
    differs."""
    district = snap.grids["district"]
    x, y = shapely.get_coordinates(shapely.point_on_surface(district.index.geoms[0]))[0]
    parts = lookup_parts(snap, float(x), float(y), on=date.today())
    scoped = orjson.loads(answer_json(snap, parts, scoped=True))
    public = orjson.loads(answer_json(snap, parts, scoped=False))
    assert any(g and "responsible" in g for g in scoped["grid"].values())
    assert not any(g and "responsible" in g for g in public["grid"].values())
    assert {k: v for k, v in scoped.items() if k != "grid"} == {
        k: v for k, v in public.items() if k != "grid"
    }


def test_the_batch_asks_its_rings_as_decide_arrays_would(snap):
    """The ring samples of a batch, answered with the centres' plain layers and levels lent,
    against every sample decided on its own (``decide_arrays``)."""
    rng = np.random.default_rng(11)
    lon, lat = _points(snap, rng)
    on = date.today()
    answer = engine.answer_arrays(snap, lon, lat, on=on, tolerance_m=10.0)
    decision = answer.decision
    x_gk, y_gk = snap.points_gk(lon, lat)
    ring = np.flatnonzero(
        engine.needs_rings(snap, lon, lat, decision.rule_pos, answer.distance, x_gk, y_gk, 10.0, on)
    )
    assert len(ring) > 500
    ring_lon, ring_lat = engine.ring_points(snap, x_gk[ring], y_gk[ring], 10.0)
    ring_lon, ring_lat = ring_lon.ravel(), ring_lat.ravel()
    ours = engine._sample_keys(snap, decision, lon, lat, ring, ring_lon, ring_lat, 10.0, on)
    each = engine.decide_arrays(snap, ring_lon, ring_lat, on)
    plain = np.stack(
        [each.rule_pos, each.grid_rows["district"], each.reason.astype(np.int64)], axis=1
    )
    assert np.array_equal(ours, plain)
    assert len(np.unique(plain, axis=0)) > 10  # the samples reach many different answers


def test_ring_samples_compiled_agree_with_geos_where_floating_point_cannot_tell(snap):
    """Ring samples on the midpoints of every zone's and grid's edges (many exactly on an
    oblique edge's line, where the compiled test leaves the sample to GEOS): the compiled
    passes answer as the array path does."""
    from weijian.jurisdiction import kernels, rings

    geoms = [layer.index for layer in snap.zone_layers] + [g.index for g in snap.grids.values()]
    coords, which = shapely.get_coordinates(
        shapely.get_rings(shapely.get_parts(np.concatenate([i.geoms.all() for i in geoms]))),
        return_index=True,
    )
    same = which[1:] == which[:-1]
    mid = (coords[:-1][same] + coords[1:][same]) / 2
    lon, lat = np.ascontiguousarray(mid[:, 0]), np.ascontiguousarray(mid[:, 1])
    owner = np.arange(len(lon))
    on = date.today()
    lent = [None] * len(snap.zone_layers)
    ours = rings.sample_best_ranks(snap, lon, lat, owner, lent, on)
    theirs = rings.best_ranks_at(snap, lon, lat, owner, lent, on)
    assert np.array_equal(ours[0], theirs[0]) and np.array_equal(ours[1], theirs[1])
    given = {level: np.full(len(lon), rings.UNKNOWN) for level in snap.grids}
    districts = rings.sample_districts(snap, lon, lat, owner, given)
    assert np.array_equal(districts, rings.districts_at(snap, lon, lat, given))
    assert (districts >= 0).any() and (districts < 0).any()
    index = snap.grids["district"].index
    edges = shapely.get_coordinates(index.geoms.all())
    states = {
        kernels.covers(index.geoms.wkb_blob, index.geoms.wkb_offsets[p], x, y)
        for x, y in ((edges[:-1] + edges[1:]) / 2).tolist()
        for p in range(len(index.geoms))
    }
    assert kernels.UNDECIDED in states, "no sample the compiled test had to leave to GEOS"


@pytest.mark.parametrize("broken", ["links", "level"])
def test_ring_districts_where_a_grid_has_no_parent_or_a_level_is_missing(snap, broken):
    """The compiled pass reads a sample's district through its grid's parents (followed once
    a snapshot); where a parent is missing, or a whole level, it asks the index as the array
    path does."""
    from weijian.jurisdiction import kernels, rings

    if broken == "links":
        for level in ("compound", "community"):
            grid = snap.grids[level]
            grid.parent_rows = np.where(np.arange(len(grid.parent_rows)) % 3 == 0, -1,
                                        grid.parent_rows)  # fmt: skip
    else:
        del snap.grids["community"]
    snap.grid_tables = None
    rng = np.random.default_rng(5)
    lon, lat = _points(snap, rng)
    owner = np.arange(len(lon))
    given = {level: np.full(len(lon), rings.UNKNOWN) for level in snap.grids}
    ours = rings.sample_districts(snap, lon, lat, owner, given)
    assert np.array_equal(ours, rings.districts_at(snap, lon, lat, given))
    assert (ours >= 0).sum() > 1000
    chain = rings._grid_tables(snap)[2][0]
    assert (chain == kernels.LINK_MISSING).any()  # the spatial way was taken


def test_a_batch_on_two_processes_answers_as_one_process_does(snap):
    """The points shared out to two worker processes (Z-ordered, in slices) and their answers
    sent back narrowed: every value the same as one process's answer."""
    from weijian.jurisdiction.batch import Answerer

    rng = np.random.default_rng(17)
    lon, lat = _points(snap, rng)
    on = date.today()
    answerer = Answerer(snap, 2)
    try:
        order, parts = answerer.answer(lon, lat, on, 10.0)
    finally:
        answerer.close()
    assert len(parts) == 4 and len(lon) > 2000
    whole = engine.answer_arrays(snap, lon[order], lat[order], on=on, tolerance_m=10.0)
    wd = whole.decision
    for positions, part in parts:
        d, first = part.decision, int(positions[0])
        assert np.array_equal(positions, np.arange(first, first + len(positions)))
        assert np.array_equal(d.rule_pos, wd.rule_pos[positions])
        assert np.array_equal(d.reason, wd.reason[positions])
        assert np.array_equal(d.zone_layer, wd.zone_layer[positions])
        assert np.array_equal(d.zone_index, wd.zone_index[positions])
        for level, rows in d.grid_rows.items():
            assert np.array_equal(rows, wd.grid_rows[level][positions])
        for (points, zones), (all_points, all_zones) in zip(d.zone_pairs, wd.zone_pairs,
                                                            strict=True):  # fmt: skip
            mine = (all_points >= first) & (all_points < first + len(positions))
            assert np.array_equal(points, all_points[mine] - first)
            assert np.array_equal(zones, all_zones[mine])
        assert np.array_equal(part.distance, whole.distance[positions], equal_nan=True)
        assert part.alternatives == {
            p - first: alts for p, alts in whole.alternatives.items()
            if first <= p < first + len(positions)
        }  # fmt: skip
    assert sum(len(part.alternatives) for _, part in parts) > 100


def test_the_rings_are_left_out_only_where_they_would_find_nothing(snap):
    """Every point's rings sampled and decided one by one (``decide_arrays``): the alternatives
    the batch finds with its filter (``needs_rings``: the deciding boundary, a district edge, an
    edge of a zone that could change the answer within the tolerance) are all there are, and
    the filter leaves most points out."""
    rng = np.random.default_rng(23)
    lon, lat = _points(snap, rng)
    on = date.today()
    answer = engine.answer_arrays(snap, lon, lat, on=on, tolerance_m=10.0)
    decision = answer.decision
    x_gk, y_gk = snap.points_gk(lon, lat)
    ring_lon, ring_lat = engine.ring_points(snap, x_gk, y_gk, 10.0)
    each = engine.decide_arrays(snap, ring_lon.ravel(), ring_lat.ravel(), on)
    keys = np.stack(
        [each.rule_pos, each.grid_rows["district"], each.reason.astype(np.int64)], axis=1
    ).reshape(len(lon), engine.RING_TOTAL, 3)
    own = np.stack(
        [decision.rule_pos, decision.grid_rows["district"], decision.reason.astype(np.int64)],
        axis=1,
    )
    everywhere = engine._new_keys(np.arange(len(lon)), keys, own)
    assert answer.alternatives == everywhere
    assert len(everywhere) > 300
    flagged = engine.needs_rings(
        snap, lon, lat, decision.rule_pos, answer.distance, x_gk, y_gk, 10.0, on
    )
    assert flagged.sum() < 0.6 * len(lon), flagged.sum()
    # the reasons change on the rings too: a point beside a zone without a rule
    reasons = {reason for alts in everywhere.values() for _, _, reason in alts}
    assert len(reasons) > 1, reasons


def test_a_box_is_called_clear_of_a_segment_only_where_it_is():
    """The compiled segment–box test against GEOS on random segments and boxes, many of them
    touching at a corner or along a side: never "clear" where they meet."""
    from weijian.jurisdiction.kernels import _segment_meets_box

    rng = np.random.default_rng(3)
    met = cleared = 0
    for _ in range(20_000):
        minx, miny = rng.uniform(0, 1, 2)
        maxx, maxy = minx + rng.uniform(0, 0.3), miny + rng.uniform(0, 0.3)
        corners = [(minx, miny), (maxx, miny), (minx, maxy), (maxx, maxy)]
        a = rng.uniform(-0.2, 1.2, 2)
        b = corners[rng.integers(4)] if rng.random() < 0.2 else rng.uniform(-0.2, 1.2, 2)
        truth = shapely.intersects(shapely.box(minx, miny, maxx, maxy), shapely.LineString([a, b]))
        ours = _segment_meets_box(a[0], a[1], b[0], b[1], minx, miny, maxx, maxy)
        assert ours or not truth, (a, b, (minx, miny, maxx, maxy))
        met += truth
        cleared += not ours
    assert met > 3000 and cleared > 3000


def test_a_point_beside_a_zone_without_a_rule_is_ambiguous(engine, tmp_path):
    """On the hand-built city, 5 m outside 城镇住宅用地 (a parcel no rule matches) where no
    zone lies: "no zone" here, "no rule" on the rings — found by the single and the batch way
    alike, though no zone with a rule is near."""
    from tests import city

    city.build(engine, tmp_path)
    snap = load_snapshot(engine)
    on = date.today()
    lon, lat = city.lonlat(3.5, 3.005)
    answer = reference_lookup(snap, lon, lat, on=on, tolerance_m=10.0)
    assert answer["reason"] == "no_zone"
    assert [a["reason"] for a in answer["alternatives"]] == ["no_rule"]
    assert batch_reasons(snap, lon, lat, on) == ["no_rule"]
    far_lon, far_lat = city.lonlat(3.5, 3.02)  # 20 m off: nothing within the tolerance
    assert not reference_lookup(snap, far_lon, far_lat, on=on, tolerance_m=10.0)["ambiguous"]


def batch_reasons(snap, lon: float, lat: float, on: date) -> list[str]:
    """The reasons of one point's alternatives, answered the batch way."""
    answer = engine.answer_arrays(snap, np.array([lon]), np.array([lat]), on=on, tolerance_m=10.0)
    return [engine.REASON_CODES[reason] for _, _, reason in answer.alternatives.get(0, [])]


@pytest.mark.parametrize("broken", [None, "level"])
def test_ring_samples_decided_in_one_call_as_the_arrays_decide_them(snap, broken):
    """``Snapshot.ring_decisions`` (every ring sample decided by ``decide_cells``) against the
    array path with its plain-box shortcuts: the same district, best rank and coverage for
    every sample; where GEOS must tell a sample, it leaves the point to the array path."""
    if broken == "level":
        del snap.grids["community"]
    lon, lat = _points(snap, np.random.default_rng(17))
    on = date.today()
    x_gk, y_gk = snap.points_gk(lon, lat)
    compiled = outside = 0
    for x, y, xg, yg in zip(lon.tolist(), lat.tolist(), x_gk.tolist(), y_gk.tolist(),
                            strict=True):  # fmt: skip
        for tolerance in (0.5, 10.0, 200.0):
            ours = snap.ring_decisions(xg, yg, tolerance, engine._RING_COS, engine._RING_SIN, on)
            if ours is None:
                continue
            decision = engine.decide_fast(snap, x, y, on)
            theirs = engine._ring_samples_as_arrays(snap, x, y, xg, yg, decision, tolerance, on)
            assert ours == theirs, (x, y, tolerance)
            compiled += 1
            outside += None in ours[0]
    assert compiled > 0.9 * 3 * len(lon) and outside > 100


def test_one_point_distance_to_a_kept_boundary_is_geos_number(snap):
    """A boundary measured a second time is kept in metres, and one point's distance to it
    measured by the compiled loop over its vertices: GEOS's number, bit for bit."""
    rng = np.random.default_rng(3)
    measured = 0
    for number, layer in enumerate(snap.zone_layers):
        boundaries = snap.zone_boundaries_gk[number]
        geoms = layer.index.geoms.all()
        longest_first = np.argsort(-shapely.get_num_coordinates(geoms), kind="stable")
        for row in longest_first[:60].tolist():
            line = shapely.boundary(shapely.transform(geoms[row], boundaries.gk))
            x0, y0, x1, y1 = shapely.bounds(line)
            for x, y in zip(rng.uniform(x0 - 50, x1 + 50, 4), rng.uniform(y0 - 50, y1 + 50, 4),
                            strict=True):  # fmt: skip
                expected = shapely.distance(shapely.Point(x, y), line)
                for _ in range(3):  # off the WKB, then made, then kept
                    assert boundaries.distance_one(row, float(x), float(y)) == expected
                measured += 1
    assert measured > 200
    assert sum(len(b._vertices) for b in snap.zone_boundaries_gk) > 10


def test_the_kept_day_turns_at_local_midnight(monkeypatch):
    # today() keeps the day with its span of time.time(): the same day as date.today() up to
    # the last microsecond before local midnight, the next from midnight on, and the day
    # before again when the clock is set back
    midnight = datetime.combine(date(2026, 3, 1), datetime.min.time()).timestamp()
    for moment, day in (
        (midnight - 1e-6, date(2026, 2, 28)),
        (midnight, date(2026, 3, 1)),
        (midnight + 86_399.5, date(2026, 3, 1)),
        (midnight - 3600, date(2026, 2, 28)),
    ):
        monkeypatch.setattr(engine.time, "time", lambda moment=moment: moment)
        assert engine.today() == day == date.fromtimestamp(moment)
    monkeypatch.undo()
    assert engine.today() == date.today()
