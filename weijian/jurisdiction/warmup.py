"""The look-up's compiled loops compiled once per machine, before anything serves: a tiny city
made in memory, its snapshot built the two ways a server builds one (zone layers in memory, and
mapped from shared files), then answered one point at a time and in a batch, on and off its
edges, so that every loop a look-up reaches is compiled into the machine's cache. A server, a
job worker or a test started afterwards loads them from there in a fraction of a second, where
compiling them would take some 20 s inside its start.

``python -m weijian.jurisdiction.warmup`` (``./dev setup`` runs it).
"""

from __future__ import annotations

import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import shapely

from weijian.jurisdiction import engine
from weijian.jurisdiction.repository import Department
from weijian.jurisdiction.rules import Rule, RuleSet
from weijian.jurisdiction.snapshot import Snapshot, Sources, build_snapshot
from weijian.jurisdiction.zonefiles import parts_of_rows

#: the zone layers made: a city's snapshot may hold one to three, and a compiled loop that
#: takes the layers' arrays is compiled for each count
LAYER_COUNTS = (1, 2, 3)
WEST, SOUTH, STEP = 126.40, 41.90, 0.01  # ~830 m × 1,100 m squares near Baishan


NUMERALS = "一二三四五六七八"
LEVEL_NAMES = {"district": "区", "town": "街道", "community": "社区", "compound": "小区"}


def _square(col: float, row: float, cols: float = 1, rows: float = 1) -> bytes:
    x0, y0 = WEST + col * STEP, SOUTH + row * STEP
    return shapely.box(x0, y0, x0 + cols * STEP, y0 + rows * STEP).wkb


def _grid_rows(level: str, squares: list[bytes], parent: str | None) -> tuple[dict, list]:
    """A grid level's rows as the database gives them: (id, code, name, parent code,
    responsible, WKB); square ``n`` lies in its parent level's square ``n // 2``."""
    rows = []
    for n, wkb in enumerate(squares):
        name = f"{NUMERALS[n]}{LEVEL_NAMES[level]}"
        parent_code = f"{parent}-{n // 2}" if parent else None
        rows.append((n + 1, f"{level}-{n}", name, parent_code, [], wkb))
    return {"grid_level": level, "version": 1}, rows


def sources(layers: int, folder: Path | None) -> Sources:
    """A city of 2 districts (4 × 4 squares each), 4 towns, 8 communities and a compound, and
    ``layers`` zone layers: a planning zone across both districts, 32 parcels of two kinds, a
    park; the zone layers in memory, or shared as files under ``folder``."""
    grid_rows = {
        "district": _grid_rows("district", [_square(0, 0, 4, 4), _square(4, 0, 4, 4)], None),
        "town": _grid_rows("town", [_square(4 * (t // 2), 2 * (t % 2), 4, 2)
                                    for t in range(4)], "district"),
        "community": _grid_rows("community", [_square(4 * (n // 4) + 2 * (n % 2),
                                                      2 * (n // 2 % 2), 2, 2)
                                              for n in range(8)], "town"),
        "compound": _grid_rows("compound", [_square(1, 1)], "community"),
    }  # fmt: skip
    zone_rows = [
        [(1, "urban", "U1", "城镇开发边界", _square(1, 1, 5, 2))],
        [(100 + n, "forest" if n % 3 == 0 else "farmland", f"P{n}", f"图斑{n}",
          _square(n % 8, n // 8)) for n in range(32)],
        [(200, "park", None, "公园", _square(2.5, 2.5, 0.5, 0.5))],
    ]  # fmt: skip
    parts = []
    for number, rows in enumerate(zone_rows[:layers]):
        name = ("planning", "landuse", "parks")[number]
        parts.append(parts_of_rows(name, 1, rows, None if folder is None else folder / name))
    rules = RuleSet(
        version=1,
        rules=(
            Rule(1, 10, "城镇开发边界内", "urban_enforcement", zone_kinds=("urban",)),
            Rule(2, 20, "农用地", "natural_resources", zone_kinds=("farmland",)),
        ),
    )
    departments = {
        ("urban_enforcement", "district-0"): Department(
            "urban_enforcement", "ue-0", "一区城市管理行政执法局", "district-0"
        )
    }
    templates = {"natural_resources": ("自然资源", "{district}自然资源局")}
    return Sources("warm-up", parts, grid_rows, rules, {}, departments, templates)


def points() -> tuple[np.ndarray, np.ndarray]:
    """Inside squares, on their edges and corners and a few metres off them, and outside the
    city: lon, lat."""
    lon, lat = [], []
    for col in range(-1, 10):
        for row in range(-1, 6):
            for dx, dy in ((0.5, 0.5), (0, 0.5), (0.5, 0), (0, 0), (0.0003, 0.5), (0.5, 0.0002)):
                lon.append(WEST + (col + dx) * STEP)
                lat.append(SOUTH + (row + dy) * STEP)
    return np.array(lon), np.array(lat)


def _answer_everywhere(snap: Snapshot) -> None:
    """:func:`points` answered one at a time and in a batch, at tolerance 0 and 10 m, and
    asked of each index on its own."""
    lon, lat = points()
    # one at a time first: a boundary the batch measures is made and kept, and a single
    # look-up would then not walk the polygon's WKB
    for tolerance in (0.0, engine.DEFAULT_TOLERANCE_M):
        for x, y in zip(lon.tolist(), lat.tolist(), strict=True):
            engine.lookup(snap, x, y, tolerance_m=tolerance)
        engine.answer_arrays(snap, lon, lat, on=date.today(), tolerance_m=tolerance)
    # each index asked on its own, as the unhurried paths do (engine.decide, the grid chain)
    indexes = [layer.index for layer in snap.zone_layers]
    indexes += [grid.index for grid in snap.grids.values()]
    for x, y in zip(lon.tolist(), lat.tolist(), strict=True):
        for index in indexes:
            index.query_one(x, y)


def compile_loops() -> float:
    """Compile (or load from the cache) every loop of the look-up: the seconds it took."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="weijian-warmup-") as folder:
        for layers in LAYER_COUNTS:
            for files in (None, Path(folder) / f"layers-{layers}"):
                _answer_everywhere(build_snapshot(sources(layers, files)))
    return time.perf_counter() - started


if __name__ == "__main__":
    print(f"weijian: the look-up's compiled loops are ready ({compile_loops():.1f} s)")
