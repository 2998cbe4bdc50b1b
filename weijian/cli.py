"""The one ``weijian`` command. Thin: it parses, calls the core, prints, and turns the core's
errors into a message and an exit code."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from weijian.errors import WeijianError
from weijian.settings import get_settings

app = typer.Typer(
    help="weijian — 违法建设长效管控 GIS platform.", no_args_is_help=True, add_completion=False
)
db_app = typer.Typer(help="The database: embedded cluster or DATABASE_URL.", no_args_is_help=True)
import_app = typer.Typer(
    help="Import zone and grid layers (a new version each time).", no_args_is_help=True
)
layers_app = typer.Typer(help="Layers and their versions.", no_args_is_help=True)
samples_app = typer.Typer(help="The sample city.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(import_app, name="import")
app.add_typer(layers_app, name="layers")
app.add_typer(samples_app, name="samples")

out = Console()
err = Console(stderr=True)


def handles_errors(fn):
    """Print a WeijianError as a message with its hint, exit with its code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except WeijianError as exc:
            err.print(f"[bold red]error:[/] {exc.message}", highlight=False)
            if exc.hint:
                err.print(f"[yellow]hint:[/] {exc.hint}", highlight=False)
            raise typer.Exit(exc.exit_code) from None

    return wrapper


def _log(message: str) -> None:
    err.print(message, highlight=False)


def _engine(migrate: bool = True):
    from weijian.database import engine_for, resolve_url
    from weijian.database import migrate as run_migrations

    url = resolve_url()
    if migrate:
        run_migrations(url)
    return engine_for(url)


def _print_json(data) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


# -- db ------------------------------------------------------------------------------------


def _cluster():
    from weijian.cluster import EmbeddedCluster

    return EmbeddedCluster(get_settings().home, log=_log)


@db_app.command("start")
@handles_errors
def db_start() -> None:
    """Start the embedded PostGIS cluster (created on first use)."""
    if get_settings().database_url:
        _log("DATABASE_URL is set: the embedded cluster is not used.")
        return
    state = _cluster().start()
    out.print(f"embedded PostGIS running on 127.0.0.1:{state.port} ({state.data_dir})")


@db_app.command("stop")
@handles_errors
def db_stop() -> None:
    """Stop the embedded cluster."""
    out.print("stopped" if _cluster().stop() else "not running")


@db_app.command("status")
@handles_errors
def db_status() -> None:
    """Where the database is and whether it runs."""
    settings = get_settings()
    if settings.database_url:
        from weijian.database import current_revision, normalise_url

        url = normalise_url(settings.database_url)
        _print_json({"database_url": True, "schema_revision": current_revision(url)})
        return
    _print_json(_cluster().status())


@db_app.command("url")
@handles_errors
def db_url() -> None:
    """Print the SQLAlchemy URL in use (starting the embedded cluster if needed)."""
    from weijian.database import resolve_url

    sys.stdout.write(resolve_url() + "\n")


@db_app.command("migrate")
@handles_errors
def db_migrate() -> None:
    """Create or upgrade the schema (Alembic) in the database in use."""
    from weijian.database import current_revision, migrate, resolve_url

    url = resolve_url()
    migrate(url)
    out.print(f"schema at revision {current_revision(url)}")


# -- import --------------------------------------------------------------------------------

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
JsonOpt = Annotated[bool, typer.Option("--json", help="print the full report as JSON")]


