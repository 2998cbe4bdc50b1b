"""The answer for one point built the plain way: a dict, field by field, every ring point asked
on its own. It is the definition the served answer (:func:`engine.lookup`, parts serialised
with the snapshot and joined as bytes, rings asked as arrays) is tested against, answer for
answer; nothing on the request path calls it."""

from __future__ import annotations

import math
from datetime import date

import shapely

from weijian.gis import gauss_kruger
from weijian.jurisdiction.engine import (
    DEFAULT_TOLERANCE_M,
    Decision,
    _department_for,
    _department_json,
    decide,
    grid_chain,
    needs_rings_one,
    ring_points,
    tolerance_box_one,
)
from weijian.jurisdiction.rules import UNASSIGNED_REASONS
from weijian.jurisdiction.snapshot import NO_RULE, Snapshot
from weijian.layers.model import GRID_LEVELS


def _grid_json(snap: Snapshot, chain: dict[str, int | None]) -> dict:
    out = {}
    for level in GRID_LEVELS:
        row = chain.get(level)
        grid = snap.grids.get(level)
        if row is None or grid is None:
            out[level] = None
        else:
            out[level] = {
                "code": grid.codes[row],
                "name": grid.names[row],
                "responsible": grid.responsible[row],
            }
    return out


def _rule_json(snap: Snapshot, decision: Decision) -> dict | None:
    rule = decision.resolution.rule
    if rule is None:
        return None
    return {
        "id": rule.id,
        "version": snap.rules.version,
        "name": rule.name,
        "priority": rule.priority,
    }


def _zone_distance(snap: Snapshot, layer: int, zone: int, x_gk: float, y_gk: float) -> float:
    return float(
        shapely.lib.distance(shapely.Point(x_gk, y_gk), snap.zone_boundaries_gk[layer][zone])
    )


def _single_distance(
    snap: Snapshot, decision: Decision, lon: float, lat: float, x_gk: float, y_gk: float
) -> float | None:
    """Metres to the deciding boundary: the deciding zone's or the district's, the nearer."""
    zone = decision.resolution.zone
    if zone is None:
        return None
    distance = math.inf
    for n, i in decision.zones:
        layer = snap.zone_layers[n]
        if layer.name == zone.layer and int(layer.ids[i]) == zone.zone_id:
            distance = _zone_distance(snap, n, i, x_gk, y_gk)
            break
    distance = min(distance, snap.district_distance_within_one(lon, lat, x_gk, y_gk, distance))
    return round(distance * 100) / 100  # = numpy's round(…, 2), which the batch uses


def _ring_alternatives(
    snap: Snapshot,
    lon: float,
    lat: float,
    x_gk: float,
    y_gk: float,
    decision: Decision,
    tolerance_m: float,
    on: date,
) -> list[dict]:
    """Other answers on the rings around a point. Where a layer's index says the whole
    tolerance box is covered by the same polygons, the ring points reuse the centre's hits."""
    box = tolerance_box_one(lon, lat, tolerance_m)
    ranks = snap.zone_ranks(on)
    in_force = snap.rules_in_force(on)
    centre_hits: dict[int, list[int]] = {}
    for n, i in decision.zones:
        centre_hits.setdefault(n, []).append(i)
    plain = [layer.index.box_is_plain_one(*box) for layer in snap.zone_layers]
    grids_plain = all(g.index.box_is_plain_one(*box) for g in snap.grids.values())
    has_districts = "district" in snap.grids
    seen = {(decision.key)}
    found = []
    ring_lon, ring_lat = ring_points(snap, x_gk, y_gk, tolerance_m)
    for lon_i, lat_i in zip(ring_lon.tolist(), ring_lat.tolist(), strict=True):
        best, any_zone = NO_RULE, False
        for n, layer in enumerate(snap.zone_layers):
            hits = centre_hits.get(n, ()) if plain[n] else layer.index.query_one(lon_i, lat_i)
            for i in hits:
                any_zone = True
                best = min(best, int(ranks[n][i]))
        district = (
            decision.district_row if grids_plain else grid_chain(snap, lon_i, lat_i)["district"]
        )
        if has_districts and district is None:
            key = (None, district, "outside_city")
        elif best < NO_RULE:
            key = (in_force[best].id, district, None)
        else:
            key = (None, district, "no_rule" if any_zone else "no_zone")
        if key in seen:
            continue
        seen.add(key)
        rule = in_force[best] if key[0] is not None else None
        found.append(
            {
                "status": "assigned" if rule else "unassigned",
                "reason": key[2],
                "department": _department_for(snap, rule, district),
                "rule": (
                    {
                        "id": rule.id,
                        "version": snap.rules.version,
                        "name": rule.name,
                        "priority": rule.priority,
                    }
                    if rule
                    else None
                ),
            }
        )
    return found


def reference_lookup(
    snap: Snapshot,
    lon: float,
    lat: float,
    *,
    on: date | None = None,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
    given: dict | None = None,
) -> dict:
    """The full answer for one point in CGCS2000 lon/lat, built as a dict the plain way: the
    definition :func:`lookup` (parts serialised beforehand, joined as bytes) is tested
    against, answer for answer."""
    on = on or date.today()
    decision = decide(snap, lon, lat, on)
    resolution = decision.resolution
    x_gk, y_gk = gauss_kruger.forward(lon, lat, snap.gk_zone)
    distance = _single_distance(snap, decision, lon, lat, x_gk, y_gk)
    rule_pos = snap.rule_position(resolution.rule, on)
    alternatives: list[dict] = []
    if needs_rings_one(snap, lon, lat, rule_pos, distance, x_gk, y_gk, tolerance_m, on):
        alternatives = _ring_alternatives(snap, lon, lat, x_gk, y_gk, decision, tolerance_m, on)
    zones = [
        {
            "layer": snap.zone_layers[n].name,
            "version": snap.zone_layers[n].version,
            "kind": snap.zone_layers[n].kinds[i],
            "code": snap.zone_layers[n].codes[i],
            "name": snap.zone_layers[n].names[i],
        }
        for n, i in sorted(decision.zones, key=lambda z: snap.zone_layers[z[0]].order[z[1]])
    ]
    deciding = resolution.zone
    return {
        "status": "assigned" if resolution.assigned else "unassigned",
        "reason": resolution.reason,
        "reason_text": UNASSIGNED_REASONS.get(resolution.reason) if resolution.reason else None,
        "department": _department_json(snap, decision),
        "rule": _rule_json(snap, decision),
        "deciding_zone": (
            {
                "layer": deciding.layer,
                "version": deciding.version,
                "kind": deciding.kind,
                "code": deciding.code,
                "name": deciding.name,
            }
            if deciding
            else None
        ),
        "zones": zones,
        "grid": _grid_json(snap, decision.chain),
        "boundary_distance_m": distance,
        "ambiguous": bool(alternatives),
        "alternatives": alternatives,
        "tolerance_m": tolerance_m,
        "point": {
            "lon": round(float(lon), 8),
            "lat": round(float(lat), 8),
            "crs": "EPSG:4490",
            "input": given,
        },
        "layer_versions": snap.layer_versions,
        "rule_version": snap.rules.version,
        "decided_on": on.isoformat(),
    }
