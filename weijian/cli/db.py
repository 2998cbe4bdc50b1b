"""The database: the embedded cluster, or the PostGIS that DATABASE_URL names."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from weijian.cli.output import handles_errors, log, out, print_json
from weijian.settings import get_settings

db_app = typer.Typer(help="The database: embedded cluster or DATABASE_URL.", no_args_is_help=True)


def _cluster():
    from weijian.db.cluster import EmbeddedCluster

    return EmbeddedCluster(get_settings().home, log=log)


@db_app.command("start")
@handles_errors
def db_start(
    port: Annotated[
        int | None,
        typer.Option(
            "--port", help="move the cluster to this loopback port (default: the one it has)"
        ),
    ] = None,
) -> None:
    """Start the embedded PostGIS cluster (created on first use), on the port it keeps."""
    if get_settings().database_url:
        log("DATABASE_URL is set: the embedded cluster is not used.")
        return
    state = _cluster().start(port)
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
        from weijian.db.engine import current_revision, normalise_url

        url = normalise_url(settings.database_url)
        print_json({"database_url": True, "schema_revision": current_revision(url)})
        return
    print_json(_cluster().status())


@db_app.command("url")
@handles_errors
def db_url() -> None:
    """Print the SQLAlchemy URL in use (starting the embedded cluster if needed)."""
    from weijian.db.engine import resolve_url

    sys.stdout.write(resolve_url() + "\n")


@db_app.command("migrate")
@handles_errors
def db_migrate() -> None:
    """Create or upgrade the schema (Alembic) in the database in use."""
    from weijian.db.engine import current_revision, migrate, resolve_url

    url = resolve_url()
    migrate(url)
    out.print(f"schema at revision {current_revision(url)}")
