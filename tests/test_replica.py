"""A streaming replica on PostgreSQL's own machinery, built on this machine: a primary cluster of
its own and a hot standby made by `weijian db replica`'s code (pg_basebackup -R). With
DATABASE_REPLICA_URL the app loads its jurisdiction snapshot on the replica and writes on the
primary; while the replica's replay is paused, a report written on the primary is not yet in the
statistics read on the replica, and a layer activated on the primary is not used yet — the
answers stay right for the version they name; once replay resumes, both are. Built once for
the module."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from tests import catalogue
from tests.casekit import STREET, Api, add_users, build_city, lonlat
from tests.city import box, frame
from tests.conftest import serving
from weijian.db.cluster import EmbeddedCluster
from weijian.db.engine import engine_for, migrate
from weijian.layers.importing import ZoneImport, import_zones
from weijian.settings import Settings


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """(primary, replica) clusters of their own, the primary holding the hand-built city."""
    folder = tmp_path_factory.mktemp("replica")
    primary = EmbeddedCluster(folder / "primary", log=lambda *_: None)
    state = primary.start()
    replica = None
    try:
        migrate(state.url())
        engine = engine_for(state.url())
        build_city(engine, folder / "city")
        add_users(engine)
        replica = primary.make_replica(folder / "standby")
        yield primary, replica, folder
    finally:
        for cluster in (replica, primary):
            if cluster is not None and cluster.load_state():
                cluster.stop()
                shutil.rmtree(cluster.load_state().run_dir, ignore_errors=True)


def _answer(base: str) -> dict:
    lon, lat = lonlat(STREET)
    r = httpx.get(f"{base}/api/v1/jurisdiction", params={"lon": lon, "lat": lat, "crs": "cgcs2000"})
    assert r.status_code == 200, r.text
    return r.json()


def test_reads_on_the_replica_right_while_it_lags(pair):
    from weijian.api.app import create_app

    primary, replica, folder = pair
    primary_url, replica_url = primary.load_state().url(), replica.load_state().url()
    with engine_for(replica_url).connect() as conn:
        assert conn.execute(text("SELECT pg_is_in_recovery()")).scalar() is True
    settings = Settings(
        database_replica_url=replica_url,
        replica_wait_seconds=0.5,
        evidence_dir=folder / "evidence",
    )
    app = create_app(engine_for(primary_url), settings=settings)
    with serving(app) as base:
        holder = app.state.jurisdiction
        with holder.read_engine.connect() as conn:  # the snapshot is read on the replica
            assert conn.execute(text("SELECT pg_is_in_recovery()")).scalar() is True
        before = _answer(base)
        assert before["layer_versions"]["urban_managed"] == 1
        assert before["department"]["type"] == "urban_enforcement"

        # the replica stops replaying: a report is written on the primary (201), and the
        # statistics, read on the replica, do not count it yet
        api = Api(base, None, settings)
        counted = httpx.get(f"{base}/api/v1/public/stats").json()["city"]["new_cases"]
        with engine_for(replica_url).connect() as conn:
            conn.execute(text("SELECT pg_wal_replay_pause()"))
            conn.commit()
        number = api.report("ue_hj", STREET, channel="patrol")["number"]
        with engine_for(primary_url).connect() as conn:
            assert (
                conn.execute(
                    text("SELECT count(*) FROM violation_case WHERE number = :n"), {"n": number}
                ).scalar()
                == 1
            )
        assert httpx.get(f"{base}/api/v1/public/stats").json()["city"]["new_cases"] == counted

        # the primary activates a smaller urban area (version 2), which no longer holds the spot
        path = catalogue.write_shapefile(
            frame([{"MC": "浑江区城市化管理区域（调整）", "geometry": box(0, 0, 1, 1)}]),
            folder / "urban-v2",
            "urban",
        )
        import_zones(
            engine_for(primary_url),
            ZoneImport(path=path, layer="urban_managed", kind="urban_managed", name_field="MC"),
        )
        deadline = time.monotonic() + 10
        while not holder.lagging:
            assert time.monotonic() < deadline, "the reload never found the replica behind"
            time.sleep(0.1)
        during = _answer(base)  # the version in hand, named, and right for it
        assert during["layer_versions"]["urban_managed"] == 1
        assert during["department"] == before["department"]

        with engine_for(replica_url).connect() as conn:
            conn.execute(text("SELECT pg_wal_replay_resume()"))
            conn.commit()
        deadline = time.monotonic() + 15
        while _answer(base)["layer_versions"]["urban_managed"] != 2:
            assert time.monotonic() < deadline, "the new version was never used"
            time.sleep(0.2)
        after = _answer(base)
        assert after["department"] != before["department"]
        stats = httpx.get(f"{base}/api/v1/public/stats").json()
        assert stats["city"]["new_cases"] == counted + 1
        assert not holder.lagging
    assert Path(replica.load_state().data_dir, "standby.signal").exists()


def test_failover_to_the_promoted_replica_loses_nothing_acknowledged(pair):
    """The primary requires its standby's flush before a commit returns
    (``synchronous_standby_names``); the app's DATABASE_URL names both hosts with
    ``target_session_attrs=read-write``. The primary dies; the replica is promoted
    (``pg_ctl promote``); the app reconnects to it, every report acknowledged before is there,
    and reports are taken again."""
    from weijian.api.app import create_app

    primary, replica, folder = pair
    p, r = primary.load_state(), replica.load_state()
    autocommit = engine_for(p.url()).execution_options(isolation_level="AUTOCOMMIT")
    with autocommit.connect() as conn:
        conn.execute(text("ALTER SYSTEM SET synchronous_standby_names = '*'"))
        conn.execute(text("SELECT pg_reload_conf()"))
    both = (
        f"postgresql+psycopg://weijian:{p.password}@/weijian?host=127.0.0.1,127.0.0.1"
        f"&port={p.port},{r.port}&target_session_attrs=read-write"
    )
    settings = Settings(evidence_dir=folder / "evidence-failover")
    app = create_app(engine_for(both), settings=settings)
    with serving(app) as base:
        api = Api(base, None, settings)
        acknowledged = [api.report("ue_hj", STREET, channel="patrol")["number"] for _ in range(5)]
        # the primary's machine is gone: stopped at once, no shutdown checkpoint
        primary._run(
            [str(Path(p.bin_dir) / "pg_ctl"), "stop", "-m", "immediate", "-D", str(p.data_dir)]
        )
        replica._run([str(Path(r.bin_dir) / "pg_ctl"), "promote", "-w", "-D", str(r.data_dir)])
        deadline = time.monotonic() + 30
        while True:  # the first requests after the failover may meet a dead connection
            try:
                after = api.report("ue_hj", STREET, channel="patrol")["number"]
                break
            except AssertionError:
                assert time.monotonic() < deadline, "the app never reached the new primary"
                time.sleep(0.5)
        with engine_for(r.url()).connect() as conn:
            stored = set(conn.execute(text("SELECT number FROM violation_case")).scalars())
            assert conn.execute(text("SELECT pg_is_in_recovery()")).scalar() is False
    assert set(acknowledged) <= stored and after in stored
