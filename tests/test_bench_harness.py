"""The benchmarks' measuring helper and entry point, checked fast (the city-scale benchmarks
themselves run only through ``./dev bench``, never in the test suite)."""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import psycopg
import pytest

from bench import harness
from weijian.db.cluster import EmbeddedCluster
from weijian.settings import PROJECT_ROOT, get_settings


def test_measure_warms_up_then_times_every_run_and_keeps_the_last_result(monkeypatch) -> None:
    # the harness's clock is one the toy moves: a busy machine's sleeps would not keep order
    now = [0.0]
    monkeypatch.setattr(harness, "time", SimpleNamespace(perf_counter=lambda: now[0]))
    calls = []

    def toy():
        calls.append(len(calls))
        now[0] += 0.002 * len(calls)  # each run slower than the last
        return len(calls)

    t = harness.measure("toy", toy, repeat=3, warmup=2)
    assert len(calls) == 5  # 2 untimed, 3 timed
    assert t.n == 3 and t.warmup == 2 and t.result == 5
    # the timed runs are the 3rd to 5th: 6, 8, 10 ms; median the middle one
    assert t.seconds == pytest.approx([0.006, 0.008, 0.010])
    assert t.median == t.seconds[1]
    assert t.spread == (t.seconds[0], t.seconds[2])
    assert t.spread_name == "min–max"


def test_the_defaults_are_what_repeat_sets_for_everyone(monkeypatch) -> None:
    monkeypatch.setattr(harness, "REPEAT", 4)
    monkeypatch.setattr(harness, "WARMUP", 1)
    runs = []
    t = harness.measure("toy", lambda: runs.append(1))
    assert t.n == 4 and len(runs) == 5


def test_median_spread_and_ratio_of_known_timings() -> None:
    few = harness.Timing("ours", [0.3, 0.1, 0.2])
    assert few.median == pytest.approx(0.2)
    assert few.spread == (0.1, 0.3)
    base = harness.Timing("base", [0.4, 0.5, 0.6])
    assert harness.ratio(few, base) == pytest.approx(0.4)
    assert few.text() == "0.20 s (0.10–0.30, n=3)"
    assert few.rate_text(1_000_000) == "5.00 M/s (3.33–10.00, n=3)"
    many = harness.Timing("many", [i / 100 for i in range(1, 101)])  # 0.01 … 1.00
    assert many.spread_name == "p5–p95"
    lo, hi = many.spread
    assert lo == pytest.approx(0.0595) and hi == pytest.approx(0.9505)
    assert many.median == pytest.approx(0.505)


def test_measure_each_times_every_input_after_the_warm_up() -> None:
    seen = []
    t = harness.measure_each("each", seen.append, [1, 2, 3, 4], warmup=2)
    assert seen == [1, 2, 1, 2, 3, 4]
    assert t.n == 4 and t.warmup == 2


def test_the_summary_prints_every_row_of_the_table(monkeypatch, capsys) -> None:
    monkeypatch.setattr(harness, "SUMMARY", {})
    harness.goal("lookup", figure="p99 40 / 120 µs", baseline="PostGIS p99 500 µs", met=True)
    rows = harness.summary(["jurisdiction"])
    assert [r.key for r in rows] == [k for k, *_ in harness.TABLE]
    by_key = {r.key: r for r in rows}
    assert by_key["lookup"].met is True and by_key["lookup"].goal == "≤ 50 µs / ≤ 150 µs"
    assert by_key["patrol_map"].figure == "not run (--only)"
    assert by_key["batch"].figure == "not measured"  # its benchmark ran but did not say
    harness.print_summary(rows)
    out = capsys.readouterr().out
    for _, name, *_ in harness.TABLE:
        assert name in out


def test_a_scratch_database_is_made_on_the_given_server(monkeypatch) -> None:
    server = EmbeddedCluster(get_settings().home).start().url("postgres")
    monkeypatch.setenv(harness.BENCH_DATABASE_ENV, server)
    with harness.ScratchDatabase(migrated=False) as db:
        assert db.url.endswith(f"/{db.name}")
        with psycopg.connect(db.libpq) as conn:
            name, postgis = conn.execute(
                "SELECT current_database(), extversion FROM pg_extension WHERE extname = 'postgis'"
            ).fetchone()
        assert name == db.name and postgis
    with psycopg.connect(**db.admin) as conn:
        left = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db.name,)).fetchone()
    assert left is None


def test_python_m_bench_help_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--help"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "--repeat" in done.stdout and "--only" in done.stdout
    assert "jurisdiction" in done.stdout


