"""Shared pieces of the benchmarks: the city-scale data, a scratch database, the one way every
figure and its baseline are measured, output and the summary of the issue's table."""

from __future__ import annotations

import json
import math
import os
import time
import timeit
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psycopg
from sqlalchemy.engine import make_url

from weijian.db.cluster import EmbeddedCluster
from weijian.db.engine import migrate, normalise_url
from weijian.settings import PROJECT_ROOT, get_settings

OUT_DIR = PROJECT_ROOT / "bench" / "out"
DEFAULT_CITY_DIR = OUT_DIR / "city"
#: a PostgreSQL/PostGIS server to make the scratch databases on instead of the embedded cluster
BENCH_DATABASE_ENV = "WEIJIAN_BENCH_DATABASE_URL"
#: untimed runs before the timed ones, the same for weijian and its baselines
WARMUP = 1
#: timed runs of every figure; ``--repeat`` sets it for every benchmark alike
REPEAT = 3


def ensure_city(city_dir: Path) -> Path:
    """The city-scale data set (100,000 parcels, 5,000 compounds, 1,000,000 cases)."""
    if not (city_dir / "manifest.json").exists():
        from weijian import samples

        print(f"generating city-scale data in {city_dir} (once) …", flush=True)
        started = time.perf_counter()
        samples.generate(city_dir, scale="city")
        print(f"  generated in {time.perf_counter() - started:.0f} s", flush=True)
    return city_dir


def manifest(city_dir: Path) -> dict:
    return json.loads((city_dir / "manifest.json").read_text())


class ScratchDatabase:
    """A fresh database, migrated, dropped afterwards: in the embedded cluster, or on the server
    of ``WEIJIAN_BENCH_DATABASE_URL`` when it is set (its user must be allowed to create
    databases; the database it names is only connected to, to create and drop the scratch one)."""

    def __init__(self, migrated: bool = True):
        self.migrated = migrated
        self.name = f"weijian_bench_{uuid.uuid4().hex[:8]}"
        given = os.environ.get(BENCH_DATABASE_ENV)
        if given:
            server = make_url(normalise_url(given))
        else:
            state = EmbeddedCluster(get_settings().home).start()
            server = make_url(state.url("postgres"))
        self.server = server
        self.admin = dict(
            host=server.host or "127.0.0.1",
            port=server.port or 5432,
            user=server.username,
            password=server.password,
            dbname=server.database or "postgres",
            autocommit=True,
        )

    def __enter__(self) -> ScratchDatabase:
        with psycopg.connect(**self.admin) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        self.url = self.server.set(database=self.name).render_as_string(hide_password=False)
        if self.migrated:
            migrate(self.url)
        else:
            with psycopg.connect(**{**self.admin, "dbname": self.name}) as conn:
                conn.execute("CREATE EXTENSION postgis")
        return self

    @property
    def libpq(self) -> str:
        keys = ("host", "port", "user", "password")
        given = {k: self.admin[k] for k in keys if self.admin[k] is not None}
        return psycopg.conninfo.make_conninfo(**given, dbname=self.name)

    def __exit__(self, *exc) -> None:
        from weijian.db.engine import engine_for

        engine_for(self.url).dispose()
        with psycopg.connect(**self.admin) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


@dataclass
class Timing:
    """Seconds of the timed runs (or of single calls) of one figure: the median, and the
    spread — min–max of fewer than 20 runs, p5–p95 of more."""

    label: str
    seconds: list[float]
    warmup: int = 0
    result: object = field(default=None, repr=False)

    @property
    def n(self) -> int:
        return len(self.seconds)

    @property
    def median(self) -> float:
        return float(np.median(self.seconds))

    def pct(self, q: float) -> float:
        return float(np.percentile(self.seconds, q))

    @property
    def spread(self) -> tuple[float, float]:
        if self.n < 20:
            return min(self.seconds), max(self.seconds)
        return self.pct(5), self.pct(95)

    @property
    def spread_name(self) -> str:
        return "min–max" if self.n < 20 else "p5–p95"

    def text(self, unit: str = "s", scale: float = 1.0, digits: int = 2) -> str:
        """``1.23 s (1.20–1.31, n=3)``: the median and the spread, in ``unit`` (``scale`` times
        the seconds)."""
        lo, hi = self.spread
        return (
            f"{self.median * scale:.{digits}f} {unit} "
            f"({lo * scale:.{digits}f}–{hi * scale:.{digits}f}, n={self.n})"
        )

    def rate(self, count: int) -> float:
        """``count`` things per second at the median."""
        return count / self.median

    def rate_text(self, count: int, unit: str = "M/s", per: float = 1e6) -> str:
        lo, hi = self.spread
        return (
            f"{count / self.median / per:.2f} {unit} "
            f"({count / hi / per:.2f}–{count / lo / per:.2f}, n={self.n})"
        )

    def as_dict(self) -> dict:
        lo, hi = self.spread
        return {
            "median_s": self.median,
            "spread_s": [lo, hi],
            "spread": self.spread_name,
            "runs": self.n,
            "warmup": self.warmup,
        }


