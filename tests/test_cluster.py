"""The embedded cluster's decisions that this machine cannot show by itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from weijian.db import cluster
from weijian.db.cluster import EmbeddedCluster, ensure_binaries
from weijian.db.engine import normalise_url
from weijian.errors import EnvironmentProblem


def test_without_postgis_and_not_root_the_exact_command_is_given(monkeypatch):
    monkeypatch.setattr(cluster, "find_bin_dir", lambda: None)
    monkeypatch.setattr(cluster, "is_root", lambda: False)
    with pytest.raises(EnvironmentProblem) as caught:
        ensure_binaries()
    assert "PostGIS is not installed" in caught.value.detail
    assert caught.value.code == "database.postgis_missing"
    assert caught.value.message.startswith("本机没有安装带 PostGIS 的 PostgreSQL")
    assert "sudo sh -c 'apt-get update && apt-get install -y postgresql-" in caught.value.message
    assert "apt-get install -y postgresql-" in caught.value.hint
    assert "postgis-3" in caught.value.hint and "DATABASE_URL" in caught.value.hint


def test_the_running_cluster_reports_itself(database_url):
    from weijian.settings import get_settings

    status = EmbeddedCluster(get_settings().home).status()
    assert status["initialised"] and status["running"]
    assert status["postgres_major"] and "***" in status["url"]
    assert status["url"].startswith("postgresql+psycopg://weijian:***@127.0.0.1:")


def test_a_database_url_that_is_not_postgresql_is_refused():
    assert normalise_url("postgres://u:p@h/db").startswith("postgresql+psycopg://")
    with pytest.raises(EnvironmentProblem, match="must point at PostgreSQL") as caught:
        normalise_url("sqlite:///weijian.db")
    assert caught.value.code == "database.url_not_postgres"
    assert caught.value.message.startswith(
        "DATABASE_URL 必须指向 PostgreSQL/PostGIS 数据库，而不是 sqlite。"
    )
    assert caught.value.detail == "DATABASE_URL must point at PostgreSQL/PostGIS, not sqlite."


def test_the_cache_of_the_embedded_server_follows_the_machines_memory():
    gib = 2**30
    assert cluster.shared_buffers_mb(24 * gib) == 3072
    assert cluster.shared_buffers_mb(1 * gib) == 256  # never below PostgreSQL's old default
    assert cluster.shared_buffers_mb(128 * gib) == 4096
    # the server is started with this machine's figure
    assert cluster.SERVER_SETTINGS["shared_buffers"] == f"{cluster.shared_buffers_mb()}MB"


def test_databases_migrated_at_once_share_the_clusters_role():
    """The app's role belongs to the cluster, not to a database: databases migrated at the same
    moment (the test workers' on a new cluster) each create it or find it made, and none fails
    on another's — migration 0003's block run by eight connections at once, on a role of its
    own."""
    import importlib.util
    import threading
    import uuid

    import psycopg

    from tests.conftest import _admin_connection

    path = Path(cluster.__file__).parent / "migrations" / "versions" / "0003_cases.py"
    spec = importlib.util.spec_from_file_location("migration_0003", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    role = f"weijian_race_{uuid.uuid4().hex[:8]}"
    block = migration.ROLE.split("GRANT USAGE")[0].replace(migration.APP_ROLE, role)
    _, admin = _admin_connection()
    start, failures = threading.Barrier(8), []

    def migrate_role():
        with psycopg.connect(**admin) as conn:
            start.wait()
            try:
                conn.execute(block)
            except psycopg.Error as exc:
                failures.append(exc)

    threads = [threading.Thread(target=migrate_role) for _ in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with psycopg.connect(**admin) as conn:
            row = conn.execute(
                "SELECT pg_has_role(current_user, %s, 'MEMBER') FROM pg_roles WHERE rolname = %s",
                (role, role),
            ).fetchone()
    finally:
        with psycopg.connect(**admin) as conn:
            conn.execute(f"DROP ROLE IF EXISTS {role}")
    assert failures == []
    assert row == (True,)
