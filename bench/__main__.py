"""Run the benchmarks: ``python -m bench [--only NAME] [--city-dir DIR] [--repeat N]``.

Every figure and its baseline are measured the same way in the same run (``bench.harness`` ·
``measure``): one untimed warm-up run each, then N timed runs; the median is reported with its
spread. Each benchmark runs in a fresh process of its own, so that none inherits another's heap
(a million cases' figures leave a process of some 2 GB) and each is told the machine's speed at
its start and end. At the end, a summary prints every row of the issue's table: weijian's
figure, its baseline, the ratio, the goal and whether it is met."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import (
    assessment,
    cases,
    field,
    harness,
    imports,
    jurisdiction,
    load,
    patrol,
    province,
    web_map,
    workbench,
)

BENCHMARKS = {
    "import": imports.run,
    "jurisdiction": jurisdiction.run,
    "cases": cases.run,
    "patrol": patrol.run,
    "assessment": assessment.run,
    "map": web_map.run,
    "workbench": workbench.run,
    "load": load.run,
    "field": field.run,
    "province": province.run,
}
#: benchmarks over the sample city of their own, not the city-scale data
OWN_DATA = {"load", "field", "province"}


def _import_goal(figures: dict) -> None:
    """The import's row of the summary, from the figures the import benchmark returns."""
    ours, ogr = figures.get("weijian_s"), figures.get("ogr2ogr_s")
    if not ours or not ogr:
        harness.goal("import", figure=f"{ours} s" if ours else "not measured",
                     baseline="ogr2ogr not installed", met=None)  # fmt: skip
        return
    ratio = ours / ogr
    harness.goal(
        "import",
        figure=f"{ours:.2f} s",
        baseline=f"ogr2ogr {ogr:.2f} s",
        ratio=f"{ratio:.2f}",
        met=ratio <= 1.5,
        note="as the import benchmark measures it (bench/imports.py)",
    )


#: the load average (1 minute) a core above which the machine is not idle enough to measure
BUSY_LOAD = 0.5


def _warn_if_busy() -> None:
    """A warning when the machine is busy at the start: on a small machine, anything else
    running (a test suite, a database being loaded) shows in the figures, tail latencies most."""
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    print(f"machine: {cores} cores, load average {load:.2f} (1 min)", flush=True)
    if load > BUSY_LOAD * cores:
        print(
            "  warning: the machine is busy; figures measured now are slower than on an idle "
            "machine — stop other work and run the benchmarks again",
            flush=True,
        )


def _run_here(name: str, city: Path | None, repeat: int) -> dict:
    """One benchmark in this process, the machine's speed measured before and after it."""
    print(f"\n== {name} ==", flush=True)
    before = harness.loop_ns()
    print(f"  machine: {before:.1f} ns a step of a pure-Python loop, at the start", flush=True)
    figures = BENCHMARKS[name](city, repeat=repeat)
    if name == "import":
        _import_goal(figures)
    after = harness.loop_ns()
    print(f"  machine: {after:.1f} ns a step of a pure-Python loop, at the end", flush=True)
    return {**figures, "machine_loop_ns": [before, after]}


def _child_command(name: str, city_dir: Path, repeat: int, out: Path) -> list[str]:
    return [sys.executable, "-m", "bench", "--only", name, "--city-dir", str(city_dir),
            "--repeat", str(repeat), "--figures-to", str(out)]  # fmt: skip


def _run_apart(name: str, city_dir: Path, repeat: int) -> dict:
    """One benchmark in a fresh process: its figures (by the benchmark's name), its rows of
    the summary taken into this one's. A benchmark that stops is reported as such; the others
    still run."""
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        out = Path(tmp) / "figures.json"
        done = subprocess.run(_child_command(name, city_dir, repeat, out))
        if done.returncode != 0 or not out.exists():
            print(f"  {name}: stopped (exit status {done.returncode}); its rows are not measured",
                  flush=True)  # fmt: skip
            return {name: {"stopped": done.returncode}}
        return collect(out)


def collect(out: Path) -> dict:
    """A benchmark process's figures by benchmark, its rows of the summary taken into this
    process's."""
    kept = json.loads(out.read_text())
    for key, fields in kept["goals"].items():
        harness.SUMMARY[key] = harness.Goal(**fields)
    return kept["figures"]


def _machine_lines(results: dict) -> list[str]:
    """The machine's speed during each benchmark, for the summary: the same figures on the same
    machine can differ from day to day when it does."""
    lines = []
    for name, figures in results.items():
        speed = figures.get("machine_loop_ns") if isinstance(figures, dict) else None
        if speed:
            lines.append(f"{name} {speed[0]:.1f} → {speed[1]:.1f}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append")
    parser.add_argument(
        "--city-dir",
        type=Path,
        default=harness.DEFAULT_CITY_DIR,
        help="city-scale synthetic data (generated there when missing)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=harness.REPEAT,
        help="timed runs of every figure after one untimed warm-up, for weijian and its "
        "baselines alike; the median is reported with its spread (default %(default)s)",
    )
    # a benchmark's own process: run here, its figures and summary rows written to this file
    parser.add_argument("--figures-to", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be 1 or more")
    harness.REPEAT = args.repeat
    chosen = args.only or sorted(BENCHMARKS)
    if args.figures_to:
        city = harness.ensure_city(args.city_dir) if set(chosen) - OWN_DATA else None
        figures = {name: _run_here(name, city, args.repeat) for name in chosen}
        goals = {key: vars(row) for key, row in harness.SUMMARY.items()}
        args.figures_to.write_text(
            json.dumps({"figures": figures, "goals": goals}, ensure_ascii=False, default=str)
        )
        return 0
    _warn_if_busy()
    if set(chosen) - OWN_DATA:
        harness.ensure_city(args.city_dir)
    results = {}
    started = time.perf_counter()
    for name in chosen:
        results.update(_run_apart(name, args.city_dir, args.repeat))
    out = harness.OUT_DIR / "results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    kept = json.loads(out.read_text()) if out.exists() else {}  # figures of other benchmarks
    kept.update(results)
    out.write_text(json.dumps(kept, indent=2, ensure_ascii=False, default=str))
    rows = harness.summary(chosen)
    harness.print_summary(rows)
    speeds = _machine_lines(results)
    if speeds:
        print("  · the machine, ns a step of a pure-Python loop at each benchmark's start → end: "
              + "; ".join(speeds), flush=True)  # fmt: skip
    kept["summary"] = [vars(r) for r in rows]
    out.write_text(json.dumps(kept, indent=2, ensure_ascii=False, default=str))
    print(f"\nall benchmarks: {time.perf_counter() - started:.0f} s; figures in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
