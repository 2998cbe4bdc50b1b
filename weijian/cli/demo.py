"""The sample city and the demo: generate the files, load them, report the demo cases, serve."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from weijian.cli.context import database, serve_app
from weijian.cli.output import handles_errors, log, out
from weijian.demo.users import (
    DEMO_PASSWORD,
    Passwords,
    ensure_demo_users,
    is_demo_database,
    mark_demo_database,
)
from weijian.settings import get_settings

samples_app = typer.Typer(help="The sample city.", no_args_is_help=True)


@samples_app.command("generate")
@handles_errors
def samples_generate(
    out_dir: Annotated[Path | None, typer.Option("--out", help="default: data/samples")] = None,
    scale: Annotated[
        str,
        typer.Option(
            "--scale",
            help="small | city | province (a million land-use parcels: the snapshot's benchmark)",
        ),
    ] = "small",
    seed: Annotated[int, typer.Option("--seed")] = 20261125,
) -> None:
    """Write the sample city (shapefiles as a city hands them over, a GeoPackage, cases)."""
    from weijian import samples

    target = out_dir or get_settings().samples_dir
    manifest = samples.generate(target, scale=scale, seed=seed, log=log)
    out.print(
        f"sample city ({scale}) written to {target}: "
        + json.dumps(manifest.get("counts", {}), ensure_ascii=False)
    )


@handles_errors
def demo(
    host: Annotated[str | None, typer.Option("--host")] = None,
    port: Annotated[int | None, typer.Option("--port")] = None,
    serve: Annotated[bool, typer.Option("--serve/--no-serve")] = True,
    demo_passwords: Annotated[
        bool,
        typer.Option(
            "--demo-passwords",
            help=f"give the demo users the documented password ({DEMO_PASSWORD}) even on a "
            "database the demo did not create (DATABASE_URL)",
        ),
    ] = False,
) -> None:
    """Start the embedded database, migrate, load the sample city, serve on 127.0.0.1:8000.
    The demo users get the documented password on the embedded database; on a database
    DATABASE_URL names, random passwords printed once (unless --demo-passwords)."""
    from weijian import samples
    from weijian.demo.cases import load_demo_cases
    from weijian.demo.city import load_samples

    settings = get_settings()
    engine = database()
    if settings.database_url is None:  # the embedded cluster: the demo's own database
        mark_demo_database(engine)
    passwords = Passwords(documented=demo_passwords or is_demo_database(engine))
    if not passwords.documented:
        log(
            "this database was not created by the demo: its users get random passwords "
            "(--demo-passwords for the documented one)"
        )
    if not (settings.samples_dir / "manifest.json").exists():
        log(f"generating the sample city in {settings.samples_dir} …")
        samples.generate(settings.samples_dir, log=log)
    log("importing the sample city …")
    load_samples(engine, settings.samples_dir, log=log, skip_unchanged=True)
    ensure_demo_users(engine, log=log, passwords=passwords)
    load_demo_cases(engine, settings.samples_dir, log=log, passwords=passwords)
    passwords.report(log)
    if serve:
        from weijian.jobs.process import worker_process

        # the background jobs' worker (atlases) runs beside the server and stops with it
        with worker_process():
            serve_app(host or settings.host, port or settings.port, workers=1)
