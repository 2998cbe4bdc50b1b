"""Test fixtures: a real PostGIS for the whole session (the embedded cluster, in a database of
its own that is dropped at the end, or WEIJIAN_TEST_DATABASE_URL), each test starting from
empty tables, and the app served by a real uvicorn on a free loopback port."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
import uvicorn
from sqlalchemy import Engine, make_url, text

from weijian.db.cluster import EmbeddedCluster
from weijian.db.engine import engine_for, migrate
from weijian.settings import Settings, get_settings

# passwords hashed with Argon2's cheapest parameters, in this process and every server and
# worker the tests start: the suite logs in thousands of times, each 0.2 s of two cores under
# the product's parameters (tests/test_users_cli.py checks those)
os.environ.setdefault("WEIJIAN_PASSWORD_HASHING", "cheapest")
get_settings.cache_clear()
SHARED_DATA = get_settings().shared_data_dir
# the snapshot's shared zone layer files of this run's many databases: in a folder of the run
# (every server and worker the tests start inherits it), removed at the end
if "WEIJIAN_SNAPSHOT_DIR" not in os.environ:
    import atexit
    import tempfile

    _SNAPSHOTS = tempfile.mkdtemp(prefix="weijian-test-snapshots-")
    os.environ["WEIJIAN_SNAPSHOT_DIR"] = _SNAPSHOTS
    atexit.register(shutil.rmtree, _SNAPSHOTS, True)
    get_settings.cache_clear()
# pytest-xdist's workers find COLUMNS=80 and LINES=24 in their environment: rich would fix the
# CLI's consoles (weijian/cli/output.py) at that width when they are made, instead of reading
# the width each test's `cli` sets
if os.environ.get("PYTEST_XDIST_WORKER"):
    for name in ("COLUMNS", "LINES"):
        os.environ.pop(name, None)
TABLES = (
    "case_count",
    "job",
    "procrastinate_events",
    "procrastinate_periodic_defers",
    "procrastinate_jobs",
    "procrastinate_workers",
    "joint_meeting_case",
    "joint_meeting",
    "enforcement_document",
    "document_sequence",
    "project_photo",
    "project_inspection",
    "construction_project",
    "case_rating",
    "public_challenge",
    "idempotency_key",
    "login_failure",
    "demo_database",
    "case_follow",
    "case_urge",
    "campaign_baseline",
    "campaign",
    "ledger_review",
    "ledger_submission",
    "zone",
    "grid",
    "layer_version",
    "layer",
    "department",
    "case_link",
    "case_evidence",
    "case_event",
    "violation_case",
    "case_counter",
    "case_prefix",
    "citizen_intake",
    "auth_token",
    "api_client",
    "app_user",
)


def _admin_connection():
    state = EmbeddedCluster(get_settings().home).start()
    return state, dict(
        host="127.0.0.1",
        port=state.port,
        user="weijian",
        password=state.password,
        dbname="postgres",
        autocommit=True,
    )


@contextmanager
def scratch_database():
    """A new database in the embedded cluster, migrated, dropped at the end: its URL."""
    with empty_database() as url:
        migrate(url)
        yield url


@contextmanager
def empty_database():
    """A new database in the embedded cluster with nothing in it (not migrated), dropped at the
    end: its URL — where a backup is restored."""
    state, admin = _admin_connection()
    name = f"weijian_test_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(**admin) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = state.url(name)
    try:
        yield url
    finally:
        engine_for(url).dispose()
        with psycopg.connect(**admin) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def database_copy(url: str):
    """A copy of the embedded cluster's database at ``url`` (PostgreSQL copies it as a template:
    no connection to it may be open — the engines on it are disposed), dropped at the end: its
    URL."""
    state, admin = _admin_connection()
    source = make_url(url).database
    name = f"weijian_test_{uuid.uuid4().hex[:8]}"
    engine_for(url).dispose()
    with psycopg.connect(**admin) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (source,),
        )
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
    copy = state.url(name)
    try:
        yield copy
    finally:
        engine_for(copy).dispose()
        with psycopg.connect(**admin) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database_url():
    external = os.environ.get("WEIJIAN_TEST_DATABASE_URL")
    if external:
        migrate(external)
        yield external
        return
    with scratch_database() as url:
        yield url


@pytest.fixture
def engine(database_url):
    engine = engine_for(database_url)
    yield engine
    with engine.begin() as conn:
        # history may not be truncated; the owner lifts that for the clean-up, in this
        # transaction only (DDL is transactional)
        for table, trigger in (("case_event", "case_event"), ("case_evidence", "case_evidence")):
            conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}_no_truncate"))
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
        # the versions' zone tables go with their versions (migration 0026)
        parts = (
            conn.execute(
                text(
                    "SELECT inhrelid::regclass::text FROM pg_inherits"
                    " WHERE inhparent = 'zone'::regclass"
                )
            )
            .scalars()
            .all()
        )
        if parts:
            conn.execute(text(f"DROP TABLE {', '.join(parts)}"))
        for table, trigger in (("case_event", "case_event"), ("case_evidence", "case_evidence")):
            conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}_no_truncate"))
        # back to the seeded rules and department types of the migrations
        conn.execute(text("DELETE FROM rule_set WHERE version > 1"))
        conn.execute(text("UPDATE rule_set SET active = (version = 1)"))
        # the versions the migrations seeded stay; the newest of them is the one in force
        conn.execute(text("DELETE FROM workflow_definition WHERE created_by <> 'migration'"))
        conn.execute(
            text(
                "UPDATE workflow_definition SET active = "
                "(version = (SELECT max(version) FROM workflow_definition))"
            )
        )
        conn.execute(text("DELETE FROM assessment_definition WHERE created_by <> 'migration'"))
        conn.execute(
            text(
                "UPDATE assessment_definition SET active = "
                "(version = (SELECT max(version) FROM assessment_definition))"
            )
        )
        conn.execute(
            text(
                "DELETE FROM department_type WHERE type NOT IN "
                "('urban_enforcement', 'natural_resources', 'county_government', "
                "'agriculture_rural')"
            )
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


SERVER_START_SECONDS = 180


@contextmanager
def serving(app):
    """``app`` served by uvicorn on a free loopback port in a thread: its base URL."""
    port = _free_port()
    # as `weijian serve`: the app, not uvicorn, decides which proxies' X-Forwarded-For to believe
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", proxy_headers=False
    )
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    # the app's start loads the snapshot and its compiled loops: `./dev setup` compiles them
    # beforehand (weijian.jurisdiction.warmup), but pytest run without it on an empty compile
    # cache compiles them here, some 20 s on a quiet machine and more while other workers do
    deadline = time.monotonic() + SERVER_START_SECONDS
    while not instance.started:
        if time.monotonic() > deadline or not thread.is_alive():
            # stopped, not left starting against a database its test is about to drop
            instance.should_exit = True
            thread.join(timeout=10)
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        instance.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def server(engine):
    """The API served by uvicorn on 127.0.0.1 in a thread, over real HTTP."""
    from weijian.api.app import create_app

    with serving(create_app(engine)) as url:
        yield url


def login(url: str, username: str, password: str):
    """``POST /api/v1/auth/login`` on the app served at ``url``: the response."""
    import httpx

    body = {"username": username, "password": password}
    # a login checks a password (Argon2id) on a bounded pool: on a busy machine it may take a while
    return httpx.post(f"{url}/api/v1/auth/login", json=body, timeout=60)


def bearer(response) -> dict:
    """The Authorization header for the token a successful login answered."""
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def admin_headers(engine, server):
    """An administrator's bearer token for ``server``: what imports and rule changes need."""
    from weijian.cases import users
    from weijian.cases.workflow import default_workflow

    with engine.begin() as conn:
        users.add_user(
            conn, None, default_workflow(), username="root", password="root-password", role="admin"
        )
    return bearer(login(server, "root", "root-password"))


