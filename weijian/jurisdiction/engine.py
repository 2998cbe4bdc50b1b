"""Who is responsible for this spot: the answer for one point, and for a million at once.

One point (:func:`lookup`) goes through :func:`rules.resolve` — the single definition of
jurisdiction. Many points (:func:`decide_arrays`) go through its vectorised form (a rule rank
per zone, a global tie-break order), tested to agree with it. Both read an immutable
:class:`~weijian.jurisdiction.snapshot.Snapshot`; nothing here touches the database.

The answer (see :func:`lookup`): status and reason; department {type, code, name}; rule
{id, version, name}; every zone of every active layer that covers the point; the grid chain
district → town → community → compound with the people responsible; metres to the deciding
boundary (the deciding zone's or the district's, whichever is nearer, in Gauss-Krüger); whether
another answer lies within ``tolerance_m`` (sampled on two rings around the point) and which.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import NamedTuple

import numpy as np
import orjson

from weijian.gis import gauss_kruger
from weijian.jurisdiction import rings
from weijian.jurisdiction.answer import answer_bytes
from weijian.jurisdiction.kernels import lower_best_keys
from weijian.jurisdiction.locator import BEST_LAYER, BEST_RANK, BEST_ZONE, CHAIN, ring_lonlat
from weijian.jurisdiction.rules import UNASSIGNED_REASONS, Resolution, RuleSet, resolve
from weijian.jurisdiction.snapshot import NO_RULE, Snapshot
from weijian.layers.model import GRID_LEVELS

RING_SAMPLES = (16, 8)  # points on the rings at tolerance and at half the tolerance
RING_TOTAL = sum(RING_SAMPLES)
DEFAULT_TOLERANCE_M = 10.0
REASON_CODES = (None, *UNASSIGNED_REASONS)  # index 0: assigned
_TRUE = np.ones(1, dtype=bool)


# -- the grid chain ----------------------------------------------------------------------


def grid_chain(
    snap: Snapshot, lon: float, lat: float, known: dict | None = None
) -> dict[str, int | None]:
    """Row of each level's grid containing the point: the lowest level found spatially, its
    ancestors through the parent codes (spatially again where a parent link is missing).
    ``known``: the grids of a level known to cover the point (found for a point beside it)."""
    chain: dict[str, int | None] = dict.fromkeys(GRID_LEVELS)
    found_level = None
    known = known or {}
    for level in reversed(GRID_LEVELS):
        grid = snap.grids.get(level)
        if grid is None:
            continue
        hits = known.get(level)
        if hits is None:
            hits = grid.index.query_one(lon, lat)
        if hits:
            chain[level] = min(hits)
            found_level = level
            break
    if found_level is None:
        return chain
    position = GRID_LEVELS.index(found_level)
    for upper_pos in range(position - 1, -1, -1):
        lower, upper = GRID_LEVELS[upper_pos + 1], GRID_LEVELS[upper_pos]
        upper_grid = snap.grids.get(upper)
        if upper_grid is None:
            continue
        row = None
        lower_grid, lower_row = snap.grids.get(lower), chain[lower]
        if lower_grid is not None and lower_row is not None:
            parent = lower_grid.parents[lower_row]
            row = upper_grid.row_of.get(parent) if parent else None
        if row is None:
            hits = known.get(upper)
            if hits is None:
                hits = upper_grid.index.query_one(lon, lat)
            row = min(hits) if hits else None
        chain[upper] = row
    return chain


def grid_codes(answer: dict) -> list[str]:
    """The codes of an answer's grid chain, district first."""
    return [g["code"] for g in (answer.get("grid") or {}).values() if g]


def public_answer(answer: dict) -> dict:
    """The answer as anyone may read it: the department and the grids by name, never the
    names and phones of the people responsible (they need a login whose scope holds them)."""
    grid = {
        level: None if g is None else {k: v for k, v in g.items() if k != "responsible"}
        for level, g in (answer.get("grid") or {}).items()
    }
    return {**answer, "grid": grid}


# -- one point ---------------------------------------------------------------------------


class Decision(NamedTuple):
    """The part of an answer that alternatives are compared on (a named tuple: one is made for
    every look-up, in a third of a frozen dataclass's time)."""

    resolution: Resolution
    district_row: int | None
    zones: tuple  # ((layer index, zone index), …); from decide_fast in the global order
    chain: dict
    grid_hits: dict | None = None  # level → the grids covering the point, where found already
    deciding: tuple[int, int] | None = None  # (layer, zone) of the deciding zone, where known

    @property
    def key(self) -> tuple:
        rule = self.resolution.rule
        return (rule.id if rule else None, self.district_row, self.resolution.reason)


