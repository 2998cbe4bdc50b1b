"""The sample city into the database: every layer its manifest lists, imported in order
through the same import core as the command line and the API."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine

from weijian.gis.readers import sha256_of
from weijian.layers import repository
from weijian.layers.importing import GridImport, ZoneImport, import_grids, import_zones


def load_samples(
    engine: Engine,
    samples_dir: Path,
    log: Callable[[str], None] = print,
    skip_unchanged: bool = False,
) -> list[dict]:
    """Import every layer listed in the samples' manifest, in order (with ``skip_unchanged``,
    not those whose active version came from the very same file)."""
    manifest = json.loads((samples_dir / "manifest.json").read_text())
    reports = []
    for item in manifest["imports"]:
        path = samples_dir / item["path"]
        if skip_unchanged:
            layer = (
                repository.grid_layer_name(item["level"])
                if item["family"] == "grids"
                else item["layer"]
            )
            with engine.connect() as conn:
                active = repository.active_version(conn, layer)
                same = active is not None and repository.get_version(conn, layer, active["number"])[
                    "source_sha256"
                ] == sha256_of(path)
            if same:
                log(f"  {layer}: version {active['number']} already holds {item['path']}")
                continue
        given = {"path": path, "created_by": "demo"}
        if item["family"] == "grids":
            report = import_grids(engine, GridImport.from_fields(item, **given))
        else:
            report = import_zones(engine, ZoneImport.from_fields(item, **given))
        log(
            f"  {report['layer']}: version {report['version']}, "
            f"{report['features']['imported']} features, {report['seconds']['total']} s"
        )
        reports.append(report)
    return reports
