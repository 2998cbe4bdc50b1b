"""The entry point: every layer built from its own random stream, written under its path,
and the manifest (:func:`generate`); the command line of ``python -m weijian.samples``
(:func:`main`)."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from weijian.samples.boundaries import build_districts
from weijian.samples.cases import build_cases
from weijian.samples.common import METRIC_CRS, ZONE_PREFIXED_CRS, Log, Rng
from weijian.samples.compounds import build_compounds
from weijian.samples.delivery import (
    FILE_FORMATS,
    PATH_CASES,
    PATH_COMMUNITY,
    PATH_COMPOUND,
    PATH_DISTRICT,
    PATH_LANDUSE,
    PATH_MANIFEST,
    PATH_PLANNED,
    PATH_TOWN,
    PATH_URBAN,
    import_plan,
    remove_outputs,
)
from weijian.samples.grids import build_communities, build_towns
from weijian.samples.landuse import build_landuse
from weijian.samples.people import PeopleRegistry
from weijian.samples.profiles import PROFILES, SCALES
from weijian.samples.writers import (
    write_cases,
    write_community_archive,
    write_gbk_shapefile,
    write_geopackage,
)
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

    def stream(layer: str) -> Rng:
        return np.random.default_rng([seed, STREAMS[layer]])

    def step(message: str) -> None:
        log(f"[{time.perf_counter() - started:6.1f} s] {message}")

    people = PeopleRegistry(stream("people"))
    districts, source = build_districts(Path(shared_data_dir), stream("districts"), people, step)
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

    write_gbk_shapefile(
        districts.rename(columns={"code": "XZQDM", "name": "XZQMC", "fzr": "FZR", "lxdh": "LXDH"})[
            ["XZQDM", "XZQMC", "FZR", "LXDH", "geometry"]
        ],
        out_dir / PATH_DISTRICT,
        METRIC_CRS,
        cpg_text="GBK",
    )
    write_gbk_shapefile(
        towns.rename(
            columns={
                "code": "JDDM",
                "name": "JDMC",
                "district_code": "SJDM",
                "fzr": "FZR",
                "lxdh": "LXDH",
            }
        )[["JDDM", "JDMC", "SJDM", "FZR", "LXDH", "geometry"]],
        out_dir / PATH_TOWN,
        ZONE_PREFIXED_CRS,
        cpg_text=None,
    )
    write_community_archive(
        communities.rename(columns={"code": "SQDM", "name": "SQMC", "fzr": "FZR", "lxdh": "LXDH"})[
            ["SQDM", "SQMC", "FZR", "LXDH", "geometry"]
        ],
        out_dir / PATH_COMMUNITY,
    )
    write_geopackage(
        compounds.rename(
            columns={
                "code": "XQDM",
                "name": "XQMC",
                "community_code": "SQDM",
                "company": "WYGS",
                "fzr": "FZR",
                "lxdh": "LXDH",
            }
        )[["XQDM", "XQMC", "SQDM", "WYGS", "FZR", "LXDH", "geometry"]],
        out_dir / PATH_COMPOUND,
        "compound",
    )
    for frame, path in ((urban, PATH_URBAN), (planned, PATH_PLANNED)):
        write_gbk_shapefile(
            frame.rename(columns={"code": "QYDM", "name": "QYMC"})[["QYDM", "QYMC", "geometry"]],
            out_dir / path,
            METRIC_CRS,
            cpg_text="GBK",
        )
    write_gbk_shapefile(landuse, out_dir / PATH_LANDUSE, METRIC_CRS, cpg_text="GBK")
    write_cases(cases, out_dir / PATH_CASES)

    manifest = {
        "scale": scale,
        "seed": seed,
        "districts_source": source,
        "imports": import_plan(),
        "counts": {
            PATH_DISTRICT: len(districts),
            PATH_TOWN: len(towns),
            PATH_COMMUNITY: len(communities),
            PATH_COMPOUND: len(compounds),
            PATH_URBAN: len(urban),
            PATH_PLANNED: len(planned),
            PATH_LANDUSE: len(landuse),
            PATH_CASES: len(cases),
        },
        "files": FILE_FORMATS,
        "case_id_prefixes": {p.name: p.case_prefix for p in PROFILES},
    }
    (out_dir / PATH_MANIFEST).write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    step(f"written to {out_dir}")
    return manifest


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m weijian.samples --out DIR --scale small|city [--seed N]``."""
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