def decide(snap: Snapshot, lon: float, lat: float, on: date) -> Decision:
    zones = tuple(
        (n, i) for n, layer in enumerate(snap.zone_layers) for i in layer.index.query_one(lon, lat)
    )
    chain = grid_chain(snap, lon, lat)
    district = chain["district"]
    in_city = district is not None if "district" in snap.grids else True
    hits = [snap.zone_layers[n].hit(i) for n, i in zones]
    return Decision(resolve(hits, snap.rules, on, in_city=in_city), district, zones, chain)


def department_at(
    snap: Snapshot, lon: float, lat: float, on: date, rules: RuleSet | None = None
) -> dict | None:
    """The department answering for a point (type, code, name; None when unassigned) under
    the snapshot's rules, or under ``rules`` — a proposed set tried without saving it."""
    if rules is None:
        return _department_json(snap, decide(snap, lon, lat, on))
    hits = [layer.hit(i) for layer in snap.zone_layers for i in layer.index.query_one(lon, lat)]
    district = grid_chain(snap, lon, lat)["district"]
    in_city = district is not None if "district" in snap.grids else True
    return _department_for(snap, resolve(hits, rules, on, in_city=in_city).rule, district)


def _department_for(snap: Snapshot, rule, row: int | None) -> dict | None:
    if rule is None:
        return None
    district = snap.grids.get("district")
    code = district.codes[row] if district is not None and row is not None else None
    name = district.names[row] if district is not None and row is not None else None
    dept = snap.department(rule.department_type, code, name)
    return {"type": dept.type, "code": dept.code, "name": dept.name}


def _department_json(snap: Snapshot, decision: Decision) -> dict | None:
    return _department_for(snap, decision.resolution.rule, decision.district_row)


DEGREES_PER_METRE = 1.02 / 110_500.0  # a little more than a degree of latitude is long


def tolerance_box(lon, lat, tolerance_m: float):
    """A lon/lat box holding every point within ``tolerance_m`` metres (a little more)."""
    dlat = tolerance_m * DEGREES_PER_METRE
    dlon = dlat / np.cos(np.radians(np.clip(lat, -85, 85)))
    return lon - dlon, lat - dlat, lon + dlon, lat + dlat


def tolerance_box_one(
    lon: float, lat: float, tolerance_m: float
) -> tuple[float, float, float, float]:
    """:func:`tolerance_box` for one point, in plain Python."""
    dlat = tolerance_m * DEGREES_PER_METRE
    dlon = dlat / math.cos(math.radians(min(max(lat, -85.0), 85.0)))
    return lon - dlon, lat - dlat, lon + dlon, lat + dlat


def needs_rings(
    snap: Snapshot,
    lon: np.ndarray,
    lat: np.ndarray,
    rule_pos: np.ndarray,
    distance: np.ndarray,
    x_gk: np.ndarray,
    y_gk: np.ndarray,
    tolerance_m: float,
    on: date,
) -> np.ndarray:
    """Where another answer may lie within the tolerance, so the rings must be sampled: the
    deciding boundary is that near; or the point is unassigned and a district edge is near; or
    an edge of a zone that could change the answer runs through the tolerance box
    (:func:`_answer_changing_ranks`)."""
    n = len(lon)
    if tolerance_m <= 0 or n == 0:
        return np.zeros(n, dtype=bool)
    unassigned = rule_pos < 0
    with np.errstate(invalid="ignore"):
        flag = distance <= tolerance_m
    if unassigned.any():
        sel = np.flatnonzero(unassigned)
        near = snap.district_distance_within(
            lon[sel], lat[sel], x_gk[sel], y_gk[sel], np.full(len(sel), tolerance_m + 1e-9)
        )
        flag[sel] |= near <= tolerance_m
    box = tolerance_box(lon, lat, tolerance_m)
    limit = _answer_changing_ranks(rule_pos)
    ranks = snap.zone_ranks(on)
    for number, best in enumerate(snap.best_ranks(on)):
        at = np.flatnonzero((best < limit) & ~flag)
        if not len(at):
            continue
        index = snap.zone_layers[number].index
        at = at[~index.boxes_are_plain(*(part[at] for part in box))]  # no edge in a plain box
        if len(at):
            flag[at] = index.edges_in_boxes(*(part[at] for part in box), ranks[number], limit[at])
    return flag


