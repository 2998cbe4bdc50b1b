"""Where the database is and how to reach it: ``DATABASE_URL`` or the embedded cluster."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from weijian.errors import EnvironmentProblem
from weijian.settings import Settings, get_settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: the role the application works as: it may not UPDATE or DELETE case events (migration 0003)
APP_ROLE = "weijian_app"


def normalise_url(url: str) -> str:
    """Accept ``postgres://`` and ``postgresql://`` too, always talking through psycopg 3."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    backend = parsed.get_backend_name()
    if backend != "postgresql":
        raise EnvironmentProblem(
            f"DATABASE_URL 必须指向 PostgreSQL/PostGIS 数据库，而不是 {backend}。"
            "格式如 DATABASE_URL=postgresql+psycopg://用户名:密码@主机:5432/数据库名",
            code="database.url_not_postgres",
            detail=f"DATABASE_URL must point at PostgreSQL/PostGIS, not {backend}.",
            hint="e.g. DATABASE_URL=postgresql+psycopg://user:password@host:5432/dbname",
        )
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def resolve_url(settings: Settings | None = None, start: bool = True) -> str:
    settings = settings or get_settings()
    if settings.database_url:
        return normalise_url(settings.database_url)
    from weijian.db.cluster import EmbeddedCluster

    cluster = EmbeddedCluster(settings.home)
    if start:
        return cluster.start().url()
    state = cluster.load_state()
    if not state:
        raise EnvironmentProblem(
            "内置数据库尚未创建，请先运行 weijian db start",
            code="database.not_created",
            detail="the embedded database has not been created yet.",
            hint="run `weijian db start`",
        )
    return state.url()


#: every connection without PostgreSQL's JIT compilation: the reports' queries over a million
#: cases are estimated costly enough to set it off, and compiling their expressions takes
#: longer (0.3–0.7 s a query, measured on the statistics page and the ledger) than running
#: them; nothing of ours gains from it
CONNECT_ARGS = {"options": "-c jit=off"}


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    return create_engine(
        url, pool_pre_ping=True, pool_size=5, max_overflow=10, connect_args=CONNECT_ARGS
    )


@lru_cache(maxsize=8)
def app_engine_for(url: str) -> Engine:
    """An engine whose connections ``SET ROLE weijian_app``: what the API and the case commands
    use, so that history stays append-only even if the application is subverted."""
    engine = create_engine(
        url, pool_pre_ping=True, pool_size=10, max_overflow=10, connect_args=CONNECT_ARGS
    )

    @event.listens_for(engine, "connect")
    def _set_role(dbapi_connection, _record) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET ROLE {APP_ROLE}")
        dbapi_connection.commit()

    return engine


def get_engine(settings: Settings | None = None) -> Engine:
    return engine_for(resolve_url(settings))


def migrate(url: str, revision: str = "head") -> None:
    """Bring the schema at ``url`` up to ``revision`` through Alembic."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["url"] = url
    engine = engine_for(url)
    with engine.connect() as conn:
        has_postgis = conn.execute(
            text("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'")
        ).first()
    if not has_postgis:
        raise EnvironmentProblem(
            f"{make_url(url).host} 上的 PostgreSQL 没有可用的 PostGIS 扩展。请在该服务器上安装 "
            "PostGIS（Debian：apt-get install postgresql-15-postgis-3）",
            code="database.postgis_unavailable",
            detail=f"the PostgreSQL at {make_url(url).host} has no PostGIS extension available.",
            hint="install PostGIS on that server (Debian: apt-get install postgresql-15-postgis-3)",
        )
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def current_revision(url: str) -> str | None:
    with engine_for(url).connect() as conn:
        exists = conn.execute(text("SELECT to_regclass('alembic_version')")).scalar()
        if not exists:
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
