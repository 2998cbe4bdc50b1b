"""A mixed load for two minutes with a login flood at the same time: does the rest of the
application keep answering while passwords are being checked as fast as they arrive?

The sample city (small scale) with the demo's users and 400 worked cases is loaded into a
scratch database and served by uvicorn with 2 workers on loopback. First, the baselines: a
supervisor's case listing (``GET /api/v1/cases``) alone, one request at a time, and the mixed
load below without the flood for ``CALM_SECONDS`` (30). Then for
``SECONDS`` (120) at once, each kind at its pace (``RATES``: 32 requests a second in all, a
city at work), in threads of its own:

- lookup: ``GET /api/v1/jurisdiction`` at a case's place;
- intake: an anonymous citizen's report (``POST /api/v1/cases``; the server's hourly limit per
  address raised for the run);
- listing: the supervisor's ``GET /api/v1/cases`` (goal: p99 ≤ 100 ms);
- tiles: grid, zone and case vector tiles around a case, zooms 13 to 16;
- cells: the heat cells of a view (``GET /api/v1/map/cells``);
- inbox: the city-management officer's ``GET /api/v1/inbox?tab=todo``;
- the flood, as fast as 8 threads get answers: wrong passwords of unknown names from 200
  loopback addresses (127.1.x.y, so the per-address limit holds them back only after its 20
  failures each) and right ones of one account — every one a full Argon2id check until a
  limit or the full password queue answers 429 at once.

Reported: requests per second, p50 and p99 per kind, errors (any answer but the expected ones,
or no answer; the flood's 401 and 429 are expected), the server's RSS (parent and workers) at
the start and the end of the load (and every 10 s), and the listing's p99 under the flood as
a ratio of the two baselines'.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np

from bench.harness import OUT_DIR, ScratchDatabase, table
from bench.jurisdiction import _free_port, _wait
from weijian.cases import users
from weijian.cases.workflow import default_workflow
from weijian.db.engine import engine_for
from weijian.demo.cases import load_demo_cases
from weijian.demo.city import load_samples
from weijian.demo.users import DEMO_PASSWORD, ensure_demo_users
from weijian.jurisdiction.snapshot import load_snapshot
from weijian.settings import Settings, get_settings

SECONDS = 120
WORKERS = 2
SAMPLE_DIR = OUT_DIR / "sample-small"
#: requests per second of each kind: a city at work, paced (two threads a kind, each sending
#: half, on time or at once when behind)
RATES = {"lookup": 10, "intake": 1, "listing": 5, "tiles": 10, "cells": 3, "inbox": 3}
THREADS_A_KIND = 2
FLOOD_THREADS = 8
#: the same mixed load without the flood first, for as long: the second baseline
CALM_SECONDS = 30
FLOOD_ADDRESSES = 200
FLOOD_PASSWORD = "flood-password"
EXPECTED = {
    "lookup": {200},
    "intake": {201},
    "listing": {200},
    "tiles": {200, 204},
    "cells": {200},
    "inbox": {200},
    "login flood": {200, 401, 429},
}


def _sample() -> Path:
    if not (SAMPLE_DIR / "manifest.json").exists():
        from weijian import samples

        samples.generate(SAMPLE_DIR, scale="small", shared_data_dir=get_settings().shared_data_dir)
    return SAMPLE_DIR


def _places(sample: Path) -> list[tuple[float, float]]:
    with open(sample / "cases.csv", encoding="utf-8") as handle:
        return [(float(r["lon"]), float(r["lat"])) for r in csv.DictReader(handle)]


def _tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def _rss_kb(pid: int) -> int:
    """Resident memory of the server: the process and its children (the workers)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
            todo.extend(int(c) for c in children)
    return total


@contextmanager
def _server(url: str, env: dict):
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "weijian.api.app:create_app", "--factory",
         "--host", "127.0.0.1", "--port", str(port), "--workers", str(WORKERS),
         "--log-level", "warning", "--no-access-log"],
        env={**os.environ, "DATABASE_URL": url, **env},
        start_new_session=True,
    )  # fmt: skip
    try:
        _wait(port, "/api/v1/health")
        yield port, server.pid
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


class Record:
    """Times and answers per kind, from every thread."""

    def __init__(self):
        self.lock = threading.Lock()
        self.times: dict[str, list[float]] = {}
        self.statuses: dict[str, Counter] = {}
        self.errors: dict[str, Counter] = {}

    def add(self, kind: str, seconds: float, status: int | str) -> None:
        with self.lock:
            self.times.setdefault(kind, []).append(seconds)
            self.statuses.setdefault(kind, Counter())[status] += 1
            if status not in EXPECTED[kind]:
                self.errors.setdefault(kind, Counter())[status] += 1


