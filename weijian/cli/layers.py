"""Layers: importing zone and grid files (a new version each time) and the versions kept."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from weijian.cli.context import database
from weijian.cli.output import JsonOpt, handles_errors, new_table, out, print_json

import_app = typer.Typer(
    help="Import zone and grid layers (a new version each time).", no_args_is_help=True
)


layers_app = typer.Typer(help="Layers and their versions.", no_args_is_help=True)


PathArg = Annotated[Path, typer.Argument(help=".shp, .zip, .gpkg or .geojson")]


CrsOpt = Annotated[
    str | None,
    typer.Option("--crs", help="wgs84 | cgcs2000 | gcj02 | bd09 | EPSG:n (overrides the .prj)"),
]


EncodingOpt = Annotated[
    str | None,
    typer.Option(
        "--encoding", help="DBF text encoding, e.g. gbk or utf-8 (default: .cpg, DBF, detect)"
    ),
]


MemberOpt = Annotated[
    str | None,
    typer.Option("--member", help="which dataset of a zip or GeoPackage holding several"),
]


def _print_report(report: dict, as_json: bool) -> None:
    if as_json:
        print_json(report)
        return
    version = report.get("version")
    title = (
        f"dry run of {report['layer']}: nothing written"
        if report.get("dry_run")
        else f"{report['layer']} version {version} imported and active"
    )
    table = Table(title=title, show_header=False, title_justify="left")
    geometry = report["geometry"]
    dropped = geometry["dropped"]
    rows = [
        ("source", f"{report['source']} ({report['format']})"),
        ("features", f"{report['features']['imported']} of {report['features']['read']}"),
        ("source CRS", f"{report['source_crs']['crs']} [{report['source_crs']['origin']}]"),
        ("encoding", f"{report['encoding']['encoding']} [{report['encoding']['detail']}]"),
        ("fields", ", ".join(report["fields"])),
        ("bbox (CGCS2000)", ", ".join(f"{v:.5f}" for v in report["bbox"])),
        ("area", f"{report['area_km2']:.3f} km²"),
        ("repaired", str(geometry["repaired"])),
        (
            "dropped",
            f"{dropped['null']} null, {dropped['empty']} empty, "
            f"{dropped['collapsed_by_repair']} collapsed",
        ),
        ("Z/M dropped", str(geometry["z_dropped"])),
    ]
    if "kinds" in report:
        rows.append(("kinds", ", ".join(f"{k} {n}" for k, n in report["kinds"].items())))
    if "settlement" in report:
        settled = report["settlement"]
        per_code = ", ".join(f"{c} {n}" for c, n in settled["codes"].items()) or "none"
        rows.append(
            (
                f"settlement ({settled['field']})",
                f"{settled['changed']} changed kind; {settled['empty']} without a code; {per_code}",
            )
        )
    if "parents" in report:
        rows.append(("parents", json.dumps(report["parents"], ensure_ascii=False)))
    rows.append(("seconds", ", ".join(f"{k} {v}" for k, v in report["seconds"].items())))
    for key, value in rows:
        table.add_row(key, value)
    out.print(table)
    for note in report.get("notes", []):
        out.print(f"[yellow]note:[/] {note}", highlight=False)


@import_app.command("zones")
@handles_errors
def import_zones_cmd(
    ctx: typer.Context,  # its params: the options, named as the request's fields
    path: PathArg,
    layer: Annotated[str, typer.Option("--layer", help="layer name, e.g. landuse")],
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind",
            help="one kind for every zone: urban_managed, town_planned, "
            "rural_construction, homestead, agricultural, farmland, forest, construction",
        ),
    ] = None,
    code_field: Annotated[
        str | None, typer.Option("--code-field", help="GB/T 21010 land-use code field, e.g. DLBM")
    ] = None,
    name_field: Annotated[str | None, typer.Option("--name-field")] = None,
    settlement_field: Annotated[
        str | None,
        typer.Option(
            "--settlement-field",
            help="城镇村属性码 field, e.g. CZCSXM: construction land in a village (203, 203A) "
            "becomes rural_construction",
        ),
    ] = None,
    title: Annotated[
        str | None, typer.Option("--title", help="the layer's name for people, e.g. 城市化管理区域")
    ] = None,
    crs: CrsOpt = None,
    encoding: EncodingOpt = None,
    member: MemberOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="check and report, write nothing")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Import a zone layer (planning areas, land-use parcels) as its new active version."""
    from weijian.gis.scratch import clean_scratch
    from weijian.layers.importing import ZoneImport, import_zones

    clean_scratch()  # what an interrupted import left behind
    engine = None if dry_run else database()
    report = import_zones(engine, ZoneImport.from_fields(ctx.params, created_by="cli"))
    _print_report(report, as_json)


