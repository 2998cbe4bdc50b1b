"""Shared pieces of the benchmarks: the city-scale data, a scratch database, timing, output."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg

from weijian.db.cluster import EmbeddedCluster
from weijian.db.engine import migrate
from weijian.settings import PROJECT_ROOT, get_settings

OUT_DIR = PROJECT_ROOT / "bench" / "out"
DEFAULT_CITY_DIR = OUT_DIR / "city"


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
    """A fresh database in the embedded cluster (or under WEIJIAN_BENCH_DATABASE_URL's server),
    migrated, dropped afterwards."""

    def __init__(self, migrated: bool = True):
        self.migrated = migrated
        state = EmbeddedCluster(get_settings().home).start()
        self.state = state
        self.name = f"weijian_bench_{uuid.uuid4().hex[:8]}"
        self.admin = dict(
            host="127.0.0.1",
            port=state.port,
            user="weijian",
            password=state.password,
            dbname="postgres",
            autocommit=True,
        )

    def __enter__(self) -> ScratchDatabase:
        with psycopg.connect(**self.admin) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        self.url = self.state.url(self.name)
        if self.migrated:
            migrate(self.url)
        else:
            with psycopg.connect(**{**self.admin, "dbname": self.name}) as conn:
                conn.execute("CREATE EXTENSION postgis")
        return self

    @property
    def libpq(self) -> str:
        s = self.state
        return f"host=127.0.0.1 port={s.port} user=weijian password={s.password} dbname={self.name}"

    def __exit__(self, *exc) -> None:
        from weijian.db.engine import engine_for

        engine_for(self.url).dispose()
        with psycopg.connect(**self.admin) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def best_of(repeat: int, fn: Callable[[], object]) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def table(rows: list[tuple[str, str, str]]) -> None:
    width = max(len(r[0]) for r in rows)
    for name, figure, note in rows:
        print(f"  {name:<{width}}  {figure:>14}  {note}", flush=True)
