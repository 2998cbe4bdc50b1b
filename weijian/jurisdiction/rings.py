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

from dataclasses import dataclass

import numpy as np

from weijian.jurisdiction import kernels
from weijian.jurisdiction.snapshot import NO_RULE, Snapshot
from weijian.layers.model import GRID_LEVELS

UNKNOWN = kernels.ASK  # a grid row not known beforehand: ask the index


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
        return grid.index.first_rows(lon[which], lat[which])
    rows = known[which]
    ask = np.flatnonzero(rows == UNKNOWN)
    if len(ask):
        rows[ask] = grid.index.first_rows(lon[which[ask]], lat[which[ask]])
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


@dataclass(frozen=True)
class Tables:
    """Indexes as the compiled loops read them: per index an item of each tuple (its own
    arrays, mapped or not: nothing is copied), empty arrays for an index that is missing;
    ``present`` says which are there. All the arrays of one tuple have the same type (numba
    indexes a tuple at run time only then): the grid levels' are built in memory, a
    snapshot's zone layers all come the same way."""

    present: np.ndarray
    grids: np.ndarray  # (indexes, 6): x0, y0, dx, dy, nx, ny
    cell_ptr: tuple
    entry_poly: tuple
    entry_boundary: tuple
    bounds: tuple
    blob: tuple
    offsets: tuple
    edge_ptr: tuple
    edge_at: tuple
    entry_ref: tuple

    @classmethod
    def of(cls, indexes: list) -> Tables:
        grids = np.zeros((len(indexes), 6))
        for number, index in enumerate(indexes):
            if index is not None:
                g = index.grid
                grids[number] = (g.x0, g.y0, g.dx, g.dy, g.nx, g.ny)
        geoms = [None if index is None else index.geoms for index in indexes]
        return cls(
            np.array([index is not None for index in indexes]),
            grids,
            _arrays(indexes, "cell_ptr", np.int64),
            _arrays(indexes, "entry_poly", np.int32),
            _arrays(indexes, "entry_boundary", np.bool_),
            tuple(
                np.zeros((0, 4)) if i is None else np.ascontiguousarray(i.bounds) for i in indexes
            ),
            _arrays(geoms, "wkb_blob", np.uint8),
            _arrays(geoms, "wkb_offsets", np.int64),
            _arrays(indexes, "edge_ptr", np.int64),
            _arrays(indexes, "edge_at", np.uint32),
            _arrays(indexes, "entry_ref", np.int8),
        )

    def arrays(self) -> tuple:
        return (self.grids, self.cell_ptr, self.entry_poly, self.entry_boundary, self.bounds,
                self.blob, self.offsets, self.edge_ptr, self.edge_at, self.entry_ref)  # fmt: skip


def _arrays(owners: list, name: str, dtype) -> tuple:
    return tuple(
        np.zeros(0, dtype=dtype) if owner is None
        else np.ascontiguousarray(getattr(owner, name), dtype=dtype)
        for owner in owners
    )  # fmt: skip


def _grid_tables(snap: Snapshot) -> tuple[Tables, tuple, tuple]:
    """The grid levels' tables (district first), their parent rows and where those lead
    (``kernels.district_chains``), made once a snapshot."""
    if snap.grid_tables is None:
        levels = [snap.grids.get(level) for level in GRID_LEVELS]
        tables = Tables.of([None if grid is None else grid.index for grid in levels])
        parent_rows = _arrays(levels, "parent_rows", np.int64)
        sizes = [len(bounds) for bounds in tables.bounds]
        chains = kernels.district_chains(tables.present, sizes, parent_rows)
        snap.grid_tables = (tables, parent_rows, chains)
    return snap.grid_tables


def _zone_tables(snap: Snapshot) -> Tables:
    if snap.zone_tables is None:
        snap.zone_tables = Tables.of([layer.index for layer in snap.zone_layers])
    return snap.zone_tables