def _answer_changing_ranks(rule_pos):
    """The rank below which a zone near a point could change its answer (per point, or for
    one): a better rule's, for an assigned point; any zone's, rule or none, for an unassigned
    one — a ring point entering or leaving a zone without a rule turns "no zone" into "no
    rule" and back. Ring points in the deciding zone keep its rule; the deciding boundary's
    distance asks about those leaving it."""
    if isinstance(rule_pos, np.ndarray):
        return np.where(rule_pos < 0, NO_RULE + 1, rule_pos).astype(np.int64)
    return NO_RULE + 1 if rule_pos < 0 else rule_pos


def _ring_alternatives_fast(
    snap: Snapshot,
    lon: float,
    lat: float,
    x_gk: float,
    y_gk: float,
    decision: Decision,
    tolerance_m: float,
    on: date,
) -> list[dict]:
    """Other answers on the rings around a point (as ``reference._ring_alternatives``, tested):
    every sample decided in one compiled call (``Snapshot.ring_decisions``), else (GEOS must
    tell a sample's polygon) as arrays (:func:`_ring_samples_as_arrays`)."""
    samples = snap.ring_decisions(x_gk, y_gk, tolerance_m, _RING_COS, _RING_SIN, on)
    if samples is None:
        samples = _ring_samples_as_arrays(snap, lon, lat, x_gk, y_gk, decision, tolerance_m, on)
    return _alternatives(snap, decision, *samples, on)


def _ring_samples_as_arrays(
    snap: Snapshot,
    lon: float,
    lat: float,
    x_gk: float,
    y_gk: float,
    decision: Decision,
    tolerance_m: float,
    on: date,
) -> tuple[list, list, list]:
    """Per ring sample, its district row (None: none), best rule rank and whether a zone
    covers it: the zone layers asked for all ring points at once, best rule first, skipping
    the points a layer could not change; a layer or grid level whose tolerance box is plain
    lends the centre's polygons to every ring point; the districts found for all ring points
    at once."""
    box = tolerance_box_one(lon, lat, tolerance_m)
    ranks = snap.zone_ranks(on)
    centre_hits: dict[int, list[int]] = {}
    for n, i in decision.zones:
        centre_hits.setdefault(n, []).append(i)
    ring_lon, ring_lat = ring_points(snap, x_gk, y_gk, tolerance_m)
    owner = np.zeros(len(ring_lon), dtype=np.int64)
    zones_plain, grids_plain = snap.plain(box)
    lent = []
    for n in range(len(snap.zone_layers)):
        if zones_plain[n]:
            hits = centre_hits.get(n, [])
            best_here = min((int(ranks[n][i]) for i in hits), default=NO_RULE)
            lent.append((_TRUE, np.array([bool(hits)]), np.array([best_here])))
        else:
            lent.append(None)
    best, any_zone = rings.sample_best_ranks(snap, ring_lon, ring_lat, owner, lent, on)
    found = decision.grid_hits or {}
    known = {
        level: found[level] if level in found else grid.index.query_one(lon, lat)
        for level, grid in snap.grids.items()
        if grids_plain[level]
    }
    if len(known) == len(snap.grids):
        districts = [decision.district_row] * len(ring_lon)
    else:
        given = {
            level: np.array([min(hits) if hits else -1], dtype=np.int64)
            for level, hits in known.items()
        }
        rows = rings.sample_districts(snap, ring_lon, ring_lat, owner, given).tolist()
        districts = [None if row < 0 else row for row in rows]
    return districts, best.tolist(), any_zone.tolist()


def _alternatives(
    snap: Snapshot, decision: Decision, districts: list, best: list, any_zone: list, on: date
) -> list[dict]:
    """The distinct answers of the ring samples other than the point's own, in the order the
    samples first give them."""
    in_force = snap.rules_in_force(on)
    has_districts = "district" in snap.grids
    seen = {(decision.key)}
    found = []
    # the samples' distinct answers, in the order the samples first give them: a handful of 24
    distinct = dict.fromkeys(zip(districts, best, any_zone, strict=True))
    for district, best_i, any_i in distinct:
        if has_districts and district is None:
            key = (None, district, "outside_city")
        elif best_i < NO_RULE:
            key = (in_force[best_i].id, district, None)
        else:
            key = (None, district, "no_rule" if any_i else "no_zone")
        if key in seen:
            continue
        seen.add(key)
        rule = in_force[best_i] if key[0] is not None else None
        found.append(
            {
                "status": "assigned" if rule else "unassigned",
                "reason": key[2],
                "department": _department_for(snap, rule, district),
                "rule": _rule_ref(snap, rule),
            }
        )
    return found


def _rule_ref(snap: Snapshot, rule) -> dict | None:
    if rule is None:
        return None
    return {
        "id": rule.id,
        "version": snap.rules.version,
        "name": rule.name,
        "priority": rule.priority,
    }