def _requests(kind: str, rng: random.Random, places, tokens: dict):
    """The next request of ``kind``: (method, path, keywords)."""
    lon, lat = rng.choice(places)
    if kind == "lookup":
        return "GET", f"/api/v1/jurisdiction?lon={lon}&lat={lat}&crs=cgcs2000", {}
    if kind == "intake":
        body = {
            "lon": lon + rng.uniform(-0.001, 0.001),
            "lat": lat + rng.uniform(-0.001, 0.001),
            "crs": "cgcs2000",
            "description": "楼顶私建彩钢房（压力测试）",
        }
        return "POST", "/api/v1/cases", {"json": body}
    if kind == "listing":
        return "GET", "/api/v1/cases", {"headers": tokens["supervisor"]}
    if kind == "tiles":
        z = rng.randint(13, 16)
        layer = "cases" if z >= 14 and rng.random() < 0.4 else rng.choice(("grids", "zones"))
        x, y = _tile(lon, lat, z)
        path = f"/api/v1/map/tiles/{layer}/{z}/{x}/{y}.mvt"
        return "GET", path, {"headers": tokens["supervisor"]}
    if kind == "cells":
        bbox = f"{lon - 0.03},{lat - 0.02},{lon + 0.03},{lat + 0.02}"
        path = f"/api/v1/map/cells?bbox={bbox}&zoom=14&cell_px=12"
        return "GET", path, {"headers": tokens["supervisor"]}
    return "GET", "/api/v1/inbox?tab=todo", {"headers": tokens["chengguan"]}


def _worker(kind, port, stop_at, record, places, tokens, seed) -> None:
    rng = random.Random(seed)
    interval = THREADS_A_KIND / RATES[kind]
    due = time.monotonic() + rng.uniform(0, interval)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        while time.monotonic() < stop_at:
            time.sleep(max(0.0, due - time.monotonic()))
            due += interval
            method, path, keywords = _requests(kind, rng, places, tokens)
            started = time.perf_counter()
            try:
                status: int | str = client.request(method, path, **keywords).status_code
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            record.add(kind, time.perf_counter() - started, status)


def _flood(index: int, port: int, stop_at: float, record: Record) -> None:
    rng = random.Random(index)
    per_thread = FLOOD_ADDRESSES // FLOOD_THREADS
    clients = [
        httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            timeout=30,
            transport=httpx.HTTPTransport(local_address=f"127.1.{index}.{k + 1}"),
        )
        for k in range(per_thread)
    ]
    try:
        turn = 0
        while time.monotonic() < stop_at:
            client = clients[turn % per_thread]
            turn += 1
            if rng.random() < 0.2:
                body = {"username": "flood", "password": FLOOD_PASSWORD}
            else:
                body = {"username": f"nobody-{rng.randrange(10**9)}", "password": "guess-123"}
            started = time.perf_counter()
            try:
                status: int | str = client.post("/api/v1/auth/login", json=body).status_code
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            record.add("login flood", time.perf_counter() - started, status)
    finally:
        for client in clients:
            client.close()


def _ms(values: list[float]) -> tuple[float, float]:
    arr = np.asarray(values) * 1000
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99))


def _quiet_listing(port: int, headers: dict, count: int = 300) -> list[float]:
    times = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        for _ in range(count):
            started = time.perf_counter()
            r = client.get("/api/v1/cases", headers=headers)
            times.append(time.perf_counter() - started)
            assert r.status_code == 200, r.text
    return times


def _load(port: int, pid: int, places, tokens: dict, seconds: float, flood: bool = True) -> dict:
    record = Record()
    stop_at = time.monotonic() + seconds
    threads = [
        threading.Thread(
            target=_worker, args=(kind, port, stop_at, record, places, tokens, f"{kind}{i}")
        )
        for kind in RATES
        for i in range(THREADS_A_KIND)
    ]
    threads += [
        threading.Thread(target=_flood, args=(i, port, stop_at, record))
        for i in range(FLOOD_THREADS if flood else 0)
    ]
    rss = [(0.0, _rss_kb(pid))]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    while time.monotonic() < stop_at:
        time.sleep(min(10, max(stop_at - time.monotonic(), 0)))
        rss.append((time.monotonic() - started, _rss_kb(pid)))
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    return {"record": record, "rss": rss, "elapsed": elapsed}


