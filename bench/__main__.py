"""Run the benchmarks: ``python -m bench [--only NAME] [--city-dir DIR] [--repeat N]``.

Every figure and its baseline are measured the same way in the same run (``bench.harness`` ·
``measure``): one untimed warm-up run each, then N timed runs; the median is reported with its
spread. At the end, a summary prints every row of the issue's table: weijian's figure, its
baseline, the ratio, the goal and whether it is met."""

from __future__ import annotations

import argparse
import json
import os
import sys
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
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be 1 or more")
    harness.REPEAT = args.repeat
    chosen = args.only or sorted(BENCHMARKS)
    _warn_if_busy()
    city = harness.ensure_city(args.city_dir) if set(chosen) - OWN_DATA else None
    results = {}
    started = time.perf_counter()
    for name in chosen:
        print(f"\n== {name} ==", flush=True)
        results[name] = BENCHMARKS[name](city, repeat=args.repeat)
        if name == "import":
            _import_goal(results[name])
    out = harness.OUT_DIR / "results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    kept = json.loads(out.read_text()) if out.exists() else {}  # figures of other benchmarks
    kept.update(results)
    out.write_text(json.dumps(kept, indent=2, ensure_ascii=False, default=str))
    rows = harness.summary(chosen)
    harness.print_summary(rows)
    kept["summary"] = [vars(r) for r in rows]
    out.write_text(json.dumps(kept, indent=2, ensure_ascii=False, default=str))
    print(f"\nall benchmarks: {time.perf_counter() - started:.0f} s; figures in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