def needs_rings_one(
    snap: Snapshot,
    lon: float,
    lat: float,
    rule_pos: int,
    distance: float | None,
    x_gk: float,
    y_gk: float,
    tolerance_m: float,
    on: date,
) -> bool:
    """:func:`needs_rings` for one point, without numpy overhead (same decisions, tested)."""
    if tolerance_m <= 0:
        return False
    if distance is not None and distance <= tolerance_m:
        return True
    if (
        rule_pos < 0
        and snap.district_distance_within_one(lon, lat, x_gk, y_gk, tolerance_m + 1e-9)
        <= tolerance_m
    ):
        return True
    box = tolerance_box_one(lon, lat, tolerance_m)
    limit = _answer_changing_ranks(rule_pos)
    ranks = snap.zone_ranks(on)
    for number, best in enumerate(snap.best_ranks(on)):
        if best < limit:
            index = snap.zone_layers[number].index
            if not index.box_is_plain_one(*box) and index.edge_in_box_one(
                *box, ranks[number], limit
            ):
                return True
    return False


def _ring_unit() -> tuple[np.ndarray, np.ndarray]:
    dx, dy = [], []
    for count, share in zip(RING_SAMPLES, (1.0, 0.5), strict=True):
        angles = np.arange(count) * (2 * math.pi / count)
        dx.append(share * np.cos(angles))
        dy.append(share * np.sin(angles))
    return np.concatenate(dx), np.concatenate(dy)


_RING_COS, _RING_SIN = _ring_unit()  # the rings' offsets for a tolerance of one metre


