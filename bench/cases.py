"""Cases at city scale: intake through the API, and listing a district's open cases out of a
million.

- A million cases: the city data's ``cases.csv`` (1,000,000 points) is decided by the
  vectorised engine and loaded by binary-free text COPY, with states spread as a city's would be
  after some years (about a third still open).
- Intake: ``POST /api/v1/cases`` — point conversion, the jurisdiction answer, the duplicate
  (30 m) and rebound (50 m) checks, the case number, the first hash-chained event and the full
  case back — served by 2 uvicorn workers, load from wrk (16 connections) on the same 2 cores.
  Baselines in the same run: a no-op FastAPI endpoint, and the bare SQL of an intake (the same
  duplicate query, number and INSERTs) from one connection with no HTTP, no engine.
- Listing: ``GET /api/v1/cases?grid=<district>&category=open`` (50 per page, newest first) and
  the next page by cursor, p50 / p99 over every district; baseline: the same SQL through psycopg.
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import psycopg

from bench.harness import ScratchDatabase, table
from bench.jurisdiction import _wrk, run_wrk, serving
from weijian.cases import users
from weijian.cases.service import unique_prefix
from weijian.cases.workflow import default_workflow
from weijian.db.engine import engine_for
from weijian.demo.cases import CHANNELS
from weijian.demo.city import load_samples
from weijian.jurisdiction.engine import decide_arrays
from weijian.jurisdiction.snapshot import load_snapshot

OPEN_STATES = ["reported", "visited", "confirmed", "stop_ordered", "ledgered", "determined"]
OPEN_WEIGHTS = [0.3, 0.15, 0.15, 0.1, 0.2, 0.1]
CLOSED_STATES = ["signed_off", "not_violation"]
COLUMNS = (
    "number, district_code, year, seq, track, state, is_open, channel, description, "
    "discovered_at, reported_at, geom, area_m2, department_code, department_type, "
    "department_name, town_code, community_code, compound_code, jurisdiction, rule_version, "
    "visit_due, visited_at, closed_at, signed_off_at"
)


def _ms(values: list[float]) -> tuple[float, float]:
    arr = np.asarray(values) * 1000
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99))


def load_million(db: ScratchDatabase, snap, city: Path) -> dict:
    """Decide and COPY the city's million cases; returns counts and seconds."""
    started = time.perf_counter()
    frame = pd.read_csv(city / "cases.csv", dtype={"id": str})
    lon, lat = frame["lon"].to_numpy(float), frame["lat"].to_numpy(float)
    decision = decide_arrays(snap, lon, lat, date(2026, 1, 1))
    rows = decision.grid_rows
    inside = rows["district"] >= 0
    rng = np.random.default_rng(7)
    n = len(frame)
    discovered = pd.to_datetime(frame["discovered_at"]).dt.tz_localize("Asia/Shanghai")
    reported = discovered + pd.to_timedelta(rng.integers(1, 40 * 3600, n), unit="s")
    open_ = rng.random(n) < 0.35
    state = np.where(
        open_,
        rng.choice(OPEN_STATES, n, p=OPEN_WEIGHTS),
        rng.choice(CLOSED_STATES, n, p=[0.9, 0.1]),
    )
    track = np.where(frame["stage"].to_numpy() == "backlog", "backlog", "new")
    rules = snap.rules_in_force(date(2026, 1, 1))
    district = snap.grids["district"]

    def codes(level: str) -> np.ndarray:
        grid = snap.grids.get(level)
        r = rows.get(level)
        if grid is None or r is None:
            return np.full(n, "", dtype=object)
        return np.where(r >= 0, grid.codes[np.maximum(r, 0)].astype(object), "")

    district_codes, towns, communities, compounds = (
        codes(level) for level in ("district", "town", "community", "compound")
    )
    departments: dict[tuple[int, int], tuple[str, str, str]] = {}
    for key in set(zip(decision.rule_pos.tolist(), rows["district"].tolist(), strict=True)):
        rule_pos, drow = key
        if rule_pos < 0 or drow < 0:
            continue
        dept = snap.department(
            rules[rule_pos].department_type, str(district.codes[drow]), str(district.names[drow])
        )
        departments[key] = (dept.code, dept.type, dept.name)
    prefixes: dict[str, str] = {}
    for code, name in zip(district.codes, district.names, strict=True):
        prefixes[str(code)] = unique_prefix(str(name), str(code), set(prefixes.values()))
    order = np.lexsort((reported.to_numpy(), district_codes.astype(str)))
    seq_of = np.zeros(n, dtype=np.int64)
    counters: dict[tuple[str, int], int] = {}
    years = reported.dt.year.to_numpy()
    for i in order.tolist():
        if not inside[i]:
            continue
        key = (district_codes[i], int(years[i]))
        counters[key] = counters.get(key, 0) + 1
        seq_of[i] = counters[key]
    prepared = time.perf_counter() - started

    sel = np.flatnonzero(inside)
    rep = reported.dt.tz_convert("UTC").iloc[sel].reset_index(drop=True)
    dis = discovered.dt.tz_convert("UTC").iloc[sel].reset_index(drop=True)
    st = state[sel]
    tr = track[sel]
    closed = np.isin(st, CLOSED_STATES)
    dept_keys = list(
        zip(decision.rule_pos[sel].tolist(), rows["district"][sel].tolist(), strict=True)
    )
    dept = [departments.get(k, (None, None, None)) for k in dept_keys]
    iso = "%Y-%m-%d %H:%M:%S+00"
    done = (rep + pd.Timedelta(days=30)).dt.strftime(iso)
    visit_due = (rep + pd.Timedelta(days=1)).dt.strftime(iso)
    dcodes = district_codes[sel].astype(str)
    table_ = pd.DataFrame(
        {
            "number": [
                f"{prefixes[d]}-{y}-{q:06d}"
                for d, y, q in zip(dcodes, years[sel], seq_of[sel], strict=True)
            ],
            "district_code": dcodes,
            "year": years[sel],
            "seq": seq_of[sel],
            "track": tr,
            "state": st,
            "is_open": np.where(closed, "f", "t"),
            # the samples' channel names as the workflow has them (12345热线, not its code)
            "channel": frame["source"].replace(CHANNELS).to_numpy()[sel],
            "description": "违法建设",
            "discovered_at": dis.dt.strftime(iso),
            "reported_at": rep.dt.strftime(iso),
            "geom": [
                f"SRID=4490;POINT({x:.7f} {y:.7f})" for x, y in zip(lon[sel], lat[sel], strict=True)
            ],
            "area_m2": frame["area_m2"].to_numpy()[sel],
            "department_code": [d[0] for d in dept],
            "department_type": [d[1] for d in dept],
            "department_name": [d[2] for d in dept],
            "town_code": pd.Series(towns[sel]).replace("", None),
            "community_code": pd.Series(communities[sel]).replace("", None),
            "compound_code": pd.Series(compounds[sel]).replace("", None),
            "jurisdiction": "{}",
            "rule_version": snap.rules.version,
            "visit_due": np.where(tr == "new", visit_due, None),
            "visited_at": np.where(st != "reported", visit_due, None),
            "closed_at": np.where(closed, done, None),
            "signed_off_at": np.where(st == "signed_off", done, None),
        }
    )
    buffer = io.StringIO()
    table_.to_csv(buffer, sep="\t", header=False, index=False, na_rep="\\N")
    del table_
    started_copy = time.perf_counter()
    with psycopg.connect(db.libpq) as conn:
        with conn.cursor() as cur:
            with cur.copy(f"COPY violation_case ({COLUMNS}) FROM STDIN") as copy:
                copy.write(buffer.getvalue())
            for code, prefix in prefixes.items():
                cur.execute("INSERT INTO case_prefix VALUES (%s, %s)", (code, prefix))
            for (code, year), last in counters.items():
                cur.execute("INSERT INTO case_counter VALUES (%s, %s, %s)", (code, year, last))
        conn.commit()
    with psycopg.connect(db.libpq, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE violation_case")
    return {
        "cases": int(inside.sum()),
        "open": int((open_ & inside).sum()),
        "prepare_s": prepared,
        "copy_s": time.perf_counter() - started_copy,
    }


def _wrk_post(port: int, token: str, points: np.ndarray, seconds: int) -> dict:
    """wrk with a script that POSTs reports at random known points (jittered by metres)."""
    script = Path(tempfile.mkdtemp()) / "intake.lua"
    table_ = ",\n".join(f"{{{x:.7f},{y:.7f}}}" for x, y in points)
    script.write_text(
        f"local pts = {{\n{table_}\n}}\nlocal n = #pts\n"
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {token}"\n'
        "request = function()\n"
        "  local p = pts[math.random(n)]\n"
        '  local body = string.format(\'{"lon":%.7f,"lat":%.7f,"crs":"cgcs2000",'
        '"channel":"patrol","description":"楼顶违法搭建"}\', '
        "p[1] + (math.random() - 0.5) * 0.0004, p[2] + (math.random() - 0.5) * 0.0004)\n"
        "  return wrk.format(nil, '/api/v1/cases', nil, body)\n"
        "end\n"
    )
    return run_wrk(port, script, seconds)


def _sql_intake(db: ScratchDatabase, points: np.ndarray, count: int) -> float:
    """The database work of one intake, bare: duplicate and rebound queries, the number, the
    case INSERT and its event INSERT, one transaction each, from one connection."""
    rng = np.random.default_rng(3)
    started = time.perf_counter()
    with psycopg.connect(db.libpq) as conn:
        for k in range(count):
            x, y = points[rng.integers(len(points))]
            x += (rng.random() - 0.5) * 0.0004
            y += (rng.random() - 0.5) * 0.0004
            with conn.transaction():
                for where in ("is_open", "state = 'signed_off'"):
                    conn.execute(
                        "SELECT id, number, ST_X(geom), ST_Y(geom) FROM violation_case "
                        f"WHERE geom && ST_MakeEnvelope(%s, %s, %s, %s, 4490) AND {where}",
                        (x - 0.0005, y - 0.0004, x + 0.0005, y + 0.0004),
                    ).fetchall()
                seq = conn.execute(
                    "INSERT INTO case_counter VALUES ('bench', 2099, 1) ON CONFLICT "
                    "(district_code, year) DO UPDATE SET last = case_counter.last + 1 "
                    "RETURNING last"
                ).fetchone()[0]
                case_id = conn.execute(
                    "INSERT INTO violation_case (number, district_code, year, seq, track, state, "
                    "is_open, channel, description, reported_at, geom, jurisdiction) VALUES "
                    "(%s, 'bench', 2099, %s, 'new', 'reported', true, 'patrol', 'x', now(), "
                    "ST_SetSRID(ST_MakePoint(%s, %s), 4490), '{}') RETURNING id",
                    (f"BENCH-{k}", seq, x, y),
                ).fetchone()[0]
                conn.execute(
                    "INSERT INTO case_event (case_id, seq, action, to_state, actor_name, "
                    "actor_role, at, hash) VALUES (%s, 1, 'report', 'reported', 'b', 'b', now(), "
                    "'h')",
                    (case_id,),
                )
    return count / (time.perf_counter() - started)


def _listing(port: int, token: str, districts: list[str], rounds: int) -> dict:
    first, second = [], []
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30) as client:
        for _ in range(rounds):
            for code in districts:
                started = time.perf_counter()
                r = client.get("/api/v1/cases", params={"grid": code, "category": "open"})
                first.append(time.perf_counter() - started)
                assert r.status_code == 200, r.text
                cursor = r.json()["next_cursor"]
                started = time.perf_counter()
                r = client.get(
                    "/api/v1/cases", params={"grid": code, "category": "open", "cursor": cursor}
                )
                second.append(time.perf_counter() - started)
                assert r.status_code == 200 and r.json()["count"] == 50
    return {"first": _ms(first), "next": _ms(second)}