@pytest.fixture
def cli(database_url, engine, monkeypatch, tmp_path):
    """The command line on the test database, as ``cli("import", "zones", path, …)`` → click's
    result (keywords go to ``CliRunner.invoke``, e.g. ``input=``). Its evidence folder is the
    one :func:`case_api` serves, its terminal 200 columns wide."""
    from typer.testing import CliRunner

    from weijian.cli import app

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("WEIJIAN_EVIDENCE_DIR", str(tmp_path / "evidence"))
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args, **kwargs: runner.invoke(app, [str(a) for a in args], **kwargs)
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory) -> Path:
    """The sample city at small scale (weijian.samples), generated once for the session: read
    it, never write into it."""
    from weijian import samples

    out = tmp_path_factory.mktemp("samples")
    samples.generate(out, scale="small", shared_data_dir=SHARED_DATA, log=lambda *_: None)
    return out


@pytest.fixture(scope="session")
def sample_city_database(sample_dir):
    """An engine on a database of its own holding the sample city's layers, imported once for
    the session (None with WEIJIAN_TEST_DATABASE_URL: one database only)."""
    if os.environ.get("WEIJIAN_TEST_DATABASE_URL"):
        yield None
        return
    from weijian.demo.city import load_samples

    with scratch_database() as url:
        engine = engine_for(url)
        load_samples(engine, sample_dir, log=lambda *_: None)
        yield engine