@import_app.command("grids")
@handles_errors
def import_grids_cmd(
    ctx: typer.Context,  # its params: the options, named as the request's fields
    path: PathArg,
    level: Annotated[str, typer.Option("--level", help="district | town | community | compound")],
    code_field: Annotated[str, typer.Option("--code-field")],
    name_field: Annotated[str, typer.Option("--name-field")],
    parent_field: Annotated[
        str | None,
        typer.Option(
            "--parent-field", help="code of the grid one level up; without it, derived spatially"
        ),
    ] = None,
    responsible_field: Annotated[
        str | None,
        typer.Option(
            "--responsible-field", help="responsible person's name (several: separated by 、)"
        ),
    ] = None,
    phone_field: Annotated[str | None, typer.Option("--phone-field")] = None,
    crs: CrsOpt = None,
    encoding: EncodingOpt = None,
    member: MemberOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Import one grid level (区县 / 镇办 / 社区 / 小区) as its new active version."""
    from weijian.gis.scratch import clean_scratch
    from weijian.layers.importing import GridImport, import_grids

    clean_scratch()  # what an interrupted import left behind
    engine = database()
    report = import_grids(engine, GridImport.from_fields(ctx.params, created_by="cli"))
    _print_report(report, as_json)


@layers_app.command("list")
@handles_errors
def layers_list(as_json: JsonOpt = False) -> None:
    """Every layer with its active version."""
    from weijian.layers import repository

    with database().connect() as conn:
        layers = repository.list_layers(conn)
    if as_json:
        print_json(layers)
        return
    table = new_table("layer", "family", "level", "active", "features", "versions")
    for row in layers:
        table.add_row(
            row["name"],
            row["family"],
            row["grid_level"] or "",
            str(row["active_version"] or "-"),
            str(row["feature_count"] or 0),
            str(row["versions"]),
        )
    out.print(table)


@layers_app.command("versions")
@handles_errors
def layers_versions(name: str, as_json: JsonOpt = False) -> None:
    """The versions of one layer."""
    from weijian.layers import repository

    with database().connect() as conn:
        versions = repository.list_versions(conn, name)
    if as_json:
        print_json(versions)
        return
    table = new_table("version", "active", "features", "source", "created", "seconds")
    for v in versions:
        table.add_row(
            str(v["number"]),
            "✓" if v["active"] else "",
            str(v["feature_count"]),
            v["source"],
            f"{v['created_at']:%Y-%m-%d %H:%M}",
            str(v["seconds"]),
        )
    out.print(table)


@layers_app.command("show")
@handles_errors
def layers_show(
    name: str,
    version: Annotated[
        int | None, typer.Option("--version", help="default: the active one")
    ] = None,
) -> None:
    """One version's stored import report."""
    from weijian.layers import repository

    with database().connect() as conn:
        print_json(repository.get_version(conn, name, version))


@layers_app.command("activate")
@handles_errors
def layers_activate(name: str, version: int) -> None:
    """Make an earlier (or later) version the active one — e.g. to roll back an import."""
    from weijian.layers import repository

    with database().begin() as conn:
        repository.activate_number(conn, name, version)
    out.print(f"{name}: version {version} is active")


@layers_app.command("export")
@handles_errors
def layers_export(
    name: str,
    out_file: Annotated[Path, typer.Argument(help="a .geojson file")],
    version: Annotated[int | None, typer.Option("--version")] = None,
) -> None:
    """Write one version of a layer as GeoJSON (CGCS2000 lon/lat)."""
    from weijian.layers import repository

    with database().connect() as conn:
        collection = repository.version_features(conn, name, version, None, limit=10_000_000)
    out_file.write_text(json.dumps(collection, ensure_ascii=False, default=str))
    out.print(f"{len(collection['features'])} features → {out_file}")
