"""Every case as a row of NumPy columns, for the map's aggregates (heatmap, clusters, totals).

A million cases make about 60 MB of columns; counting those in a view, with any filters and
the user's scope, into cells of the view is one pass of array arithmetic (milliseconds), where
the same ``GROUP BY`` in PostGIS reads a million rows (hundreds of milliseconds).

The table follows the database without missing a change: each case row carries the id of the
transaction that last wrote it (``change_xid``, set by a trigger); a catch-up reads, in one
REPEATABLE READ snapshot, that snapshot's ``xmin`` and every row with ``change_xid`` at or
above the previous catch-up's ``xmin``. A transaction that committed since the previous
snapshot was running then (or started later), so its id is at least that ``xmin``: commits in
any order are all seen. A background thread catches up every ``poll_seconds``; reading again a
row already seen is harmless.

Which cases a user sees is :func:`weijian.cases.scope.scope_sql`'s rule, here as a mask.
"""

from __future__ import annotations

import io
import logging
import math
import threading
import time
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import psycopg
from sqlalchemy import Engine

from weijian.cases.scope import CITIZEN, Principal
from weijian.web_map.filters import MapFilters

log = logging.getLogger(__name__)

EARTH_RADIUS = 6378137.0  # of EPSG:3857
TEXT_COLUMNS = (
    "state",
    "channel",
    "track",
    "district",
    "town",
    "community",
    "compound",
    "department",
)
SELECT = """
SELECT id, ST_X(geom_3857), ST_Y(geom_3857), state, channel, track, is_open,
       extract(epoch FROM reported_at)::bigint,
       coalesce(extract(epoch FROM stage_due)::bigint, -1),
       coalesce(area_m2, 0),
       district_code, town_code, community_code, compound_code, department_code,
       coalesce(reporter_user_id, -1), coalesce(api_client_id, -1)
FROM violation_case WHERE change_xid >= '{xmin}'::xid8
"""
NAMES = (
    "id",
    "x",
    "y",
    "state",
    "channel",
    "track",
    "is_open",
    "reported",
    "stage_due",
    "area",
    "district",
    "town",
    "community",
    "compound",
    "department",
    "reporter",
    "client",
)
DTYPES = {
    "x": np.float64,
    "y": np.float64,
    "is_open": np.bool_,
    "reported": np.int64,
    "stage_due": np.int64,
    "area": np.float32,
    "reporter": np.int32,
    "client": np.int32,
}


