"""What the commands work on: the database (started and migrated on first use), the case
service over it as the application's role, the person at the terminal, the web server."""

from __future__ import annotations

from sqlalchemy import Engine

from weijian.cli.output import log
from weijian.settings import get_settings


def database(migrate: bool = True) -> Engine:
    """The owner's engine on DATABASE_URL or the embedded cluster, migrated to the head."""
    from weijian.db.engine import engine_for, resolve_url
    from weijian.db.engine import migrate as run_migrations

    url = resolve_url()
    if migrate:
        run_migrations(url)
    return engine_for(url)


def case_service():
    """The case service as the API has it, working as the database role ``weijian_app``."""
    from weijian.cases.service import CaseService
    from weijian.db.engine import app_engine_for
    from weijian.jurisdiction.snapshot import SnapshotHolder

    engine = app_engine_for(database().url.render_as_string(hide_password=False))
    settings = get_settings()
    return CaseService(engine, SnapshotHolder(engine, files=settings.snapshot_files), settings)


def operator(name: str | None):
    """The person at the terminal: an administrator, named in the history."""
    from weijian.cases.scope import Principal

    return Principal(id=None, username=name or "cli", display_name=name or "命令行", role="admin")


def serve_app(host: str, port: int, workers: int, tls: tuple[str, str] | None = None) -> None:
    """Serve the API and the pages with uvicorn until interrupted; ``tls``: the certificate
    and key files of HTTPS."""
    import uvicorn

    scheme = "https" if tls else "http"
    log(f"weijian on {scheme}://{host}:{port}  (API docs: {scheme}://{host}:{port}/docs)")
    uvicorn.run(
        "weijian.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        # which proxies' X-Forwarded-For is believed is the app's setting
        # (WEIJIAN_TRUSTED_PROXIES), not uvicorn's
        proxy_headers=False,
        ssl_certfile=tls[0] if tls else None,
        ssl_keyfile=tls[1] if tls else None,
    )
