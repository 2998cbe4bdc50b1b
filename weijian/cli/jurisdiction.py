"""Who is responsible for a spot: one look-up, a file of points, the rules and the departments."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from weijian.cli.context import database
from weijian.cli.output import JsonOpt, err, handles_errors, new_table, out, print_json
from weijian.errors import InputError

rules_app = typer.Typer(
    help="Jurisdiction rules (every change: a new version, who, why).", no_args_is_help=True
)


departments_app = typer.Typer(
    help="The departments jurisdiction answers name.", no_args_is_help=True
)


def _snapshot(engine):
    from weijian.jurisdiction.snapshot import load_snapshot
    from weijian.settings import get_settings

    return load_snapshot(engine, get_settings().snapshot_files)


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
    print_json(lookup(_snapshot(database()), x, y, tolerance_m=tolerance_m, given=given))


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

    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from weijian.jurisdiction import batch

    if not in_file.exists():
        raise typer.BadParameter(f"{in_file} does not exist")
    engine = database()
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
    table = new_table(
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


ByOpt = Annotated[str, typer.Option("--by", help="who makes the change")]


ReasonOpt = Annotated[str, typer.Option("--reason", help="why (e.g. the policy document)")]


@rules_app.command("list")
@handles_errors
def rules_list(
    version: Annotated[int | None, typer.Option("--version")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The rules in force (or of an earlier version)."""
    from weijian.jurisdiction import service

    data = service.rule_set_json(database(), version)
    print_json(data) if as_json else _rules_table(data)


@rules_app.command("versions")
@handles_errors
def rules_versions(as_json: JsonOpt = False) -> None:
    """Every rule-set version: who changed the rules, when and why."""
    from weijian.jurisdiction import service

    versions = service.rule_set_versions(database())
    if as_json:
        print_json(versions)
        return
    table = new_table("version", "active", "rules", "by", "when", "why")
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


@rules_app.command("set")
@handles_errors
def rules_set(
    file: Annotated[Path, typer.Argument(help="JSON: a list of rules (as `rules list --json`)")],
    by: ByOpt,
    reason: ReasonOpt,
) -> None:
    """Replace the whole rule set with the rules of a JSON file (a new version)."""
    from weijian.jurisdiction import service

    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(
            f"{file} 无法读取或不是有效的 JSON 文件（{exc}），请检查文件路径和内容",
            code="file.json_unreadable",
            detail=f"{file} is not a readable JSON file ({exc}).",
        ) from exc
    items = data["rules"] if isinstance(data, dict) else data
    engine = database()
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

    engine = database()
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

    engine = database()
    current = service.rule_set_json(engine, None)["rules"]
    kept = [{k: v for k, v in r.items() if k != "id"} for r in current if r["id"] != rule_id]
    if len(kept) == len(current):
        raise NotFoundError(
            f"现行管辖规则中没有编号为 {rule_id} 的规则，请用 weijian rules list 查看规则编号",
            code="rules.rule_not_found",
            detail=f"the rules in force have no rule {rule_id}.",
            hint="see `weijian rules list`",
        )
    version = service.replace_rules(engine, kept, by, reason)
    _rules_table(service.rule_set_json(engine, version))


@rules_app.command("activate")
@handles_errors
def rules_activate(version: int, by: ByOpt, reason: ReasonOpt) -> None:
    """Bring back an earlier version's rules (stored as a new version)."""
    from weijian.jurisdiction import service

    engine = database()
    new = service.replace_rules(engine, service.rule_items(engine, version), by, reason)
    _rules_table(service.rule_set_json(engine, new))


@departments_app.command("list")
@handles_errors
def departments_list(as_json: JsonOpt = False) -> None:
    """Every department answers can name (per district and type)."""
    from weijian.jurisdiction import service

    rows = service.effective_departments(_snapshot(database()))
    if as_json:
        print_json(rows)
        return
    table = new_table("type", "district", "code", "name", "configured")
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
    from weijian.jurisdiction import repository

    with database().begin() as conn:
        if type_ not in repository.department_templates(conn):
            raise InputError(
                f"未知的责任部门类型“{type_}”，请先用 weijian departments add-type 添加该类型",
                code="rules.department_type_unknown",
                detail=f"unknown department type {type_!r}.",
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
    from weijian.jurisdiction import repository

    if "{district}" not in template:
        raise InputError(
            f"部门名称模板“{template}”中须含有 {{district}}（代表区县名称），"
            "如 {district}农业农村局",
            code="department.template_invalid",
            detail="the name template must contain {district}.",
            hint="e.g. {district}农业农村局",
        )
    with database().begin() as conn:
        repository.add_department_type(conn, type_, label, template)
    out.print(f"department type {type_}: {label} ({template})")
