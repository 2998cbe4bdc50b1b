"""The FastAPI application. ``create_app`` is the factory uvicorn and the tests use."""

from __future__ import annotations

import logging
import threading
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from fastapi_offline import FastAPIOffline
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from weijian import __version__
from weijian.api import errors
from weijian.api.bodies import JsonDepthLimit
from weijian.api.headers import SecurityHeaders
from weijian.api.idempotency import Idempotency
from weijian.api.limits import BodyLimits
from weijian.api.lookup_path import LookupPath
from weijian.api.routes import (
    assessment,
    auth,
    cases,
    docs,
    documents,
    field,
    footage,
    gatelog,
    health,
    home,
    jobs,
    jurisdiction,
    layers,
    ledger,
    meetings,
    open311,
    pages,
    patrol,
    patrols,
    projects,
    public,
    stats,
    users,
    web_map,
    workbench,
)
from weijian.cases.clock import Clock
from weijian.cases.logins import Logins
from weijian.cases.service import CaseService
from weijian.db.engine import app_engine_for, normalise_url, resolve_url
from weijian.gis.scratch import clean_scratch
from weijian.jurisdiction.engine import warm
from weijian.jurisdiction.snapshot import SnapshotHolder
from weijian.oversight import dashboard
from weijian.patrol import tracks
from weijian.settings import Settings, get_settings
from weijian.web_map.casestore import CaseStore
from weijian.web_map.service import MapService

log = logging.getLogger(__name__)


def _catch_up_stages(cases: CaseService) -> None:
    try:
        count = cases.catch_up_stages()
    except Exception:  # the database away at start: the next start tries again
        log.exception("the open cases' stages could not be caught up")
        return
    if count:
        log.info("%d open cases without a stage: stage and deadline computed", count)


def _purge_tracks(cases: CaseService) -> None:
    try:
        count = tracks.purge(cases.engine, cases.clock.now(), cases.settings.track_retention_days)
    except Exception:  # the database away at start: the next start tries again
        log.exception("old patrol tracks could not be purged")
        return
    if count:
        log.info("%d patrol tracks past their retention deleted", count)


def create_app(
    engine: Engine | None = None, clock: Clock | None = None, settings: Settings | None = None
) -> FastAPI:
    """The application over ``engine``'s database (default: DATABASE_URL or the embedded
    cluster), working as the database role ``weijian_app``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        clean_scratch()  # uploads and extractions a crashed server left behind
        url = resolve_url() if engine is None else engine.url.render_as_string(hide_password=False)
        app.state.engine = app_engine_for(url)
        config = settings or get_settings()
        # a streaming replica, when there is one, serves the snapshot and the map's case table
        replica = config.database_replica_url
        app.state.read_engine = app_engine_for(normalise_url(replica)) if replica else None
        holder = SnapshotHolder(
            app.state.engine,
            read_engine=app.state.read_engine,
            replica_wait_seconds=config.replica_wait_seconds,
            files=config.snapshot_files,
        )
        await run_in_threadpool(lambda: holder.snapshot)  # loaded before the first request
        await run_in_threadpool(lambda: warm(holder.snapshot))  # and its compiled loops
        holder.start()
        app.state.jurisdiction = holder
        app.state.cases = CaseService(app.state.engine, holder, config, clock or Clock())
        await run_in_threadpool(_purge_tracks, app.state.cases)
        app.state.logins = Logins(app.state.engine, app.state.cases.clock, config)
        store = CaseStore(
            app.state.read_engine or app.state.engine, poll_seconds=config.map_poll_seconds
        )
        await run_in_threadpool(store.catch_up)  # every case in memory before the first map
        store.start()
        app.state.map = MapService(app.state.cases, store)
        # open cases of an upgraded database get their stage, without holding up the start
        staging = threading.Thread(
            target=_catch_up_stages, args=(app.state.cases,), name="stages", daemon=True
        )
        staging.start()
        app.state.staging = staging
        # the statistics of this month and this year kept counted, a click finding them so
        counting = threading.Event()
        if config.figures_warm_seconds > 0:
            threading.Thread(
                target=dashboard.keep_counted,
                args=(app.state.cases, counting, config.figures_warm_seconds),
                name="figures",
                daemon=True,
            ).start()
        yield
        counting.set()
        store.stop()
        holder.stop()
        app.state.logins.pool.shutdown()

    # the documentation pages' scripts and styles are served by the app itself (no CDN)
    app = FastAPIOffline(
        docs_url=None,  # served by routes/docs.py, their inline scripts with the CSP nonce
        redoc_url=None,
        title="weijian 违建管控",
        version=__version__,
        description="违法建设长效管控 GIS 平台 API: layers, imports, jurisdiction, cases.",
        lifespan=lifespan,
    )
    errors.install(app)
    # from the inside out (the last added is the outermost): the look-up of one point answered
    # before the router (through its route's own function), a JSON body nested too deep is
    # refused before it is parsed, within the answers of Idempotency-Keys (stored and
    # replayed), within the bodies refused before they are read (size, login first for
    # uploads), within the security headers, within the compression of tiles, aggregates and
    # the pages' scripts
    app.add_middleware(LookupPath)
    app.add_middleware(JsonDepthLimit)
    app.add_middleware(Idempotency)
    app.add_middleware(BodyLimits)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=web_map.GZIP_LEVEL)
    # every operation documents the errors it may answer, in the one shape they all have
    for router in (
        web_map.router, web_map.api, pages.router, home.router, docs.router, health.router,
        layers.router, jurisdiction.router, auth.router, cases.router, users.router, open311.router,
        patrol.router, patrols.router, assessment.router, ledger.router, workbench.router,
        stats.router, gatelog.router, field.router, public.router,
        projects.router, documents.router, meetings.router, footage.router, jobs.router,
    ):  # fmt: skip
        app.include_router(router, responses=errors.ERROR_RESPONSES)
    return app
