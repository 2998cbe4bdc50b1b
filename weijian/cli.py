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
rules_app = typer.Typer(
    help="Jurisdiction rules (every change: a new version, who, why).", no_args_is_help=True
)
departments_app = typer.Typer(
    help="The departments jurisdiction answers name.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(import_app, name="import")
app.add_typer(layers_app, name="layers")
app.add_typer(samples_app, name="samples")
app.add_typer(rules_app, name="rules")
app.add_typer(departments_app, name="departments")

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


def _table(*headers: str, **kwargs) -> Table:
    """A table whose long Chinese cells wrap instead of being cut on a narrow terminal."""
    table = Table(*headers, **kwargs)
    for column in table.columns:
        column.overflow = "fold"
    return table


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
            title=title,
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
    table = _table("layer", "family", "level", "active", "features", "versions")
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
    table = _table("version", "active", "features", "source", "created", "seconds")
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


# -- jurisdiction ------------------------------------------------------------------------


def _snapshot(engine):
    from weijian.jurisdiction.snapshot import load_snapshot

    return load_snapshot(engine)


@app.command("lookup")
@handles_errors
def lookup_cmd(
    lon: Annotated[float, typer.Argument(help="longitude (or x)")],
    lat: Annotated[float, typer.Argument(help="latitude (or y)")],
    crs: Annotated[
        str, typer.Option("--crs", help="wgs84 | cgcs2000 | gcj02 | bd09 | EPSG:n")
    ] = "wgs84",
    tolerance_m: Annotated[float, typer.Option("--tolerance-m")] = 10.0,
) -> None:
    """Who is responsible for this spot: the same JSON as GET /api/v1/jurisdiction."""
    from weijian.gis.points import point_to_cgcs2000
    from weijian.jurisdiction.engine import lookup

    x, y, source = point_to_cgcs2000(lon, lat, crs)
    given = {"x": lon, "y": lat, "crs": source.label}
    _print_json(lookup(_snapshot(_engine()), x, y, tolerance_m=tolerance_m, given=given))


@app.command("assign")
@handles_errors
def assign_cmd(
    in_file: Annotated[
        Path, typer.Argument(help="points: .csv (id,lon,lat), .geojson, .shp, .gpkg")
    ],
    out_file: Annotated[Path, typer.Argument(help="answers: .csv, .geojson, .gpkg or .shp")],
    crs: Annotated[str, typer.Option("--crs")] = "wgs84",
    tolerance_m: Annotated[float, typer.Option("--tolerance-m")] = 10.0,
    id_field: Annotated[str | None, typer.Option("--id-field", help="for .shp / .gpkg")] = None,
    workers: Annotated[int, typer.Option("--workers", help="processes (default: all cores)")] = 0,
) -> None:
    """Assign every point of a file to its responsible department (the full answer)."""
    import time
    from datetime import date

    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from weijian.jurisdiction import batch

    if not in_file.exists():
        raise typer.BadParameter(f"{in_file} does not exist")
    engine = _engine()
    snap = _snapshot(engine)
    total = batch.count_points(in_file)
    answerer = batch.Answerer(snap, workers or batch.default_workers())
    started = time.perf_counter()
    try:
        with Progress(
            TextColumn("assigning"),
            BarColumn(),
            TextColumn("{task.completed:,}/{task.total:,}"),
            TimeRemainingColumn(),
            console=err,
        ) as progress:
            task = progress.add_task("assign", total=total)
            batch.write_answers(
                snap,
                batch.open_chunks(in_file, id_field),
                out_file,
                crs=crs,
                on=date.today(),
                tolerance_m=tolerance_m,
                answerer=answerer,
                progress=lambda n: progress.advance(task, n),
            )
    finally:
        answerer.close()
    seconds = time.perf_counter() - started
    out.print(
        f"{total:,} points → {out_file} in {seconds:.1f} s "
        f"({total / max(seconds, 1e-9):,.0f} points/s)"
    )


def _rules_table(data: dict) -> None:
    table = _table(
        "id",
        "priority",
        "name",
        "department type",
        "zone kinds",
        "codes",
        "valid",
        title=f"rule set version {data['version']} — {data['created_by']}: {data['reason']}",
        title_justify="left",
    )
    for r in data["rules"]:
        table.add_row(
            str(r["id"]),
            str(r["priority"]),
            r["name"],
            r["department_type"],
            ", ".join(r["zone_kinds"]),
            ", ".join(r["code_patterns"]),
            f"{r['valid_from'] or '…'} – {r['valid_to'] or '…'}",
        )
    out.print(table)


@rules_app.command("list")
@handles_errors
def rules_list(
    version: Annotated[int | None, typer.Option("--version")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The rules in force (or of an earlier version)."""
    from weijian.jurisdiction import service

    data = service.rule_set_json(_engine(), version)
    _print_json(data) if as_json else _rules_table(data)


@rules_app.command("versions")
@handles_errors
def rules_versions(as_json: JsonOpt = False) -> None:
    """Every rule-set version: who changed the rules, when and why."""
    from weijian.jurisdiction import service

    versions = service.rule_set_versions(_engine())
    if as_json:
        _print_json(versions)
        return
    table = _table("version", "active", "rules", "by", "when", "why")
    for v in versions:
        table.add_row(
            str(v["version"]),
            "✓" if v["active"] else "",
            str(v["rules"]),
            v["created_by"],
            f"{v['created_at']:%Y-%m-%d %H:%M}",
            v["reason"],
        )
    out.print(table)


ByOpt = Annotated[str, typer.Option("--by", help="who makes the change")]
ReasonOpt = Annotated[str, typer.Option("--reason", help="why (e.g. the policy document)")]


@rules_app.command("set")
@handles_errors
def rules_set(
    file: Annotated[Path, typer.Argument(help="JSON: a list of rules (as `rules list --json`)")],
    by: ByOpt,
    reason: ReasonOpt,
) -> None:
    """Replace the whole rule set with the rules of a JSON file (a new version)."""
    from weijian.errors import InputError
    from weijian.jurisdiction import service

    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{file} is not a readable JSON file ({exc}).") from exc
    items = data["rules"] if isinstance(data, dict) else data
    engine = _engine()
    version = service.replace_rules(engine, items, by, reason)
    _rules_table(service.rule_set_json(engine, version))


@rules_app.command("add")
@handles_errors
def rules_add(
    name: Annotated[str, typer.Option("--name")],
    priority: Annotated[int, typer.Option("--priority", help="lower is tried first")],
    department_type: Annotated[str, typer.Option("--department-type")],
    by: ByOpt,
    reason: ReasonOpt,
    kind: Annotated[list[str] | None, typer.Option("--kind", help="zone kind (repeatable)")] = None,
    code: Annotated[
        list[str] | None,
        typer.Option("--code", help="land-use code prefix or glob, e.g. 0702 (repeatable)"),
    ] = None,
    valid_from: Annotated[str | None, typer.Option("--valid-from", help="YYYY-MM-DD")] = None,
    valid_to: Annotated[
        str | None, typer.Option("--valid-to", help="YYYY-MM-DD, exclusive")
    ] = None,
) -> None:
    """Add one rule (a new version of the rule set)."""
    from weijian.jurisdiction import service

    engine = _engine()
    items = service.rule_items(engine)
    items.append(
        {
            "priority": priority,
            "name": name,
            "department_type": department_type,
            "zone_kinds": kind or [],
            "code_patterns": code or [],
            "valid_from": valid_from,
            "valid_to": valid_to,
        }
    )
    version = service.replace_rules(engine, items, by, reason)
    _rules_table(service.rule_set_json(engine, version))


@rules_app.command("remove")
@handles_errors
def rules_remove(rule_id: int, by: ByOpt, reason: ReasonOpt) -> None:
    """Remove one rule by its id (a new version of the rule set)."""
    from weijian.errors import NotFoundError
    from weijian.jurisdiction import service

    engine = _engine()
    current = service.rule_set_json(engine, None)["rules"]
    kept = [{k: v for k, v in r.items() if k != "id"} for r in current if r["id"] != rule_id]
    if len(kept) == len(current):
        raise NotFoundError(
            f"the rules in force have no rule {rule_id}.", hint="see `weijian rules list`"
        )
    version = service.replace_rules(engine, kept, by, reason)
    _rules_table(service.rule_set_json(engine, version))


@rules_app.command("activate")
@handles_errors
def rules_activate(version: int, by: ByOpt, reason: ReasonOpt) -> None:
    """Bring back an earlier version's rules (stored as a new version)."""
    from weijian.jurisdiction import service

    engine = _engine()
    new = service.replace_rules(engine, service.rule_items(engine, version), by, reason)
    _rules_table(service.rule_set_json(engine, new))


@departments_app.command("list")
@handles_errors
def departments_list(as_json: JsonOpt = False) -> None:
    """Every department answers can name (per district and type)."""
    from weijian.jurisdiction import service

    rows = service.effective_departments(_snapshot(_engine()))
    if as_json:
        _print_json(rows)
        return
    table = _table("type", "district", "code", "name", "configured")
    for r in rows:
        table.add_row(
            r["type"],
            r["district_code"] or "",
            r["code"],
            r["name"],
            "✓" if r["configured"] else "template",
        )
    out.print(table)


@departments_app.command("set")
@handles_errors
def departments_set(
    type_: Annotated[str, typer.Argument(metavar="TYPE")],
    district_code: str,
    name: str,
    code: Annotated[str | None, typer.Option("--code")] = None,
) -> None:
    """Name one department, e.g. `set natural_resources 220602 白山市自然资源局浑江区分局`."""
    from weijian.errors import InputError
    from weijian.jurisdiction import repository

    with _engine().begin() as conn:
        if type_ not in repository.department_templates(conn):
            raise InputError(
                f"unknown department type {type_!r}.",
                hint="add it with `weijian departments add-type`",
            )
        repository.upsert_department(
            conn, type_, district_code, code or f"{district_code}-{type_}", name
        )
    out.print(f"{type_} {district_code}: {name}")


@departments_app.command("add-type")
@handles_errors
def departments_add_type(
    type_: Annotated[str, typer.Argument(metavar="TYPE", help="e.g. agriculture_rural")],
    label: Annotated[str, typer.Argument(help="e.g. 农业农村部门")],
    template: Annotated[str, typer.Argument(help="e.g. {district}农业农村局")],
) -> None:
    """Add (or rename) a department type that rules can assign."""
    from weijian.errors import InputError
    from weijian.jurisdiction import repository

    if "{district}" not in template:
        raise InputError(
            "the name template must contain {district}.", hint="e.g. {district}农业农村局"
        )
    with _engine().begin() as conn:
        repository.add_department_type(conn, type_, label, template)
    out.print(f"department type {type_}: {label} ({template})")


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


def load_samples(engine, samples_dir: Path, log=_log, skip_unchanged: bool = False) -> list[dict]:
    """Import every layer listed in the samples' manifest, in order (with ``skip_unchanged``,
    not those whose active version came from the very same file)."""
    from weijian.gis.readers import sha256_of
    from weijian.layers import repository
    from weijian.layers.importing import GridImport, ZoneImport, import_grids, import_zones

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
                    title=item.get("title"),
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
    load_samples(engine, settings.samples_dir, skip_unchanged=True)
    from weijian.cli_cases import ensure_demo_users

    ensure_demo_users(engine)
    from weijian.demo_cases import load_demo_cases

    load_demo_cases(engine, settings.samples_dir, log=_log)
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


from weijian import cli_assess, cli_cases, cli_ledger  # noqa: E402, F401  (register commands)

if __name__ == "__main__":
    app()