def _listing_sql(db: ScratchDatabase, districts: list[str], rounds: int) -> tuple[float, float]:
    times = []
    with psycopg.connect(db.libpq) as conn:
        for _ in range(rounds):
            for code in districts:
                started = time.perf_counter()
                conn.execute(
                    "SELECT *, ST_X(geom), ST_Y(geom) FROM violation_case WHERE district_code = %s "
                    "AND is_open ORDER BY reported_at DESC, id DESC LIMIT 51",
                    (code,),
                ).fetchall()
                times.append(time.perf_counter() - started)
    return _ms(times)


def run(city: Path, repeat: int = 1, seconds: int = 15) -> dict:
    results: dict = {}
    with ScratchDatabase() as db:
        engine = engine_for(db.url)
        load_samples(engine, city, log=lambda *_: None)
        snap = load_snapshot(engine)
        loaded = load_million(db, snap, city)
        results["load"] = loaded
        rows = [
            (
                "load the city's cases",
                f"{loaded['cases']:,}",
                f"{loaded['open']:,} open; decided in {loaded['prepare_s']:.0f} s, COPY "
                f"{loaded['copy_s']:.0f} s",
            )
        ]
        with engine.begin() as conn:
            users.add_user(
                conn,
                snap,
                default_workflow(),
                username="bench",
                password="bench-password",
                role="supervisor",
            )
        frame = pd.read_csv(city / "cases.csv", usecols=["lon", "lat"], nrows=50_000)
        rng = np.random.default_rng(5)
        sample = frame.to_numpy()[rng.choice(len(frame), 5000, replace=False)]
        decided = decide_arrays(snap, sample[:, 0], sample[:, 1], date(2026, 1, 1))
        points = sample[decided.grid_rows["district"] >= 0]
        before = _count(db)

        with serving(db.url, [sys.executable, "-m", "uvicorn", "bench.noop:app"], "/noop") as port:
            _wrk(port, ["/noop"], 2)
            noop = _wrk(port, ["/noop"], seconds)
        with serving(
            db.url,
            [sys.executable, "-m", "uvicorn", "weijian.api.app:create_app", "--factory"],
            "/api/v1/health",
            env={"WEIJIAN_EVIDENCE_DIR": tempfile.mkdtemp()},
        ) as port:
            token = httpx.post(
                f"http://127.0.0.1:{port}/api/v1/auth/login",
                json={"username": "bench", "password": "bench-password"},
            ).json()["access_token"]
            _wrk_post(port, token, points, 2)  # warm-up
            intake = _wrk_post(port, token, points, seconds)
            created = _count(db) - before
            districts = [str(c) for c in snap.grids["district"].codes]
            _listing(port, token, districts, 1)  # warm-up
            listing = _listing(port, token, districts, 20)
        sql_rate = _sql_intake(db, points, 2000)
        sql_list = _listing_sql(db, districts, 20)
        ok = intake["rps"] * (1 - intake["non_2xx"] / max(intake["requests"], 1))
        results.update(
            noop=noop,
            intake=intake,
            intake_created=created,
            sql_intake_per_s=sql_rate,
            listing=listing,
            listing_sql=sql_list,
        )
        rows += [
            ("no-op FastAPI endpoint", f"{noop['rps']:,.0f} req/s", "2 workers, wrk 16 conn."),
            (
                "intake POST /api/v1/cases",
                f"{ok:,.0f} cases/s",
                f"p50 {intake['p50_ms']:.1f} ms, p99 {intake['p99_ms']:.1f} ms; "
                f"{created:,} cases created, non-2xx {intake['non_2xx']}",
            ),
            (
                "bare SQL of an intake",
                f"{sql_rate:,.0f} cases/s",
                f"one connection, no HTTP; API ÷ SQL = {ok / sql_rate:.2f}",
            ),
            (
                "list a district's open cases",
                f"p50 {listing['first'][0]:.1f} ms",
                f"p99 {listing['first'][1]:.1f} ms; 50 per page, {len(districts)} districts × 20",
            ),
            (
                "… the next page (cursor)",
                f"p50 {listing['next'][0]:.1f} ms",
                f"p99 {listing['next'][1]:.1f} ms",
            ),
            (
                "same query in psycopg",
                f"p50 {sql_list[0]:.1f} ms",
                f"p99 {sql_list[1]:.1f} ms (the baseline)",
            ),
        ]
        table(rows)
    return results


def _count(db: ScratchDatabase) -> int:
    with psycopg.connect(db.libpq) as conn:
        return conn.execute("SELECT count(*) FROM violation_case").fetchone()[0]


if __name__ == "__main__":
    from bench.harness import DEFAULT_CITY_DIR, ensure_city

    print(json.dumps(run(ensure_city(DEFAULT_CITY_DIR)), indent=2, default=str))
