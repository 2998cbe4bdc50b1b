"""Printed patrol maps: one grid, or a district's atlas."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from weijian.cli.context import case_service
from weijian.cli.output import handles_errors, log
from weijian.errors import InputError


@handles_errors
def patrol_map(
    grid: Annotated[str | None, typer.Option("--grid", help="one grid's code")] = None,
    district: Annotated[
        str | None, typer.Option("--district", help="a district's code: an atlas of its grids")
    ] = None,
    level: Annotated[
        str, typer.Option("--level", help="the atlas's grids: community | compound | town")
    ] = "community",
    paper: Annotated[str, typer.Option("--paper", help="A4 | A3")] = "A4",
    orientation: Annotated[
        str, typer.Option("--orientation", help="portrait | landscape | auto")
    ] = "auto",
    out_path: Annotated[Path | None, typer.Option("--out", help="the PDF to write")] = None,
    processes: Annotated[
        int | None, typer.Option("--processes", help="atlas pages rendered in parallel")
    ] = None,
) -> None:
    """Print a grid's patrol map (PDF), or a district's atlas with a cover page."""
    from weijian.patrol import service as patrol

    if (grid is None) == (district is None):
        raise InputError(
            "请给出 --grid 网格代码（打印一个网格的巡查图）或 --district 区县代码（打印区县图册），"
            "二者只能选其一",
            code="patrol.grid_or_district",
            detail="give --grid CODE for one map or --district CODE for an atlas",
        )
    service = case_service()
    if grid:
        content, info = patrol.grid_map(service, grid, paper.upper(), orientation)
        target = out_path or Path(f"巡查图-{grid}.pdf")
        log(
            f"{info['name']}: {info['cases']} open cases, 1:{info['scale']}, "
            f"{info['pages']} page(s)"
        )
    else:
        content, info = patrol.atlas(
            service, district, level, paper.upper(), orientation, processes=processes
        )
        target = out_path or Path(f"巡查图集-{district}-{level}.pdf")
        log(
            f"{info['grids']} grids, {info['cases']} open cases, {info['pages']} pages "
            f"with the cover"
        )
    target.write_bytes(content)
    log(f"written to {target} ({len(content) / 1024:.0f} KB)")


patrol_app = typer.Typer(help="Patrol tracks of the field app.", no_args_is_help=True)


@patrol_app.command("purge-tracks")
@handles_errors
def purge_tracks(
    days: Annotated[
        int | None,
        typer.Option("--days", help="keep this many days (default: WEIJIAN_TRACK_RETENTION_DAYS)"),
    ] = None,
) -> None:
    """Delete the patrol tracks older than the retention period."""
    from weijian.cases.clock import Clock
    from weijian.patrol import tracks

    service = case_service()
    keep = service.settings.track_retention_days if days is None else days
    count = tracks.purge(service.engine, Clock().now(), keep)
    log(f"{count} patrol track(s) older than {keep} days deleted")
