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
from pathlib import Path

import psycopg
import pytest
import uvicorn
from sqlalchemy import text

from weijian.db.cluster import EmbeddedCluster
from weijian.db.engine import engine_for, migrate
from weijian.settings import get_settings

SHARED_DATA = get_settings().shared_data_dir
TABLES = (
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


@contextmanager
def scratch_database():
    """A new database in the embedded cluster, migrated, dropped at the end: its URL."""
    state = EmbeddedCluster(get_settings().home).start()
    name = f"weijian_test_{uuid.uuid4().hex[:8]}"
    admin = dict(
        host="127.0.0.1",
        port=state.port,
        user="weijian",
        password=state.password,
        dbname="postgres",
        autocommit=True,
    )
    with psycopg.connect(**admin) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = state.url(name)
    try:
        migrate(url)
        yield url
    finally:
        engine_for(url).dispose()
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
    deadline = time.monotonic() + 20
    while not instance.started:
        if time.monotonic() > deadline:
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

    return httpx.post(f"{url}/api/v1/auth/login", json={"username": username, "password": password})


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
    from tests.casekit import START, Api, add_users, build_city
    from weijian.api.app import create_app
    from weijian.cases.clock import FixedClock
    from weijian.settings import Settings

    build_city(engine, tmp_path / "city")
    add_users(engine)
    clock = FixedClock(START)
    settings = Settings(
        evidence_dir=tmp_path / "evidence",
        citizen_reports_per_hour=3,
        max_evidence_mb=2,
        map_poll_seconds=0.2,
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
