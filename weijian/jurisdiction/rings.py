"""What the rings around points answer (the ambiguity check), asked as arrays for all their
sample points at once, with the shortcuts that keep the answers exact:

- a zone layer or grid level whose tolerance box around a point is *plain* (the box lies in
  one cell no polygon edge crosses: every point of it is covered by the same polygons) lends
  the centre's polygons to all of that point's samples, without a query;
- the zone layers are asked best rule first, and a sample is no longer asked once it has a zone
  and a rule no later layer could better.

The results are those of :func:`engine.decide_arrays` for the samples (rule position, district
row, reason) — tested against it through the single and batch answers.
"""

from __future__ import annotations

import numpy as np

from weijian.jurisdiction.snapshot import NO_RULE, Snapshot
from weijian.layers.model import GRID_LEVELS

UNKNOWN = -2  # a grid row not known beforehand: ask the index


def first_rows(index, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Per point, the lowest row of the polygons covering it (-1 for none). A cell lists its
    polygons by row and the query keeps that order, so a point's first hit is its lowest."""
    rows = np.full(len(lon), -1, dtype=np.int64)
    points, polys = index.query(lon, lat)
    if len(points):
        first = np.ones(len(points), dtype=bool)
        first[1:] = points[1:] != points[:-1]
        rows[points[first]] = polys[first]
    return rows


def lower_at(out: np.ndarray, at: np.ndarray, values: np.ndarray) -> None:
    """``np.minimum.at(out, at, values)`` for ``at`` in runs of equal positions (the pairs of
    an index query, ordered by point): one minimum per run, without the slow unbuffered
    ufunc."""
    if not len(at):
        return
    starts = np.flatnonzero(np.concatenate([[True], at[1:] != at[:-1]]))
    where = at[starts]
    out[where] = np.minimum(out[where], np.minimum.reduceat(values, starts))


def _rows_at(snap: Snapshot, level: str, given, lon, lat, which: np.ndarray) -> np.ndarray:
    grid = snap.grids[level]
    known = given.get(level)
    if known is None:
        return first_rows(grid.index, lon[which], lat[which])
    rows = known[which]
    ask = np.flatnonzero(rows == UNKNOWN)
    if len(ask):
        rows[ask] = first_rows(grid.index, lon[which[ask]], lat[which[ask]])
    return rows


def districts_at(
    snap: Snapshot, lon: np.ndarray, lat: np.ndarray, given: dict[str, np.ndarray]
) -> np.ndarray:
    """Per point, the district row of its grid chain (-1 for none), as
    ``engine.grid_chain(…)["district"]``: the lowest level found spatially, then up through
    the parent codes (spatially where a link is missing). ``given``: per level, the row each
    point is known to have there (-1 none, ``UNKNOWN``: ask)."""
    n = len(lon)
    rows = {level: np.full(n, -1, dtype=np.int64) for level in GRID_LEVELS}
    found_at = np.full(n, -1, dtype=np.int64)
    pending = np.arange(n)
    for position in range(len(GRID_LEVELS) - 1, -1, -1):
        level = GRID_LEVELS[position]
        if level not in snap.grids or not len(pending):
            continue
        rows[level][pending] = _rows_at(snap, level, given, lon, lat, pending)
        found_at[pending[rows[level][pending] >= 0]] = position
        pending = pending[found_at[pending] < 0]
    for position in range(len(GRID_LEVELS) - 2, -1, -1):
        upper, lower = GRID_LEVELS[position], GRID_LEVELS[position + 1]
        if upper not in snap.grids:
            continue
        need = (found_at > position) & (rows[upper] < 0)
        lower_grid = snap.grids.get(lower)
        if lower_grid is not None:
            linked = need & (rows[lower] >= 0)
            rows[upper][linked] = lower_grid.parent_rows[rows[lower][linked]]
        missing = np.flatnonzero(need & (rows[upper] < 0))
        if len(missing):
            rows[upper][missing] = _rows_at(snap, upper, given, lon, lat, missing)
    return rows["district"]


def best_ranks_at(
    snap: Snapshot,
    lon: np.ndarray,
    lat: np.ndarray,
    owner: np.ndarray,
    centre_hits: list[tuple[np.ndarray, np.ndarray] | None],
    on,
) -> tuple[np.ndarray, np.ndarray]:
    """Per sample point, the best rule rank of the zones covering it (``NO_RULE`` for none)
    and whether any zone covers it. ``owner``: the centre each sample belongs to;
    ``centre_hits``: per layer, for each centre whose tolerance box is plain in that layer,
    (whether a zone covers it, its best rank) — None for a layer plain nowhere."""
    ranks = snap.zone_ranks(on)
    best = np.full(len(lon), NO_RULE, dtype=np.int64)
    any_zone = np.zeros(len(lon), dtype=bool)
    order = sorted(range(len(snap.zone_layers)), key=lambda n: (snap.best_ranks(on)[n], n))
    for n in order:
        possible = snap.best_ranks(on)[n]
        open_ = ~(any_zone & (best <= possible))
        if not open_.any():
            break
        ask = open_
        plain = centre_hits[n]
        if plain is not None:
            plain_ok, covered, centre_best = plain
            lent = open_ & plain_ok[owner]
            any_zone[lent] |= covered[owner[lent]]
            np.minimum(best, np.where(lent, centre_best[owner], NO_RULE), out=best)
            ask = open_ & ~plain_ok[owner]
        sel = np.flatnonzero(ask)
        if not len(sel):
            continue
        points, polys = snap.zone_layers[n].index.query(lon[sel], lat[sel])
        if len(points):
            any_zone[sel[points]] = True
            lower_at(best, sel[points], ranks[n][polys])
    return best, any_zone