def ring_points(snap: Snapshot, x_gk, y_gk, tolerance_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Points on two rings around each point (radius tolerance and half of it), in lon/lat;
    for arrays, point k's samples are rows k of the (n, RING_TOTAL) results. Each ring is
    drawn in Gauss-Krüger metres and taken to lon/lat through the projection's derivative at
    its centre (the points a tolerance east and north of it, projected back): over ten metres
    the projection departs from it by micrometres, and three points a centre are projected
    instead of every sample (:func:`~weijian.jurisdiction.locator.ring_lonlat`, one compiled
    loop for one point and for many)."""
    one = np.ndim(x_gk) == 0
    x_gk = np.ascontiguousarray(np.atleast_1d(x_gk), dtype=np.float64)
    y_gk = np.ascontiguousarray(np.atleast_1d(y_gk), dtype=np.float64)
    zone = snap.gk_zone
    ring_lon, ring_lat = ring_lonlat(x_gk, y_gk, float(tolerance_m), _RING_COS, _RING_SIN,
                                     zone.central_meridian, zone.false_easting)  # fmt: skip
    return (ring_lon[0], ring_lat[0]) if one else (ring_lon, ring_lat)


@dataclass
class Parts:
    """What one answer is made of: the decision and what belongs to the point alone."""

    decision: Decision
    deciding: tuple[int, int] | None  # (layer, zone) of the deciding zone
    distance: float | None
    alternatives: list[dict]
    tolerance_m: float
    point: dict
    on: date

    def grid_codes(self, snap: Snapshot) -> list[str]:
        """The codes of the answer's grid chain, district first (as :func:`grid_codes`)."""
        codes = []
        for level in GRID_LEVELS:
            row, grid = self.decision.chain.get(level), snap.grids.get(level)
            if row is not None and grid is not None:
                codes.append(grid.codes[row])
        return codes


#: the local day and the span of ``time.time()`` it lasts: (from, until, day)
_DAY: tuple[float, float, date | None] = (0.0, 0.0, None)


def today() -> date:
    """``date.today()``, in a tenth of its time: the day is kept with the span of ``time.time()``
    it lasts (from its local midnight to the next)."""
    global _DAY
    now = time.time()
    start, end, day = _DAY
    if start <= now < end:
        return day
    day = date.fromtimestamp(now)
    midnight = datetime.combine(day, datetime.min.time())
    _DAY = (midnight.timestamp(), (midnight + timedelta(days=1)).timestamp(), day)
    return day


def lookup_parts(
    snap: Snapshot,
    lon: float,
    lat: float,
    *,
    on: date | None = None,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
    given: dict | None = None,
) -> Parts:
    """The parts of the answer for one point in CGCS2000 lon/lat."""
    on = on or today()
    decision = decide_fast(snap, lon, lat, on)
    resolution = decision.resolution
    x_gk, y_gk = gauss_kruger.forward(lon, lat, snap.gk_zone)
    deciding = _deciding_pair(snap, decision)
    distance = _distance_of(snap, deciding, lon, lat, x_gk, y_gk)
    rule_pos = snap.rule_position(resolution.rule, on)
    alternatives: list[dict] = []
    if needs_rings_one(snap, lon, lat, rule_pos, distance, x_gk, y_gk, tolerance_m, on):
        alternatives = _ring_alternatives_fast(
            snap, lon, lat, x_gk, y_gk, decision, tolerance_m, on
        )
    point = {"lon": round(float(lon), 8), "lat": round(float(lat), 8), "crs": "EPSG:4490"}
    point["input"] = given
    return Parts(decision, deciding, distance, alternatives, tolerance_m, point, on)


def decide_fast(snap: Snapshot, lon: float, lat: float, on: date) -> Decision:
    """:func:`decide` through the rules as arrays (a rank per zone and the global zone order,
    as the batch decides), without matching the rules' patterns again for every point: the
    zones, the deciding one and the grid chain in one compiled call (``Snapshot.decide_one``),
    else (GEOS must tell a polygon) from the cells' polygons."""
    out = snap.decide_one(lon, lat, on)
    if out is None:
        return _decide_located(snap, lon, lat, on)
    chain: dict[str, int | None] = dict.fromkeys(GRID_LEVELS)
    for number, level in enumerate(snap.grids):
        row = out[CHAIN + number]
        chain[level] = None if row < 0 else row
    at = CHAIN + len(snap.grids)
    pairs = out[at + 1 :]
    zones = tuple(zip(pairs[::2], pairs[1::2], strict=True))
    district = chain["district"]
    layer, rank = out[BEST_LAYER], out[BEST_RANK]
    if district is None and "district" in snap.grids:
        resolution = Resolution(None, None, "outside_city")
    elif layer < 0:
        resolution = Resolution(None, None, "no_zone")
    elif rank == NO_RULE:
        resolution = Resolution(None, None, "no_rule")
    else:
        zone = snap.zone_layers[layer].hit(out[BEST_ZONE])
        resolution = Resolution(snap.rules_in_force(on)[rank], zone, None)
        return Decision(resolution, district, zones, chain, deciding=(layer, out[BEST_ZONE]))
    return Decision(resolution, district, zones, chain)


def _decide_located(snap: Snapshot, lon: float, lat: float, on: date) -> Decision:
    """:func:`decide_fast` from the polygons :meth:`Snapshot.locate` finds (GEOS asked where
    the compiled test cannot tell)."""
    zones = []
    best_key, best = None, None
    ranks = snap.zone_ranks(on)
    zone_hits, grid_hits = snap.locate(lon, lat)
    for n, hits in enumerate(zone_hits):
        if not hits:
            continue
        rank, order = ranks[n], snap.zone_layers[n].order
        for i in hits:
            zones.append((n, i))
            key = (int(rank[i]), int(order[i]))
            if best_key is None or key < best_key:
                best_key, best = key, (n, i)
    if len(zones) > 1:  # in the global order, as the compiled call gives them
        zones.sort(key=lambda z: snap.zone_layers[z[0]].order[z[1]])
    chain = grid_chain(snap, lon, lat, grid_hits)
    district = chain["district"]
    in_city = district is not None if "district" in snap.grids else True
    if not in_city:
        resolution = Resolution(None, None, "outside_city")
    elif not zones:
        resolution = Resolution(None, None, "no_zone")
    elif best_key[0] == NO_RULE:
        resolution = Resolution(None, None, "no_rule")
    else:
        rule = snap.rules_in_force(on)[best_key[0]]
        resolution = Resolution(rule, snap.zone_layers[best[0]].hit(best[1]), None)
    return Decision(resolution, district, tuple(zones), chain, grid_hits)


def _deciding_pair(snap: Snapshot, decision: Decision) -> tuple[int, int] | None:
    zone = decision.resolution.zone
    if zone is None:
        return None
    if decision.deciding is not None:
        return decision.deciding
    for n, i in decision.zones:
        layer = snap.zone_layers[n]
        if layer.name == zone.layer and int(layer.ids[i]) == zone.zone_id:
            return n, i
    return None


def _distance_of(
    snap: Snapshot, deciding: tuple[int, int] | None, lon: float, lat: float, x_gk, y_gk
) -> float | None:
    """Metres to the deciding boundary: the deciding zone's or the district's, the nearer."""
    if deciding is None:
        return None
    distance = snap.zone_boundaries_gk[deciding[0]].distance_one(deciding[1], x_gk, y_gk)
    distance = min(distance, snap.district_distance_within_one(lon, lat, x_gk, y_gk, distance))
    return round(distance * 100) / 100


def answer_json(snap: Snapshot, parts: Parts, *, scoped: bool) -> bytes:
    """The answer as JSON bytes: the grids' people responsible only when ``scoped``."""
    decision = parts.decision
    resolution = decision.resolution
    return answer_bytes(
        snap,
        reason=resolution.reason,
        rule=resolution.rule,
        district_row=decision.district_row,
        deciding=parts.deciding,
        zones=decision.zones,  # decide_fast's: in the global order
        chain=decision.chain,
        distance=parts.distance,
        alternatives=parts.alternatives,
        tolerance_m=parts.tolerance_m,
        point=parts.point,
        on=parts.on,
        scoped=scoped,
    )


def lookup(
    snap: Snapshot,
    lon: float,
    lat: float,
    *,
    on: date | None = None,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
    given: dict | None = None,
) -> dict:
    """The full answer for one point in CGCS2000 lon/lat (the people responsible included)."""
    return orjson.loads(lookup_json(snap, lon, lat, on=on, tolerance_m=tolerance_m, given=given))


def lookup_json(
    snap: Snapshot,
    lon: float,
    lat: float,
    *,
    on: date | None = None,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
    given: dict | None = None,
    scoped: bool = True,
) -> bytes:
    """:func:`lookup`'s answer as the API sends it, JSON bytes (the people responsible only
    when ``scoped``)."""
    parts = lookup_parts(snap, lon, lat, on=on, tolerance_m=tolerance_m, given=given)
    return answer_json(snap, parts, scoped=scoped)


# -- many points -------------------------------------------------------------------------


@dataclass
class BatchDecision:
    """The vectorised answer for n points (indices into the snapshot's tables)."""

    rule_pos: np.ndarray  # position in the rules in force; -1 when unassigned
    reason: np.ndarray  # index into REASON_CODES
    zone_layer: np.ndarray  # deciding zone: layer index, -1 when none
    zone_index: np.ndarray
    grid_rows: dict[str, np.ndarray]  # level → row, -1 when none
    zone_pairs: list[tuple[np.ndarray, np.ndarray]]  # per layer: (points, zones) covering


def morton_order(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """A Z-order (Morton) permutation: nearby points end up next to each other."""
    if len(lon) == 0:
        return np.zeros(0, dtype=np.int64)
    finite = np.isfinite(lon) & np.isfinite(lat)
    lo_x, hi_x = (lon[finite].min(), lon[finite].max()) if finite.any() else (0, 1)
    lo_y, hi_y = (lat[finite].min(), lat[finite].max()) if finite.any() else (0, 1)
    scale_x = 65535 / max(hi_x - lo_x, 1e-12)
    scale_y = 65535 / max(hi_y - lo_y, 1e-12)
    qx = np.clip(np.nan_to_num((lon - lo_x) * scale_x), 0, 65535).astype(np.uint32)
    qy = np.clip(np.nan_to_num((lat - lo_y) * scale_y), 0, 65535).astype(np.uint32)

    def spread(v: np.ndarray) -> np.ndarray:
        v = (v | (v << np.uint32(8))) & np.uint32(0x00FF00FF)
        v = (v | (v << np.uint32(4))) & np.uint32(0x0F0F0F0F)
        v = (v | (v << np.uint32(2))) & np.uint32(0x33333333)
        return (v | (v << np.uint32(1))) & np.uint32(0x55555555)

    key = spread(qx) | (spread(qy) << np.uint32(1))
    # a stable sort of the 32-bit keys as two passes of numpy's radix sort (16 bits each): the
    # same order as one comparison sort, in a quarter of its time
    order = np.argsort((key & np.uint32(0xFFFF)).astype(np.uint16), kind="stable")
    return order[np.argsort((key[order] >> np.uint32(16)).astype(np.uint16), kind="stable")]


def _grid_rows(snap: Snapshot, lon: np.ndarray, lat: np.ndarray) -> dict[str, np.ndarray]:
    n = len(lon)
    rows = {level: np.full(n, -1, dtype=np.int64) for level in GRID_LEVELS}
    pending = np.arange(n)
    found_at = np.full(n, -1, dtype=np.int64)  # level position found spatially
    for position in range(len(GRID_LEVELS) - 1, -1, -1):
        level = GRID_LEVELS[position]
        grid = snap.grids.get(level)
        if grid is None or len(pending) == 0:
            continue
        # the lowest row (rows are sorted by code) of the grids covering each point
        found = grid.index.first_rows(lon[pending], lat[pending])
        hit = pending[found >= 0]
        rows[level][hit] = found[found >= 0]
        found_at[hit] = position
        pending = pending[found_at[pending] < 0]
    # ancestors through parent codes, spatially where a link is missing
    for position in range(len(GRID_LEVELS) - 2, -1, -1):
        upper, lower = GRID_LEVELS[position], GRID_LEVELS[position + 1]
        upper_grid, lower_grid = snap.grids.get(upper), snap.grids.get(lower)
        if upper_grid is None:
            continue
        need = (found_at > position) & (rows[upper] < 0)
        if lower_grid is not None:
            has_lower = need & (rows[lower] >= 0)
            rows[upper][has_lower] = lower_grid.parent_rows[rows[lower][has_lower]]
        missing = np.flatnonzero(need & (rows[upper] < 0))
        if len(missing):
            rows[upper][missing] = upper_grid.index.first_rows(lon[missing], lat[missing])
    return rows


def decide_arrays(snap: Snapshot, lon: np.ndarray, lat: np.ndarray, on: date) -> BatchDecision:
    """The vectorised :func:`decide` (same answers, tested)."""
    n = len(lon)
    ranks = snap.zone_ranks(on)
    best_key = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    best_layer = np.full(n, -1, dtype=np.int64)
    best_zone = np.full(n, -1, dtype=np.int64)
    pairs = []
    any_zone = np.zeros(n, dtype=bool)
    for number, layer in enumerate(snap.zone_layers):
        points, polys = layer.index.query(lon, lat)
        pairs.append((points, polys))
        # the pairs come ordered by point
        lower_best_keys(points, polys, ranks[number], layer.order, number, best_key, best_layer,
                        best_zone, any_zone)  # fmt: skip
    rule_pos = (best_key >> 32).astype(np.int64)
    assigned = rule_pos < NO_RULE
    grid_rows = _grid_rows(snap, lon, lat)
    reason = np.zeros(n, dtype=np.int8)
    reason[~assigned & ~any_zone] = REASON_CODES.index("no_zone")
    reason[~assigned & any_zone] = REASON_CODES.index("no_rule")
    if "district" in snap.grids:
        outside = grid_rows["district"] < 0
        reason[outside] = REASON_CODES.index("outside_city")
        assigned &= ~outside
    rule_pos = np.where(assigned, rule_pos, -1)
    return BatchDecision(
        rule_pos=rule_pos,
        reason=reason,
        zone_layer=np.where(assigned, best_layer, -1),
        zone_index=np.where(assigned, best_zone, -1),
        grid_rows=grid_rows,
        zone_pairs=pairs,
    )


def _sample_keys(
    snap: Snapshot,
    decision: BatchDecision,
    lon: np.ndarray,
    lat: np.ndarray,
    ring: np.ndarray,
    sample_lon: np.ndarray,
    sample_lat: np.ndarray,
    tolerance_m: float,
    on: date,
) -> np.ndarray:
    """(rule position, district row, reason) of each ring sample of the points ``ring`` — what
    :func:`decide_arrays` answers for them, with the layers whose tolerance box is plain, and
    the levels whose box no edge runs through, lending the centre's polygons (module
    ``rings``). A zone layer's box holding an edge mostly holds the deciding one: asking its
    edges would not pay, where a grid level's seldom does."""
    owner = np.repeat(np.arange(len(ring)), len(sample_lon) // max(len(ring), 1))
    box = tolerance_box(lon[ring], lat[ring], tolerance_m)
    ranks = snap.zone_ranks(on)
    lent = []
    for number, layer in enumerate(snap.zone_layers):
        plain = layer.index.boxes_are_plain(*box)
        points, polys = decision.zone_pairs[number]
        covered = np.zeros(len(lon), dtype=bool)
        covered[points] = True
        best = np.full(len(lon), NO_RULE, dtype=np.int64)
        rings.lower_at(best, points, ranks[number][polys])
        lent.append((plain, covered[ring], best[ring]) if plain.any() else None)
    best, any_zone = rings.sample_best_ranks(snap, sample_lon, sample_lat, owner, lent, on)
    given = {}
    for level, grid in snap.grids.items():
        plain = np.flatnonzero(grid.index.boxes_are_clear(*box))
        centre = np.full(len(ring), rings.UNKNOWN, dtype=np.int64)
        centre[plain] = grid.index.first_rows(lon[ring[plain]], lat[ring[plain]])
        given[level] = centre
    district = rings.sample_districts(snap, sample_lon, sample_lat, owner, given)
    assigned = best < NO_RULE
    reason = np.zeros(len(sample_lon), dtype=np.int64)
    reason[~assigned & ~any_zone] = REASON_CODES.index("no_zone")
    reason[~assigned & any_zone] = REASON_CODES.index("no_rule")
    if "district" in snap.grids:
        outside = district < 0
        reason[outside] = REASON_CODES.index("outside_city")
        assigned &= ~outside
    return np.stack([np.where(assigned, best, -1), district, reason], axis=1)


def _new_keys(ring: np.ndarray, keys: np.ndarray, own: np.ndarray) -> dict[int, list]:
    """Per point of ``ring``: its samples' keys (``keys``: points × samples × 3) other than its
    own, each once, in the samples' order — only the points with any are visited in Python."""
    code = (keys[:, :, 0] + 1) * (1 << 34) + (keys[:, :, 1] + 1) * 8 + keys[:, :, 2]
    own_code = (own[:, 0] + 1) * (1 << 34) + (own[:, 1] + 1) * 8 + own[:, 2]
    order = np.argsort(code, axis=1, kind="stable")
    ordered = np.take_along_axis(code, order, axis=1)
    first_ordered = np.ones(code.shape, dtype=bool)
    first_ordered[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    first = np.empty_like(first_ordered)
    np.put_along_axis(first, order, first_ordered, axis=1)
    keep = first & (code != own_code[:, None])
    rows = np.flatnonzero(keep.any(axis=1))
    which, sample = np.nonzero(keep[rows])  # row by row, each row's samples in order
    found: dict[int, list] = {}
    for point, key in zip(
        ring[rows[which]].tolist(), keys[rows[which], sample].tolist(), strict=True
    ):
        found.setdefault(point, []).append(tuple(key))
    return found


@dataclass
class BatchAnswer:
    decision: BatchDecision
    rules: list  # the rules in force, indexed by decision.rule_pos
    distance: np.ndarray  # metres, NaN when unassigned
    alternatives: dict[int, list[tuple[int, int, int]]]  # point → [(rule_pos, district, reason)]


def answer_arrays(
    snap: Snapshot,
    lon: np.ndarray,
    lat: np.ndarray,
    *,
    on: date | None = None,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
    with_distance: bool = True,
) -> BatchAnswer:
    """The full answer for many CGCS2000 points (same as :func:`lookup`, point by point)."""
    on = on or date.today()
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    decision = decide_arrays(snap, lon, lat, on)
    n = len(lon)
    distance = np.full(n, np.nan)
    alternatives: dict[int, list] = {}
    if with_distance and n:
        x_gk, y_gk = snap.points_gk(lon, lat)
        assigned = decision.rule_pos >= 0
        for number in range(len(snap.zone_layers)):
            sel = np.flatnonzero(decision.zone_layer == number)
            if len(sel):
                distance[sel] = snap.zone_boundaries_gk[number].distances(
                    decision.zone_index[sel], x_gk[sel], y_gk[sel]
                )
        if assigned.any():
            sel = np.flatnonzero(assigned)
            district = snap.district_distance_within(
                lon[sel], lat[sel], x_gk[sel], y_gk[sel], distance[sel]
            )
            distance[sel] = np.fmin(distance[sel], district)
        distance = np.round(distance, 2)
        ring = np.flatnonzero(
            needs_rings(snap, lon, lat, decision.rule_pos, distance, x_gk, y_gk, tolerance_m, on)
        )
        if len(ring):
            ring_lon, ring_lat = ring_points(snap, x_gk[ring], y_gk[ring], tolerance_m)
            keys = _sample_keys(
                snap, decision, lon, lat, ring, ring_lon.ravel(), ring_lat.ravel(), tolerance_m, on
            ).reshape(len(ring), RING_TOTAL, 3)
            own = np.stack(
                [
                    decision.rule_pos[ring],
                    decision.grid_rows["district"][ring],
                    decision.reason[ring].astype(np.int64),
                ],
                axis=1,
            )
            alternatives = _new_keys(ring, keys, own)
    return BatchAnswer(
        decision=decision,
        rules=snap.rules_in_force(on),
        distance=distance,
        alternatives=alternatives,
    )


def warm(snap: Snapshot) -> None:
    """Answer a few points once, the batch and the single way, so that the compiled loops are
    loaded (from the machine's cache, compiled on its first run) before a request needs them."""
    bounds = [layer.index.total_bounds for layer in snap.zone_layers]
    bounds += [grid.index.total_bounds for grid in snap.grids.values()]
    if not bounds:
        return
    minx, miny, maxx, maxy = bounds[0]
    lon = np.linspace(minx, maxx, 7)
    lat = np.linspace(miny, maxy, 7)
    answer_arrays(snap, lon, lat, tolerance_m=DEFAULT_TOLERANCE_M)
    lookup_parts(snap, float(lon[3]), float(lat[3]), tolerance_m=DEFAULT_TOLERANCE_M)