def test_a_benchmark_process_hands_its_figures_and_rows_to_the_summary(
    monkeypatch, tmp_path, capsys
) -> None:
    """``python -m bench`` runs each benchmark in a process of its own (``--figures-to``): what
    that process writes is what the summary of the whole run shows."""
    from bench import __main__ as bench_main

    def toy(city, repeat):
        assert city is None and repeat == 2  # a benchmark over data of its own, --repeat 2
        harness.goal("patrol_map", figure="1.90 s", baseline="matplotlib 0.30 s", met=True)
        return {"seconds": 1.9}

    monkeypatch.setattr(bench_main, "BENCHMARKS", {"toy": toy})
    monkeypatch.setattr(bench_main, "OWN_DATA", {"toy"})
    monkeypatch.setattr(harness, "SUMMARY", {})
    speeds = iter([21.5, 23.0])
    monkeypatch.setattr(harness, "loop_ns", lambda: next(speeds))
    out = tmp_path / "figures.json"
    assert bench_main.main(["--only", "toy", "--repeat", "2", "--figures-to", str(out)]) == 0
    assert "21.5 ns a step" in capsys.readouterr().out

    monkeypatch.setattr(harness, "SUMMARY", {})  # the parent process's, empty until collected
    figures = bench_main.collect(out)
    assert figures == {"toy": {"seconds": 1.9, "machine_loop_ns": [21.5, 23.0]}}
    row = {r.key: r for r in harness.summary(["patrol"])}["patrol_map"]
    assert (row.figure, row.baseline, row.met, row.goal) == ("1.90 s", "matplotlib 0.30 s", True,
                                                             "≤ 3 s")  # fmt: skip
    # the run's figures by benchmark, as the parent keeps them: a stopped one has no speeds
    results = {**figures, "map": {"stopped": 3}}
    assert bench_main._machine_lines(results) == ["toy 21.5 → 23.0"]


def test_a_benchmark_that_stops_is_reported_and_the_run_goes_on(monkeypatch, capsys) -> None:
    from bench import __main__ as bench_main

    monkeypatch.setattr(
        bench_main, "_child_command", lambda *_: [sys.executable, "-c", "raise SystemExit(3)"]
    )
    assert bench_main._run_apart("map", harness.DEFAULT_CITY_DIR, 1) == {"map": {"stopped": 3}}
    assert "map: stopped (exit status 3)" in capsys.readouterr().out


def test_the_machines_speed_is_a_few_nanoseconds_a_loop_step() -> None:
    assert harness.python_loop(4) == 6
    assert 1 < harness.loop_ns(steps=100_000, repeat=2) < 1000


CHILD = """
import sys
from bench import __main__ as bench_main, harness

def toy(city, repeat):
    harness.goal("import", figure="3.90 s", baseline="ogr2ogr 3.30 s", ratio="1.18", met=True)
    return {"weijian_s": 3.9}

bench_main.BENCHMARKS = {"toy": toy}
bench_main.OWN_DATA = {"toy"}
sys.exit(bench_main.main(sys.argv[1:]))
"""


def test_the_whole_run_summarises_what_each_benchmarks_process_measured(
    monkeypatch, tmp_path, capsys
) -> None:
    """The parent's side, its child a real process: the child's row in the summary, its
    figures and the machine's speed in results.json."""
    from bench import __main__ as bench_main

    monkeypatch.setattr(bench_main, "BENCHMARKS", {"toy": None})
    monkeypatch.setattr(bench_main, "OWN_DATA", {"toy"})
    monkeypatch.setattr(harness, "SUMMARY", {})
    monkeypatch.setattr(harness, "OUT_DIR", tmp_path)
    monkeypatch.setattr(
        bench_main,
        "_child_command",
        lambda name, city_dir, repeat, out: [sys.executable, "-c", CHILD, "--only", name,
                                             "--repeat", str(repeat), "--figures-to", str(out)],
    )  # fmt: skip
    assert bench_main.main(["--only", "toy", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert "ns a step of a pure-Python loop at each benchmark's start → end: toy" in out
    kept = json.loads((tmp_path / "results.json").read_text())
    assert kept["toy"]["weijian_s"] == 3.9
    start, end = kept["toy"]["machine_loop_ns"]
    assert 1 < start < 1000 and 1 < end < 1000
    row = next(r for r in kept["summary"] if r["key"] == "import")
    assert (row["figure"], row["ratio"], row["met"]) == ("3.90 s", "1.18", True)