DEMO_USER_COLUMNS = "username, role, grid_code, department_code, display_name, password_hash"


@dataclass(frozen=True)
class Demo:
    """The whole demo loaded once (:func:`demo_database`): what the loading answered and
    logged, for tests to check."""

    url: str
    engine: Engine
    settings: Settings
    users: list  # the demo users' rows before the cases were loaded
    result: dict  # what load_demo_cases answered
    lines: list[str]  # what it logged
    started: datetime  # just before it ran


@pytest.fixture(scope="session")
def demo_database(sample_dir, tmp_path_factory) -> Demo:
    """A database of its own with the whole demo — the sample city's layers, the demo's users
    and its worked cases — loaded once for the session, and the evidence folder its files went
    to: read it, never change it (:func:`database_copy` gives a copy to change)."""
    if os.environ.get("WEIJIAN_TEST_DATABASE_URL"):
        pytest.fail("the demo needs a database of its own: unset WEIJIAN_TEST_DATABASE_URL")
    from weijian.demo.cases import load_demo_cases
    from weijian.demo.city import load_samples
    from weijian.demo.users import ensure_demo_users

    evidence = tmp_path_factory.mktemp("demo-evidence")
    settings = Settings(evidence_dir=evidence, shared_data_dir=SHARED_DATA)
    with scratch_database() as url:
        engine = engine_for(url)
        load_samples(engine, sample_dir, log=lambda *_: None)
        ensure_demo_users(engine, log=lambda *_: None)
        with engine.connect() as conn:
            users = conn.execute(text(f"SELECT {DEMO_USER_COLUMNS} FROM app_user ORDER BY id"))
            users = users.all()
        lines: list[str] = []
        started = datetime.now(UTC)
        result = load_demo_cases(engine, sample_dir, log=lines.append, settings=settings)
        yield Demo(url, engine, settings, users, result, lines, started)


@pytest.fixture
def sample_city(sample_city_database, sample_dir, request):
    """An engine on the sample city's layers, for tests that only read them: the session's
    database of its own, or (one database only) the test database loaded for this test."""
    if sample_city_database is not None:
        return sample_city_database
    from weijian.demo.city import load_samples

    engine = request.getfixturevalue("engine")  # emptied again after the test
    load_samples(engine, sample_dir, log=lambda *_: None)
    return engine


@pytest.fixture
def city(case_api):
    """The hand-built city with cases in known places and states (tests/mapkit.py)."""
    from tests.mapkit import populate

    return populate(case_api)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    assert SHARED_DATA.is_dir(), f"third-party test data expected at {SHARED_DATA}"
    return SHARED_DATA