def _print_report(report: dict, as_json: bool) -> None:
    if as_json:
        _print_json(report)
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
    crs: CrsOpt = None,
    encoding: EncodingOpt = None,
    member: MemberOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="check and report, write nothing")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Import a zone layer (planning areas, land-use parcels) as its new active version."""
    from weijian.layers.importing import ZoneImport, import_zones

    engine = None if dry_run else _engine()
    report = import_zones(
        engine,
        ZoneImport(
            path=path,
            layer=layer,
            kind=kind,
            code_field=code_field,
            name_field=name_field,
            crs=crs,
            encoding=encoding,
            member=member,
            dry_run=dry_run,
            created_by="cli",
        ),
    )
    _print_report(report, as_json)


@import_app.command("grids")
@handles_errors
def import_grids_cmd(
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
    from weijian.layers.importing import GridImport, import_grids

    engine = _engine()
    report = import_grids(
        engine,
        GridImport(
            path=path,
            level=level,
            code_field=code_field,
            name_field=name_field,
            parent_field=parent_field,
            responsible_field=responsible_field,
            phone_field=phone_field,
            crs=crs,
            encoding=encoding,
            member=member,
            dry_run=dry_run,
            created_by="cli",
        ),
    )
    _print_report(report, as_json)


# -- layers --------------------------------------------------------------------------------


@layers_app.command("list")
@handles_errors
def layers_list(as_json: JsonOpt = False) -> None:
    """Every layer with its active version."""
    from weijian.layers import repository

    with _engine().connect() as conn:
        layers = repository.list_layers(conn)
    if as_json:
        _print_json(layers)
        return
    table = Table("layer", "family", "level", "active", "features", "versions")
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

    with _engine().connect() as conn:
        versions = repository.list_versions(conn, name)
    if as_json:
        _print_json(versions)
        return
    table = Table("version", "active", "features", "source", "created", "seconds")
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

    with _engine().connect() as conn:
        _print_json(repository.get_version(conn, name, version))


@layers_app.command("activate")
@handles_errors
def layers_activate(name: str, version: int) -> None:
    """Make an earlier (or later) version the active one — e.g. to roll back an import."""
    from weijian.layers import repository

    with _engine().begin() as conn:
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

    with _engine().connect() as conn:
        collection = repository.version_features(conn, name, version, None, limit=10_000_000)
    out_file.write_text(json.dumps(collection, ensure_ascii=False, default=str))
    out.print(f"{len(collection['features'])} features → {out_file}")


# -- samples, demo, serve ------------------------------------------------------------------


@samples_app.command("generate")
@handles_errors
def samples_generate(
    out_dir: Annotated[Path | None, typer.Option("--out", help="default: data/samples")] = None,
    scale: Annotated[str, typer.Option("--scale", help="small | city")] = "small",
    seed: Annotated[int, typer.Option("--seed")] = 20261125,
) -> None:
    """Write the sample city (shapefiles as a city hands them over, a GeoPackage, cases)."""
    from weijian import samples

    target = out_dir or get_settings().samples_dir
    manifest = samples.generate(target, scale=scale, seed=seed, log=_log)
    out.print(
        f"sample city ({scale}) written to {target}: "
        + json.dumps(manifest.get("counts", {}), ensure_ascii=False)
    )


def load_samples(engine, samples_dir: Path, log=_log) -> list[dict]:
    """Import every layer listed in the samples' manifest, in order."""
    from weijian.layers.importing import GridImport, ZoneImport, import_grids, import_zones

    manifest = json.loads((samples_dir / "manifest.json").read_text())
    reports = []
    for item in manifest["imports"]:
        path = samples_dir / item["path"]
        if item["family"] == "grids":
            report = import_grids(
                engine,
                GridImport(
                    path=path,
                    level=item["level"],
                    code_field=item["code_field"],
                    name_field=item["name_field"],
                    parent_field=item.get("parent_field"),
                    responsible_field=item.get("responsible_field"),
                    phone_field=item.get("phone_field"),
                    created_by="demo",
                ),
            )
        else:
            report = import_zones(
                engine,
                ZoneImport(
                    path=path,
                    layer=item["layer"],
                    kind=item.get("kind"),
                    code_field=item.get("code_field"),
                    name_field=item.get("name_field"),
                    created_by="demo",
                ),
            )
        log(
            f"  {report['layer']}: version {report['version']}, "
            f"{report['features']['imported']} features, {report['seconds']['total']} s"
        )
        reports.append(report)
    return reports


@app.command("demo")
@handles_errors
def demo(
    host: Annotated[str | None, typer.Option("--host")] = None,
    port: Annotated[int | None, typer.Option("--port")] = None,
    serve: Annotated[bool, typer.Option("--serve/--no-serve")] = True,
) -> None:
    """Start the embedded database, migrate, load the sample city, serve on 127.0.0.1:8000."""
    from weijian import samples

    settings = get_settings()
    engine = _engine()
    if not (settings.samples_dir / "manifest.json").exists():
        _log(f"generating the sample city in {settings.samples_dir} …")
        samples.generate(settings.samples_dir, log=_log)
    _log("importing the sample city …")
    load_samples(engine, settings.samples_dir)
    if serve:
        _serve(host or settings.host, port or settings.port, workers=1)


def _serve(host: str, port: int, workers: int) -> None:
    import uvicorn

    _log(f"weijian on http://{host}:{port}  (API docs: http://{host}:{port}/docs)")
    uvicorn.run(
        "weijian.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
    )


@app.command("serve")
@handles_errors
def serve(
    host: Annotated[str | None, typer.Option("--host")] = None,
    port: Annotated[int | None, typer.Option("--port")] = None,
    workers: Annotated[int, typer.Option("--workers")] = 1,
) -> None:
    """Serve the API (and, later, the map) on the configured address."""
    settings = get_settings()
    _engine()  # start and migrate before the workers fork
    _serve(host or settings.host, port or settings.port, workers)


if __name__ == "__main__":
    app()