def _prepare(db: ScratchDatabase, sample: Path, evidence: str) -> None:
    engine = engine_for(db.url)
    load_samples(engine, sample, log=lambda *_: None)
    ensure_demo_users(engine, log=lambda *_: None)
    load_demo_cases(engine, sample, log=lambda *_: None, settings=Settings(evidence_dir=evidence))
    with engine.begin() as conn:
        users.add_user(
            conn, load_snapshot(engine), default_workflow(), username="flood",
            password=FLOOD_PASSWORD, role="supervisor",
        )  # fmt: skip


def run(city: Path | None = None, repeat: int = 1, seconds: float = SECONDS) -> dict:
    sample = _sample()
    places = _places(sample)
    evidence = tempfile.mkdtemp(prefix="weijian-load-")
    with ScratchDatabase() as db:
        started = time.perf_counter()
        _prepare(db, sample, evidence)
        print(f"  sample city and demo cases loaded in {time.perf_counter() - started:.0f} s")
        env = {"WEIJIAN_EVIDENCE_DIR": evidence, "WEIJIAN_CITIZEN_REPORTS_PER_HOUR": "1000000000"}
        with _server(db.url, env) as (port, pid):
            tokens = {}
            for name in ("supervisor", "chengguan"):
                r = httpx.post(
                    f"http://127.0.0.1:{port}/api/v1/auth/login",
                    json={"username": name, "password": DEMO_PASSWORD},
                    timeout=30,
                )
                tokens[name] = {"Authorization": f"Bearer {r.json()['access_token']}"}
            _quiet_listing(port, tokens["supervisor"], 30)  # warm-up
            quiet = _ms(_quiet_listing(port, tokens["supervisor"]))
            calm = _load(port, pid, places, tokens, CALM_SECONDS, flood=False)["record"]
            loaded = _load(port, pid, places, tokens, seconds)
    record, rss, elapsed = loaded["record"], loaded["rss"], loaded["elapsed"]
    results: dict = {"seconds": elapsed, "quiet_listing_ms": quiet, "kinds": {}, "rss_kb": rss}
    calm_listing = _ms(calm.times["listing"])
    results["calm_listing_ms"] = calm_listing
    rows = [
        ("listing alone (baseline)", f"p99 {quiet[1]:.1f} ms", f"p50 {quiet[0]:.1f} ms"),
        (
            "listing, mixed load, no flood",
            f"p99 {calm_listing[1]:.1f} ms",
            f"p50 {calm_listing[0]:.1f} ms; {CALM_SECONDS} s (the second baseline)",
        ),
    ]
    errors = 0
    for kind in [*RATES, "login flood"]:
        times = record.times.get(kind, [])
        if not times:
            rows.append((kind, "no requests", ""))
            continue
        p50, p99 = _ms(times)
        bad = sum(record.errors.get(kind, Counter()).values())
        errors += bad
        statuses = dict(sorted(record.statuses[kind].items(), key=str))
        results["kinds"][kind] = {
            "requests": len(times),
            "rps": len(times) / elapsed,
            "p50_ms": p50,
            "p99_ms": p99,
            "errors": bad,
            "statuses": {str(k): v for k, v in statuses.items()},
        }
        note = f"p50 {p50:.1f} ms, {len(times) / elapsed:,.1f} req/s, errors {bad}"
        if kind == "listing":
            note += (
                f"; ×{p99 / max(quiet[1], 1e-9):.1f} alone's p99, "
                f"×{p99 / max(calm_listing[1], 1e-9):.1f} no flood's (goal ≤ 100 ms)"
            )
        if kind == "login flood":
            note += " — answers " + ", ".join(f"{k}: {v}" for k, v in statuses.items())
        rows.append((kind, f"p99 {p99:.1f} ms", note))
    start_mb, end_mb = rss[0][1] / 1024, rss[-1][1] / 1024
    results.update(errors=errors, rss_start_mb=start_mb, rss_end_mb=end_mb)
    rows.append(
        (
            "server RSS (2 workers)",
            f"{end_mb:,.0f} MB",
            f"{start_mb:,.0f} MB at the start; every 10 s: "
            + ", ".join(f"{kb / 1024:.0f}" for _, kb in rss),
        )
    )
    rows.append(("errors", str(errors), f"over {elapsed:.0f} s (goal 0)"))
    table(rows)
    return results


if __name__ == "__main__":
    print(json.dumps(run(), indent=2, default=str))