@pytest.fixture
def case_api(engine, tmp_path):
    """The app on the hand-built city with a user per role and a clock the test moves
    (tests/casekit.py)."""
    from tests.casekit import START, Api, city_with_users
    from weijian.api.app import create_app
    from weijian.cases.clock import FixedClock
    from weijian.settings import Settings

    city_with_users(engine, tmp_path / "city")
    clock = FixedClock(START)
    settings = Settings(
        evidence_dir=tmp_path / "evidence",
        citizen_reports_per_hour=3,
        citizen_challenge_bits=10,
        public_photo_max_mb=1,
        max_evidence_mb=2,
        map_poll_seconds=0.2,
        figures_warm_seconds=0,  # kept counted by tests of their own (tests/test_leaves.py)
    )
    with serving(create_app(engine, clock=clock, settings=settings)) as url:
        yield Api(url, clock, settings)


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, driven by Playwright: one for the whole session, each test
    opening its own context (cookies, storage) in it — bypassing the CSP (:class:`CspBypassing`)."""
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail(
            "the browser tests need Debian's Chromium: apt-get install chromium (./dev test does)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield CspBypassing(instance)
        instance.close()


class CspBypassing:
    """The browser whose new contexts bypass the pages' Content-Security-Policy unless asked
    not to (``bypass_csp=False``): Playwright evaluates a ``wait_for_function`` string inside
    the page, which the policy forbids (no 'unsafe-eval'). tests/test_abuse.py loads every page
    under the policy."""

    def __init__(self, browser):
        self._browser = browser

    def new_context(self, **options):
        options.setdefault("bypass_csp", True)
        return self._browser.new_context(**options)

    def __getattr__(self, name: str):
        return getattr(self._browser, name)


# With pytest-xdist (`./dev test` runs the files on two workers per core, each worker with
# databases of its own): the files whose tests share a costly session fixture go to one
# worker, and the costliest files are handed out first, so that no worker is left with a long
# file at the end while the others idle.
SAME_WORKER = {
    # the demo (demo_database): loaded once for all of them, on one worker
    "tests/test_demo_cases.py": "demo",
    "tests/test_readme.py": "demo",
    "tests/test_backup.py": "demo",
    "tests/test_jobs_batches.py": "demo",
    "tests/test_jobs_batches_browser.py": "demo",
}
#: what a test costs, roughly, by the costliest fixture it uses (1 for none): the order of work
FIXTURE_COST = {"demo_database": 40, "browser": 6, "sample_city": 4, "case_api": 3, "engine": 2}


def _work_unit(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    return SAME_WORKER.get(path, path)


def pytest_collection_modifyitems(config, items):
    if not hasattr(config, "workerinput"):  # not an xdist worker: the order of the files
        return
    cost: dict[str, int] = {}
    for item in items:
        unit = _work_unit(item.nodeid)
        own = max((FIXTURE_COST.get(name, 1) for name in item.fixturenames), default=1)
        cost[unit] = cost.get(unit, 0) + own
    items.sort(key=lambda item: (-cost[_work_unit(item.nodeid)], _work_unit(item.nodeid)))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SharingFixtures(LoadFileScheduling):
        """Files as units of work, those of :data:`SAME_WORKER` together, handed out in the
        order the workers collected them (costliest first)."""

        def _split_scope(self, nodeid: str) -> str:
            return _work_unit(nodeid)

        def add_node_collection(self, node, collection) -> None:
            # schemathesis gives every operation it fuzzes (tests/test_fuzz_api.py) the same
            # node id; the work units, keyed by node id, would run only the first of them. Told
            # apart here: the workers are sent their indexes, never the names
            seen: dict[str, int] = {}
            unique = []
            for nodeid in collection:
                seen[nodeid] = seen.get(nodeid, 0) + 1
                unique.append(nodeid if seen[nodeid] == 1 else f"{nodeid}#{seen[nodeid]}")
            super().add_node_collection(node, unique)

    config.option.loadscopereorder = False
    return SharingFixtures(config, log)