def sample_districts(
    snap: Snapshot,
    lon: np.ndarray,
    lat: np.ndarray,
    owner: np.ndarray,
    given: dict[str, np.ndarray],
) -> np.ndarray:
    """:func:`districts_at` for ring samples, in one compiled pass: ``owner``, each sample's
    centre; ``given``: per level, the row each centre is known to have there (-1 none,
    ``UNKNOWN``: ask). The samples the compiled test cannot decide go through
    :func:`districts_at` (GEOS)."""
    tables, parent_rows, chains = _grid_tables(snap)
    centres = int(owner.max()) + 1 if len(owner) else 0
    known = np.full((len(GRID_LEVELS), centres), UNKNOWN, dtype=np.int64)
    for number, level in enumerate(GRID_LEVELS):
        if level in given:
            known[number] = given[level]
    out = kernels.sample_districts(
        np.ascontiguousarray(lon, dtype=np.float64), np.ascontiguousarray(lat, dtype=np.float64),
        np.ascontiguousarray(owner, dtype=np.int64), known, tables.present, *tables.arrays(),
        parent_rows, *chains,
    )  # fmt: skip
    undecided = np.flatnonzero(out == kernels.NOT_DECIDED)
    if len(undecided):
        at = owner[undecided]
        out[undecided] = districts_at(
            snap, lon[undecided], lat[undecided], {lv: g[at] for lv, g in given.items()}
        )
    return out


def _rank_arguments(snap: Snapshot, on) -> tuple[np.ndarray, np.ndarray, tuple]:
    """What the compiled pass takes of the rules in force on ``on``: each layer's best rank, the
    layers in that order, and each layer's zones' ranks as int32 — made once a day, not for
    every point that needs its rings."""
    found = snap.sample_ranks.get(on)
    if found is None:
        possible = np.array(snap.best_ranks(on), dtype=np.int64)
        order = sorted(range(len(possible)), key=lambda n: (possible[n], n))
        ranks = tuple(np.ascontiguousarray(r, dtype=np.int32) for r in snap.zone_ranks(on))
        if len(snap.sample_ranks) > 8:
            snap.sample_ranks.clear()
        found = snap.sample_ranks[on] = (possible, np.array(order, dtype=np.int64), ranks)
    return found


def sample_best_ranks(
    snap: Snapshot,
    lon: np.ndarray,
    lat: np.ndarray,
    owner: np.ndarray,
    centre_hits: list[tuple[np.ndarray, np.ndarray, np.ndarray] | None],
    on,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`best_ranks_at` for ring samples, in one compiled pass (same arguments; the
    samples the compiled test cannot decide go through :func:`best_ranks_at`, GEOS)."""
    layers = len(snap.zone_layers)
    if layers == 0 or len(lon) == 0:
        return best_ranks_at(snap, lon, lat, owner, centre_hits, on)
    tables = _zone_tables(snap)
    centres = int(owner.max()) + 1
    lent = np.array([hits is not None for hits in centre_hits])
    plain_ok = np.zeros((layers, centres), dtype=bool)
    covered = np.zeros((layers, centres), dtype=bool)
    centre_best = np.full((layers, centres), NO_RULE, dtype=np.int64)
    for n, hits in enumerate(centre_hits):
        if hits is not None:
            plain_ok[n], covered[n], centre_best[n] = hits
    possible, order, ranks = _rank_arguments(snap, on)
    best, any_zone, undecided = kernels.sample_best_ranks(
        np.ascontiguousarray(lon, dtype=np.float64), np.ascontiguousarray(lat, dtype=np.float64),
        np.ascontiguousarray(owner, dtype=np.int64), order, possible, lent, plain_ok, covered,
        centre_best, ranks, NO_RULE, *tables.arrays(),
    )  # fmt: skip
    ask = np.flatnonzero(undecided)
    if len(ask):
        best[ask], any_zone[ask] = best_ranks_at(
            snap, lon[ask], lat[ask], owner[ask], centre_hits, on
        )
    return best, any_zone
