"""Point-in-time recovery on PostgreSQL's own machinery: a cluster of its own started with
`weijian db start --archive DIR`'s code, a base backup, two citizens' reports a moment apart,
and the cluster recovered to the moment between them — the first case is there, the second is
not, and the history of the first verifies."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from sqlalchemy import text

from tests.casekit import COMPOUND, STREET, add_users, build_city, lonlat
from weijian.cases import history
from weijian.cases.intake import Intake
from weijian.cases.service import CaseService
from weijian.db.cluster import EmbeddedCluster
from weijian.db.engine import app_engine_for, engine_for, migrate
from weijian.jurisdiction.snapshot import SnapshotHolder
from weijian.settings import Settings


def _report(service: CaseService, spot, words: str) -> str:
    lon, lat = lonlat(spot)
    intake = Intake(lon=lon, lat=lat, crs="cgcs2000", description=words)
    return service.create(intake, None, client_address="192.0.2.7")["number"]


def test_recovery_to_a_moment_between_two_cases(tmp_path):
    cluster = EmbeddedCluster(tmp_path / "home", log=lambda *_: None)
    run = Path(cluster.start().run_dir)
    try:
        cluster.stop()
        state = cluster.start(archive=run / "wal")
        assert state.archive_dir == str((run / "wal").resolve())
        url = state.url()
        migrate(url)
        engine = engine_for(url)
        build_city(engine, tmp_path / "city")
        add_users(engine)
        app_engine = app_engine_for(url)
        holder = SnapshotHolder(app_engine)
        service = CaseService(app_engine, holder, Settings(evidence_dir=tmp_path / "evidence"))
        cluster.base_backup(run / "base")

        first = _report(service, STREET, "楼顶加建彩钢房")
        time.sleep(1.1)
        with engine.connect() as conn:
            between = conn.execute(text("SELECT now()")).scalar_one()
        time.sleep(1.1)
        second = _report(service, COMPOUND, "院内新建平房")
        with engine.connect() as conn:
            segment = conn.execute(text("SELECT pg_walfile_name(pg_switch_wal())")).scalar_one()
        deadline = time.monotonic() + 60
        while not (run / "wal" / segment).exists():
            assert time.monotonic() < deadline, f"{segment} was never archived"
            time.sleep(0.2)
        holder.stop()
        app_engine.dispose()
        engine.dispose()

        result = cluster.recover(run / "base", between)
        assert Path(result["previous_data"]).is_dir()  # the data it replaced, kept
        engine = engine_for(url)
        with engine.connect() as conn:
            numbers = conn.execute(text("SELECT number FROM violation_case")).scalars().all()
            assert conn.execute(text("SELECT pg_is_in_recovery()")).scalar() is False
        assert numbers == [first] and second != first
        assert history.verify(engine)["ok"]
        with engine.begin() as conn:  # open for writing again
            conn.execute(text("UPDATE violation_case SET description = description"))
        engine.dispose()
    finally:
        cluster.stop()
        shutil.rmtree(run, ignore_errors=True)
