"""The database: the embedded cluster, or the PostGIS that DATABASE_URL names."""

from __future__ import annotations

import sys
from pathlib import Path
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
    archive: Annotated[
        Path | None,
        typer.Option(
            "--archive",
            help="archive the WAL to this folder from now on (kept for later starts): what "
            "point-in-time recovery replays",
        ),
    ] = None,
) -> None:
    """Start the embedded PostGIS cluster (created on first use), on the port it keeps."""
    if get_settings().database_url:
        log("DATABASE_URL is set: the embedded cluster is not used.")
        return
    state = _cluster().start(port, archive=archive)
    out.print(f"embedded PostGIS running on 127.0.0.1:{state.port} ({state.data_dir})")
    if state.archive_dir:
        out.print(f"WAL archived to {state.archive_dir}")


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


@db_app.command("backup")
@handles_errors
def db_backup(
    file: Annotated[Path, typer.Argument(help="the backup to write (a tar), e.g. 2026-12-05.tar")],
) -> None:
    """Back up the database (pg_dump) and the evidence files, with a manifest of hashes."""
    from weijian.db.backup import backup
    from weijian.db.engine import resolve_url

    result = backup(resolve_url(), get_settings().evidence_root, file, log=log)
    c = result["counts"]
    out.print(
        f"backup {result['file']}: {result['size'] / 1e6:.1f} MB, "
        f"schema {result['schema_revision']}, "
        f"{c['cases']} cases, {c['events']} events, {result['evidence_files']} evidence files; "
        f"sha256 {result['sha256']}"
    )


@db_app.command("restore")
@handles_errors
def db_restore(
    file: Annotated[Path, typer.Argument(help="a backup written by `weijian db backup`")],
) -> None:
    """Restore a backup into the empty database in use and its evidence files; every part is
    checked against the manifest first. Then run `weijian audit verify`."""
    from weijian.db.backup import restore
    from weijian.db.engine import resolve_url

    result = restore(resolve_url(), get_settings().evidence_root, file, log=log)
    c = result["counts"]
    out.print(
        f"restored the backup of {result['created_at']}: schema {result['schema_revision']}, "
        f"{c['cases']} cases, {c['events']} events, {result['evidence_files']} evidence files"
    )


@db_app.command("basebackup")
@handles_errors
def db_basebackup(
    folder: Annotated[Path, typer.Argument(help="a new, empty folder for the base backup")],
) -> None:
    """A base backup of the embedded cluster (pg_basebackup): with the WAL archive
    (db start --archive), what `weijian db recover` replays to a moment."""
    result = _cluster().base_backup(folder)
    out.print(f"base backup in {result['base']}; WAL archive {result['archive'] or '(none)'}")


@db_app.command("recover")
@handles_errors
def db_recover(
    base: Annotated[Path, typer.Argument(help="a folder written by `weijian db basebackup`")],
    to: Annotated[
        str,
        typer.Option("--to", help="the moment, e.g. '2026-12-05 10:30:00' (Beijing time)"),
    ],
) -> None:
    """Point-in-time recovery of the embedded cluster: the base backup replayed from the WAL
    archive up to --to; the data folder it replaces is kept beside it."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from weijian.errors import InputError

    try:
        moment = datetime.fromisoformat(to.strip())
    except ValueError:
        raise InputError(
            f"时刻“{to}”格式不正确，应为如 2026-12-05 10:30:00（北京时间）",
            code="database.moment_invalid",
            detail=f"{to!r} is not a moment (YYYY-MM-DD HH:MM:SS[+08:00])",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo("Asia/Shanghai"))
    result = _cluster().recover(base, moment)
    out.print(f"recovered to {result['recovered_to']}; the data before: {result['previous_data']}")


@db_app.command("replica")
@handles_errors
def db_replica(
    home: Annotated[
        Path, typer.Argument(help="a folder for the replica's state, e.g. .weijian-replica")
    ],
    port: Annotated[int | None, typer.Option("--port", help="its loopback port")] = None,
) -> None:
    """A streaming replica of the embedded cluster (pg_basebackup -R, a hot standby on its own
    port): point DATABASE_REPLICA_URL at the URL printed."""
    replica = _cluster().make_replica(home, port)
    state = replica.load_state()
    out.print(f"streaming replica running on 127.0.0.1:{state.port} ({state.data_dir})")
    sys.stdout.write(state.url() + "\n")
