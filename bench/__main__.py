"""Run the benchmarks: ``python -m bench [--only NAME] [--city-dir DIR]``."""

from __future__ import annotations

import argparse
import json
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
}
#: benchmarks over the sample city of their own, not the city-scale data
OWN_DATA = {"load", "field"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append")
    parser.add_argument(
        "--city-dir",
        type=Path,
        default=harness.DEFAULT_CITY_DIR,
        help="city-scale synthetic data (generated there when missing)",
    )
    parser.add_argument("--repeat", type=int, default=2, help="runs per figure (best is kept)")
    args = parser.parse_args(argv)
    chosen = args.only or sorted(BENCHMARKS)
    city = harness.ensure_city(args.city_dir) if set(chosen) - OWN_DATA else None
    results = {}
    started = time.perf_counter()
    for name in chosen:
        print(f"\n== {name} ==", flush=True)
        results[name] = BENCHMARKS[name](city, repeat=args.repeat)
    out = harness.OUT_DIR / "results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    kept = json.loads(out.read_text()) if out.exists() else {}  # figures of other benchmarks
    kept.update(results)
    out.write_text(json.dumps(kept, indent=2, ensure_ascii=False, default=str))
    print(f"\nall benchmarks: {time.perf_counter() - started:.0f} s; figures in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