def lonlat_of(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Web Mercator metres → degrees (of the datum the metres were projected from)."""
    lon = np.degrees(x / EARTH_RADIUS)
    lat = np.degrees(2 * np.arctan(np.exp(y / EARTH_RADIUS)) - math.pi / 2)
    return lon, lat


def mercator_of(lon: float, lat: float) -> tuple[float, float]:
    lat = max(-85.05112878, min(85.05112878, lat))
    return (
        EARTH_RADIUS * math.radians(lon),
        EARTH_RADIUS * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)),
    )


@dataclass
class Cells:
    """Cases of a view counted into square cells (Web Mercator metres)."""

    cell_m: float
    lon: np.ndarray  # per non-empty cell: the centroid of its cases
    lat: np.ndarray
    count: np.ndarray
    area: np.ndarray  # m² of footprints
    open: np.ndarray
    overdue: np.ndarray

    @property
    def total(self) -> int:
        return int(self.count.sum())


class CaseStore:
    """The case columns, kept up to date from PostGIS."""

    def __init__(self, engine: Engine, poll_seconds: float = 2.0):
        self.engine = engine
        self.poll_seconds = poll_seconds
        self.generation = 0  # bumped by every catch-up that changed something
        self.caught_up_at = 0.0  # time.time() of the last catch-up
        self._xmin = "0"
        self._lock = threading.RLock()
        self._codes: dict[str, dict[str, int]] = {name: {} for name in TEXT_COLUMNS}
        self._values: dict[str, list[str]] = {name: [] for name in TEXT_COLUMNS}
        self._capacity = 0
        self._cols: dict[str, np.ndarray] = {}
        self.present = np.zeros(0, np.bool_)
        self._grow(1024)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the columns ---------------------------------------------------------------------
    def _grow(self, capacity: int) -> None:
        old, self._capacity = self._capacity, capacity
        for name in NAMES[1:]:
            dtype = DTYPES.get(name, np.int32)
            fill = -1 if np.issubdtype(dtype, np.integer) else 0
            col = np.full(capacity, fill, dtype=dtype)
            if name in self._cols:
                col[:old] = self._cols[name]
            self._cols[name] = col
        present = np.zeros(capacity, np.bool_)
        present[:old] = self.present
        self.present = present

    def __len__(self) -> int:
        return int(self.present.sum())

    def code(self, column: str, value: str | None) -> int:
        """The integer a text value has in ``column`` (-1: never seen)."""
        return self._codes[column].get(value, -1) if value is not None else -1

    def _encode(self, column: str, values: pd.Series) -> np.ndarray:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        if len(uniques) == 0:
            return np.full(len(values), -1, np.int32)
        table, names = self._codes[column], self._values[column]
        mapping = np.empty(len(uniques), np.int32)
        for i, value in enumerate(uniques):
            found = table.get(value)
            if found is None:
                found = table[value] = len(names)
                names.append(value)
            mapping[i] = found
        return np.where(codes >= 0, mapping[np.maximum(codes, 0)], -1).astype(np.int32)

    def _apply(self, frame: pd.DataFrame) -> bool:
        if frame.empty:
            return False
        ids = frame["id"].to_numpy(np.int64)
        if ids.max() >= self._capacity:
            self._grow(max(int(ids.max()) + 1, 2 * self._capacity))
        changed = not self.present[ids].all()
        for name in NAMES[1:]:
            if name in TEXT_COLUMNS:
                values = self._encode(name, frame[name])
            else:
                values = frame[name].to_numpy(DTYPES.get(name, np.int32))
            col = self._cols[name]
            if not changed and not np.array_equal(col[ids], values):
                changed = True
            col[ids] = values
        self.present[ids] = True
        return changed

    # -- following the database -----------------------------------------------------------
    def catch_up(self) -> int:
        """Read what changed since the last catch-up; the number of rows read."""
        raw = self.engine.raw_connection()
        try:
            conn = raw.driver_connection
            conn.rollback()
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            with conn.cursor() as cur:
                cur.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")
                xmin = cur.fetchone()[0]
                buffer = io.BytesIO()
                query = SELECT.format(xmin=int(self._xmin))
                with cur.copy(f"COPY ({query}) TO STDOUT (FORMAT csv)") as copy:
                    for chunk in copy:
                        buffer.write(chunk)
            conn.rollback()
            conn.isolation_level = None
        finally:
            raw.close()
        buffer.seek(0)
        if buffer.getbuffer().nbytes == 0:
            frame = pd.DataFrame(columns=NAMES)
        else:
            frame = pd.read_csv(
                buffer,
                header=None,
                names=NAMES,
                true_values=["t"],
                false_values=["f"],
                dtype={name: str for name in TEXT_COLUMNS},
                keep_default_na=False,
                na_values={name: [""] for name in TEXT_COLUMNS},
            )
        with self._lock:
            if self._apply(frame):
                self.generation += 1
            self._xmin = xmin
            self.caught_up_at = time.time()
        return len(frame)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="case-store", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.catch_up()
            except Exception:  # the database may be restarting: try again next time
                log.exception("case store catch-up failed")

    # -- selecting -------------------------------------------------------------------------
    def scope_mask(self, principal: Principal) -> np.ndarray | None:
        """The cases ``principal`` reads (``None``: all), as ``scope_sql`` says."""
        cols = self._cols
        if principal.role == CITIZEN:
            return np.zeros(self._capacity, np.bool_)
        if principal.api_client_id is not None:
            return cols["client"] == principal.api_client_id
        if principal.city_wide:
            return None
        mask = cols[principal.grid_level] == self.code(principal.grid_level, principal.grid_code)
        mask &= cols[principal.grid_level] >= 0
        if principal.department_code:
            dept = self.code("department", principal.department_code)
            if dept >= 0:
                mask |= cols["department"] == dept
        if principal.id is not None:
            mask |= cols["reporter"] == principal.id
        return mask

    def select(
        self,
        principal: Principal,
        filters: MapFilters,
        now: datetime,
        bbox_m: tuple[float, float, float, float] | None = None,
    ) -> np.ndarray:
        """Row numbers (case ids) of the cases matching everything."""
        cols = self._cols
        with self._lock:
            mask = self.present.copy()
            if bbox_m is not None:
                x0, y0, x1, y1 = bbox_m
                x, y = cols["x"], cols["y"]
                mask &= (x >= x0) & (x < x1) & (y >= y0) & (y < y1)
            scope = self.scope_mask(principal)
            if scope is not None:
                mask &= scope
            if filters.states:
                codes = [self.code("state", s) for s in filters.states]
                mask &= np.isin(cols["state"], codes)
            if filters.category:
                mask &= cols["is_open"] if filters.category == "open" else ~cols["is_open"]
            if filters.channels:
                codes = [self.code("channel", c) for c in filters.channels]
                mask &= np.isin(cols["channel"], codes)
            if filters.track:
                mask &= cols["track"] == self.code("track", filters.track)
            if filters.reported_from:
                mask &= cols["reported"] >= int(filters.reported_from.timestamp())
            if filters.reported_to:
                mask &= cols["reported"] < int(filters.reported_to.timestamp())
            if filters.district:
                mask &= cols["district"] == self.code("district", filters.district)
            if filters.overdue is not None:
                late = self._overdue(now)
                mask &= late if filters.overdue else ~late
            return np.flatnonzero(mask)

    def _overdue(self, now: datetime, rows: np.ndarray | None = None) -> np.ndarray:
        """:func:`weijian.cases.rows.overdue_sql` over the columns: open, and its current stage's
        deadline :func:`weijian.cases.deadlines.missed` at ``now``."""
        cols = self._cols
        pick = (lambda c: cols[c]) if rows is None else (lambda c: cols[c][rows])
        due = pick("stage_due")
        return pick("is_open") & (due >= 0) & (due < int(now.timestamp()))

    def cells(
        self,
        principal: Principal,
        filters: MapFilters,
        now: datetime,
        bbox_m: tuple[float, float, float, float],
        cell_m: float,
    ) -> Cells:
        """The view's matching cases counted into square cells of ``cell_m`` metres aligned
        on the Web Mercator origin, each placed at the centroid of its cases."""
        x0, y0, x1, y1 = bbox_m
        with self._lock:
            rows = self.select(principal, filters, now, bbox_m)
            cols = self._cols
            x, y = cols["x"][rows], cols["y"][rows]
            area = cols["area"][rows].astype(np.float64)
            is_open = cols["is_open"][rows]
            late = self._overdue(now, rows)
        i0, j0 = math.floor(x0 / cell_m), math.floor(y0 / cell_m)
        nx = math.floor(x1 / cell_m) - i0 + 1
        ny = math.floor(y1 / cell_m) - j0 + 1
        key = (np.floor(x / cell_m).astype(np.int64) - i0) * ny + (
            np.floor(y / cell_m).astype(np.int64) - j0
        )
        size = nx * ny

        def total(weights=None) -> np.ndarray:
            return np.bincount(key, weights=weights, minlength=size)

        count = total()
        used = np.flatnonzero(count)
        n = count[used]
        lon, lat = lonlat_of(total(x)[used] / n, total(y)[used] / n)
        return Cells(
            cell_m=cell_m,
            lon=lon,
            lat=lat,
            count=n.astype(np.int64),
            area=total(area)[used],
            open=total(is_open.astype(np.float64))[used].astype(np.int64),
            overdue=total(late.astype(np.float64))[used].astype(np.int64),
        )
