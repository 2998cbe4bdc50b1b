"""Nothing acknowledged is lost, and the product rides out a database that goes away.

These tests run on a PostgreSQL cluster of their own (the embedded cluster, created in a
temporary home), because they stop it, restart it and kill it with SIGKILL: the shared test
database must not go down under the other tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests import casekit
from tests.conftest import serving
from weijian.cases.history import verify
from weijian.db.cluster import EmbeddedCluster
from weijian.db.engine import engine_for, migrate
from weijian.errors import EnvironmentProblem
from weijian.settings import Settings


@pytest.fixture(scope="module")
def own_cluster(tmp_path_factory):
    """A cluster of this module's own, migrated, with the hand-built city and its users."""
    home = tmp_path_factory.mktemp("own-cluster")
    cluster = EmbeddedCluster(home, log=lambda _: None)
    state = cluster.start()
    url = state.url()
    migrate(url)
    engine = engine_for(url)
    casekit.build_city(engine, home / "city")
    casekit.add_users(engine)
    yield cluster, engine, home
    engine.dispose()
    cluster.stop()


@pytest.fixture
def app_on_own_cluster(own_cluster, tmp_path):
    from weijian.api.app import create_app

    cluster, engine, _ = own_cluster
    settings = Settings(evidence_dir=tmp_path / "evidence", map_poll_seconds=0.2)
    with serving(create_app(engine, settings=settings)) as url:
        yield url, cluster, engine


def _token(url: str, who: str) -> dict:
    r = httpx.post(f"{url}/api/v1/auth/login", json={"username": who, "password": casekit.PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _wait_for(predicate, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not within {seconds} s: {what}")


def _status(url: str, path: str, headers: dict) -> int:
    try:
        return httpx.get(f"{url}{path}", headers=headers, timeout=10).status_code
    except httpx.HTTPError:
        return 0


def _kill_postgres(data_dir: Path) -> None:
    """SIGKILL to the postmaster and every process it started: what a crash of the database
    (or of the machine's power, for what was not yet on disk) leaves behind."""
    postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == postmaster:
            children.append(int(entry.name))
    os.kill(postmaster, signal.SIGKILL)
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _wait_for(lambda: not Path(f"/proc/{postmaster}").exists(), 10, "postmaster gone")


def test_acknowledged_reports_survive_a_kill_9_of_postgres(app_on_own_cluster) -> None:
    url, cluster, engine = app_on_own_cluster
    headers = _token(url, "gridder")
    lon, lat = casekit.lonlat(casekit.COMPOUND)
    acknowledged: list[str] = []
    failures: Counter[int] = Counter()
    stop = threading.Event()
    lock = threading.Lock()

    def reporter(worker: int) -> None:
        with httpx.Client(timeout=30) as client:
            n = 0
            while not stop.is_set():
                n += 1
                body = {
                    "lon": lon + worker * 1e-5,
                    "lat": lat + n * 1e-6,
                    "crs": "cgcs2000",
                    "description": f"工人{worker}第{n}次上报",
                }
                try:
                    r = client.post(f"{url}/api/v1/cases", json=body, headers=headers)
                except httpx.HTTPError:
                    with lock:
                        failures[0] += 1
                    time.sleep(0.05)
                    continue
                with lock:
                    if r.status_code == 201:
                        acknowledged.append(r.json()["number"])
                    else:
                        failures[r.status_code] += 1
                        assert r.status_code == 503, r.text  # never a 500
                        assert r.headers["retry-after"]
                        assert "数据库" in r.json()["message"]
                if r.status_code != 201:
                    time.sleep(0.05)

    threads = [threading.Thread(target=reporter, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    try:
        _wait_for(lambda: len(acknowledged) >= 30, 60, "30 reports before the crash")
        before_crash = len(acknowledged)
        _kill_postgres(cluster.load_state().data_dir)
        time.sleep(1.0)  # reports meanwhile are refused, never acknowledged
        cluster.start()  # crash recovery replays the WAL
        _wait_for(lambda: len(acknowledged) >= before_crash + 30, 60, "30 reports after")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)

    assert failures, "the crash was not noticed: the test proved nothing"
    numbers = Counter(acknowledged)
    assert [n for n, c in numbers.items() if c > 1] == []  # no number handed out twice
    with engine.connect() as conn:
        stored = set(
            conn.exec_driver_sql(
                "SELECT number FROM violation_case WHERE number = ANY(%(n)s)",
                {"n": list(numbers)},
            ).scalars()
        )
    assert set(numbers) - stored == set()  # every 201 is there
    report = verify(engine)
    assert report["ok"], report


def test_stop_start_keeps_the_port_and_a_serving_app_recovers(app_on_own_cluster) -> None:
    url, cluster, engine = app_on_own_cluster
    headers = _token(url, "supervisor")
    port = cluster.load_state().port
    assert _status(url, "/api/v1/cases", headers) == 200
    lon, lat = casekit.lonlat(casekit.STREET)
    lookup = f"/api/v1/jurisdiction?lon={lon}&lat={lat}&crs=cgcs2000"

    assert cluster.stop()
    r = httpx.get(f"{url}/api/v1/cases", headers=headers, timeout=10)
    assert r.status_code == 503
    assert r.headers["retry-after"] == "5"
    body = r.json()
    assert body["code"] == "database.unavailable"
    assert "数据库暂时无法连接" in body["message"]
    # who is responsible for a spot is answered from memory while the database is away
    assert httpx.get(f"{url}{lookup}", timeout=10).status_code == 200

    state = cluster.start()
    assert state.port == port  # the address the running app knows
    _wait_for(lambda: _status(url, "/api/v1/cases", headers) == 200, 30, "the app back")

    # the listeners came back too: a new layer version activated now is used by look-ups, and
    # a case reported now reaches the map's case table
    from weijian.layers.importing import ZoneImport, import_zones

    before = httpx.get(f"{url}{lookup}", timeout=10).json()["layer_versions"]
    import_zones(
        engine,
        ZoneImport(
            path=next(Path(cluster.home, "city").glob("urban*/*.shp")),
            layer="urban_managed",
            kind="urban_managed",
            name_field="MC",
            created_by="test",
        ),
    )
    _wait_for(
        lambda: httpx.get(f"{url}{lookup}", timeout=10).json()["layer_versions"] != before,
        30,
        "the new layer version in the look-up",
    )


def test_a_taken_port_is_refused_with_the_fix(own_cluster) -> None:
    cluster, _, _ = own_cluster
    port = cluster.load_state().port
    assert cluster.stop()
    try:
        with socket.socket() as squatter:
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            squatter.bind(("127.0.0.1", port))
            squatter.listen()
            with pytest.raises(EnvironmentProblem) as caught:
                cluster.start()
        assert str(port) in caught.value.message
        assert "--port" in caught.value.hint
    finally:
        state = cluster.start()
    assert state.port == port
