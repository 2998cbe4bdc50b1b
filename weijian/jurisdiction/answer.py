"""The answer to one point as JSON bytes, put together from parts serialised beforehand.

Most of an answer belongs to what covers the point, not to the point: each zone's object, each
grid's object (in two forms — for the public, without the people responsible, and for a user
whose scope holds the grid, with them), the layer versions, a department and rule for a rule in
a district. :class:`Fragments` serialises those once per snapshot; :func:`answer_bytes` joins
them with the few parts that belong to the point (distance, alternatives, the point itself).

The bytes are exactly ``orjson.dumps`` of the answer :func:`~weijian.jurisdiction.engine.
reference_lookup` builds as a dict (after ``public_answer`` for the public), key order
included — tested point by point.
"""

from __future__ import annotations

import functools
import threading
from datetime import date

import orjson

from weijian.jurisdiction.rules import UNASSIGNED_REASONS
from weijian.layers.model import GRID_LEVELS

NULL = b"null"


def _dumps(value) -> bytes:
    return orjson.dumps(value)


class Fragments:
    """Per snapshot: the serialised objects of its zones, grids, departments and rules."""

    def __init__(self, snap) -> None:
        # each zone's part, serialised with its layer (shared between the processes)
        self.zones = [layer.fragments for layer in snap.zone_layers]
        self.grid_public: dict[str, list[bytes]] = {}
        self.grid_scoped: dict[str, list[bytes]] = {}
        for level, grid in snap.grids.items():
            public, scoped = [], []
            for row in range(len(grid.codes)):
                head = b'{"code":' + _dumps(grid.codes[row]) + b',"name":' + _dumps(grid.names[row])
                public.append(head + b"}")
                scoped.append(head + b',"responsible":' + _dumps(grid.responsible[row]) + b"}")
            self.grid_public[level] = public
            self.grid_scoped[level] = scoped
        self.tail = (
            b',"layer_versions":'
            + _dumps(snap.layer_versions)
            + b',"rule_version":'
            + _dumps(snap.rules.version)
            + b',"decided_on":'
        )
        self._departments: dict[tuple, bytes] = {}
        self._lock = threading.Lock()

    def department_and_rule(self, snap, rule, district_row: int | None) -> bytes:
        """``"department":…,"rule":…`` for a rule (None: unassigned) in a district."""
        key = (id(rule), district_row)
        found = self._departments.get(key)
        if found is not None:
            return found
        if rule is None:
            found = b'"department":null,"rule":null'
        else:
            district = snap.grids.get("district")
            has_row = district is not None and district_row is not None
            code = district.codes[district_row] if has_row else None
            name = district.names[district_row] if has_row else None
            dept = snap.department(rule.department_type, code, name)
            found = (
                b'"department":'
                + _dumps({"type": dept.type, "code": dept.code, "name": dept.name})
                + b',"rule":'
                + _dumps(
                    {
                        "id": rule.id,
                        "version": snap.rules.version,
                        "name": rule.name,
                        "priority": rule.priority,
                    }
                )
            )
        with self._lock:
            if len(self._departments) > 100_000:
                self._departments.clear()
            self._departments[key] = found
        return found


_HEADS = {
    reason: b'{"status":'
    + (b'"assigned"' if reason is None else b'"unassigned"')
    + b',"reason":'
    + _dumps(reason)
    + b',"reason_text":'
    + _dumps(UNASSIGNED_REASONS.get(reason) if reason else None)
    + b","
    for reason in (None, *UNASSIGNED_REASONS)
}


def fragments_of(snap) -> Fragments:
    """The snapshot's fragments, built on first use (the snapshot's loader builds them)."""
    found = snap.fragments
    if found is None:
        found = snap.fragments = Fragments(snap)
    return found


def answer_bytes(
    snap,
    *,
    reason: str | None,
    rule,
    district_row: int | None,
    deciding: tuple[int, int] | None,
    zones: list[tuple[int, int]],
    chain: dict[str, int | None],
    distance: float | None,
    alternatives: list[dict],
    tolerance_m: float,
    point: dict,
    on: date,
    scoped: bool,
) -> bytes:
    """The answer's JSON: ``zones`` as (layer, zone) in answer order, ``deciding`` the deciding
    zone, ``chain`` the grid rows per level; the grids with their people when ``scoped``."""
    parts = fragments_of(snap)
    zone_parts = parts.zones
    grids = parts.grid_scoped if scoped else parts.grid_public
    grid_items = []
    for level, key in _LEVEL_KEYS:
        row = chain.get(level)
        rows = grids.get(level)
        grid_items.append(key + (NULL if row is None or rows is None else rows[row]))
    return b"".join(
        (
            _HEADS[reason],
            parts.department_and_rule(snap, rule, district_row),
            b',"deciding_zone":',
            NULL if deciding is None else zone_parts[deciding[0]][deciding[1]],
            b',"zones":[',
            b",".join([zone_parts[n][i] for n, i in zones]),
            b'],"grid":{',
            b",".join(grid_items),
            b'},"boundary_distance_m":',
            _dumps(distance),
            b',"ambiguous":true,"alternatives":' + _dumps(alternatives)
            if alternatives
            else b',"ambiguous":false,"alternatives":[]',
            b',"tolerance_m":',
            _dumps(tolerance_m),
            b',"point":',
            _dumps(point),
            parts.tail,
            _day(on),
        )
    )


#: each grid level's key in the answer's ``grid`` object
_LEVEL_KEYS = tuple((level, b'"' + level.encode() + b'":') for level in GRID_LEVELS)


@functools.lru_cache(maxsize=64)
def _day(on: date) -> bytes:
    """The answer's end: the day it was decided on, as JSON."""
    return _dumps(on.isoformat()) + b"}"