def measure(
    label: str,
    fn: Callable[[], object],
    *,
    repeat: int | None = None,
    warmup: int | None = None,
) -> Timing:
    """``warmup`` untimed runs, then ``repeat`` timed ones of ``fn`` (defaults: :data:`WARMUP`
    and :data:`REPEAT`, set once for every benchmark by ``--repeat``); the last run's result is
    kept. Whatever ``fn`` returns is part of its time: a side returns what its label says."""
    repeat = REPEAT if repeat is None else repeat
    warmup = WARMUP if warmup is None else warmup
    for _ in range(warmup):
        fn()
    seconds, result = [], None
    for _ in range(max(repeat, 1)):
        started = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - started)
    return Timing(label, seconds, warmup, result)


def measure_each(label: str, fn: Callable[[object], object], inputs, *, warmup: int) -> Timing:
    """Single calls timed one by one (latencies): ``fn(x)`` for the first ``warmup`` inputs
    untimed, then for every input timed."""
    inputs = list(inputs)
    for x in inputs[:warmup]:
        fn(x)
    seconds = []
    for x in inputs:
        started = time.perf_counter_ns()
        fn(x)
        seconds.append((time.perf_counter_ns() - started) / 1e9)
    return Timing(label, seconds, warmup)


def python_loop(steps: int) -> int:
    """Fixed work in pure Python: ``steps`` additions in a loop."""
    total = 0
    for i in range(steps):
        total += i
    return total


def loop_ns(steps: int = 1_000_000, repeat: int = 5) -> float:
    """The machine's speed now, in ns a step of :func:`python_loop` (the fastest of ``repeat``
    runs): a virtual machine's CPU can run the same code at half its speed an hour later, and
    every figure of weijian and its baselines with it."""
    best = min(timeit.repeat(lambda: python_loop(steps), number=1, repeat=repeat))
    return best / steps * 1e9


def ratio(ours: Timing | float, baseline: Timing | float) -> float:
    """weijian's median time ÷ its baseline's, both measured in the same run (< 1: faster)."""
    a = ours.median if isinstance(ours, Timing) else ours
    b = baseline.median if isinstance(baseline, Timing) else baseline
    return a / b if b else math.nan


# -- the table ---------------------------------------------------------------------


@dataclass
class Goal:
    """One row of the summary: a figure of weijian, its baseline measured in the same run, the
    ratio, the goal, and whether it is met (None: not measured)."""

    key: str
    name: str
    figure: str = "not run"
    baseline: str = ""
    ratio: str = ""
    goal: str = ""
    met: bool | None = None
    note: str = ""


#: the rows of the issue's table, in its order: (key, name, goal, the benchmark that measures it)
TABLE = (
    ("atlas", "town atlas (patrol PDF)", "a background job", "patrol"),
    ("grid_figures", "a grid's figures, first click on a level", "p95 ≤ 100 ms", "assessment"),
    ("progress_current", "clear-to-zero progress, grids=current", "≤ 1 s", "assessment"),
    ("ledger_xlsx", "ledger xlsx of the largest town", "≤ 1 s", "assessment"),
    ("lookup", "single lookup p99 (0 m / 10 m)", "≤ 50 µs / ≤ 150 µs", "jurisdiction"),
    ("http", "GET /api/v1/jurisdiction ÷ no-op FastAPI", "≥ 0.6, p99 ≤ 10 ms", "jurisdiction"),
    ("batch", "batch, boundary distance + 10 m ambiguity", "≥ 1 M points/s", "jurisdiction"),
    ("patrol_map", "busiest community's patrol map", "≤ 3 s", "patrol"),
    ("import", "import of 100k parcels ÷ ogr2ogr", "≤ 1.5", "import"),
    ("snapshot", "snapshot memory and load time per process", "shared", "jurisdiction"),
    ("province snapshot", "snapshot of a 1,000,000-parcel layer", "≤ 30 s, ≤ 2 GB", "province"),
    ("requests", "every workbench request, 1,000,000 cases", "p95 ≤ 100 ms", "workbench"),
)
SUMMARY: dict[str, Goal] = {}


def goal(key: str, **fields) -> Goal:
    """Record the summary row ``key`` (one of :data:`TABLE`'s) as measured in this run."""
    name, target = next((n, g) for k, n, g, _ in TABLE if k == key)
    row = Goal(key, name, goal=target, **fields)
    SUMMARY[key] = row
    return row


def summary(chosen: list[str]) -> list[Goal]:
    """Every row of the issue's table: as measured in this run, or why it was not."""
    out = []
    for key, name, target, bench in TABLE:
        row = SUMMARY.get(key)
        if row is None:
            why = "not run (--only)" if bench not in chosen else "not measured"
            row = Goal(key, name, figure=why, goal=target, note=f"python -m bench --only {bench}")
        out.append(row)
    return out


def print_summary(rows: list[Goal]) -> None:
    head = ("row", "weijian", "baseline (same run)", "ratio", "goal", "met")
    cells = [
        (
            r.name,
            r.figure,
            r.baseline,
            r.ratio,
            r.goal,
            "yes" if r.met else "no" if r.met is False else "—",
        )
        for r in rows
    ]
    widths = [max(len(c[i]) for c in [head, *cells]) for i in range(len(head))]
    print("\n== summary: the issue's table ==", flush=True)
    for c in [head, *cells]:
        print("  " + "  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)), flush=True)
    for r in rows:
        if r.note:
            print(f"  · {r.name}: {r.note}", flush=True)


def table(rows: list[tuple[str, str, str]]) -> None:
    width = max(len(r[0]) for r in rows)
    for name, figure, note in rows:
        print(f"  {name:<{width}}  {figure:>14}  {note}", flush=True)
