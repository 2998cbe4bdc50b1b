"""The entry point: every layer built from its own random stream (:func:`build_city`), then
written under its path with the manifest (:func:`generate`); the command line of
``python -m weijian.samples`` (:func:`main`)."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from weijian.samples.boundaries import build_districts
from weijian.samples.cases import build_cases
from weijian.samples.common import Log, Rng
from weijian.samples.compounds import build_compounds
from weijian.samples.delivery import (
    PATH_MANIFEST,
    SampleCity,
    city_manifest,
    remove_outputs,
    write_city,
)
from weijian.samples.grids import build_communities, build_towns
from weijian.samples.landuse import build_landuse
from weijian.samples.people import PeopleRegistry
from weijian.samples.profiles import SCALES, ScaleSpec
from weijian.samples.zones import build_town_planned, build_urban_managed

DEFAULT_SEED = 20261125

#: one independent random stream per layer, so that changing one layer leaves the others alone
STREAMS = {
    "districts": 1,
    "people": 2,
    "towns": 3,
    "communities": 4,
    "zones": 5,
    "compounds": 6,
    "landuse": 7,
    "cases": 8,
}


def build_city(spec: ScaleSpec, seed: int, shared_data_dir: Path, step: Log) -> SampleCity:
    """Every layer of the city at ``spec``'s scale, in order; ``step`` logs the progress."""

    def stream(layer: str) -> Rng:
        return np.random.default_rng([seed, STREAMS[layer]])

    people = PeopleRegistry(stream("people"))
    districts, source = build_districts(shared_data_dir, stream("districts"), people, step)
    towns = build_towns(districts, spec, stream("towns"), people)
    communities = build_communities(towns, spec, stream("communities"), people)
    step(
        f"grids: {len(districts)} districts, {len(towns)} towns/streets, "
        f"{len(communities)} communities/villages"
    )
    zone_rng = stream("zones")
    urban = build_urban_managed(districts, zone_rng)
    planned = build_town_planned(districts, towns, urban, zone_rng)
    compounds = build_compounds(
        districts, communities, urban, planned, spec, stream("compounds"), people
    )
    step(
        f"zones: {len(urban)} urban management areas, {len(planned)} planned; "
        f"{len(compounds)} compounds"
    )
    landuse, landscape = build_landuse(
        districts, towns, communities, urban, planned, spec, stream("landuse"), step
    )
    cases = build_cases(
        districts, towns, communities, compounds, urban, planned, landscape, spec, stream("cases")
    )
    step(f"cases: {len(cases)}")
    return SampleCity(
        districts_source=source,
        districts=districts,
        towns=towns,
        communities=communities,
        urban=urban,
        planned=planned,
        compounds=compounds,
        landuse=landuse,
        cases=cases,
    )


def generate(
    out_dir: Path,
    scale: str = "small",
    seed: int = DEFAULT_SEED,
    shared_data_dir: Path | None = None,
    log: Log = print,
) -> dict:
    """Write the sample city into ``out_dir`` and return its manifest (also ``manifest.json``).

    ``scale``: ``"small"`` (a few MB) or ``"city"`` (benchmark size). ``shared_data_dir``: where
    ``baishan_districts/baishan_districts_gcj02.geojson`` may be; default: the settings'
    ``shared_data_dir``. The same seed and scale give byte-identical shapefiles and CSV."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    spec = SCALES[scale]
    if shared_data_dir is None:
        from weijian.settings import get_settings

        shared_data_dir = Path(get_settings().shared_data_dir)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_outputs(out_dir)
    started = time.perf_counter()

    def step(message: str) -> None:
        log(f"[{time.perf_counter() - started:6.1f} s] {message}")

    city = build_city(spec, seed, Path(shared_data_dir), step)
    write_city(city, out_dir)
    manifest = city_manifest(city, scale, seed)
    (out_dir / PATH_MANIFEST).write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    step(f"written to {out_dir}")
    return manifest


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m weijian.samples --out DIR --scale small|city|province [--seed N]``."""
    parser = argparse.ArgumentParser(
        prog="python -m weijian.samples", description="Write the sample city around Baishan."
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument(
        "--shared-data-dir",
        type=Path,
        default=None,
        help="folder holding baishan_districts/ (default: from the settings)",
    )
    args = parser.parse_args(argv)
    manifest = generate(
        args.out, scale=args.scale, seed=args.seed, shared_data_dir=args.shared_data_dir
    )
    print(json.dumps(manifest["counts"], ensure_ascii=False, indent=2))
