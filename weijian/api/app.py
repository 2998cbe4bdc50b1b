"""The FastAPI application. ``create_app`` is the factory uvicorn and the tests use."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from weijian import __version__
from weijian.api import errors
from weijian.api.routes import health, home, jurisdiction, layers
from weijian.jurisdiction.snapshot import SnapshotHolder


def create_app(engine: Engine | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if engine is None:
            from weijian.database import engine_for, resolve_url

            app.state.engine = engine_for(resolve_url())
        else:
            app.state.engine = engine
        holder = SnapshotHolder(app.state.engine)
        await run_in_threadpool(lambda: holder.snapshot)  # loaded before the first request
        holder.start()
        app.state.jurisdiction = holder
        yield
        holder.stop()

    # the documentation pages' scripts and styles are served by the app itself (no CDN)
    app = FastAPIOffline(
        title="weijian 违建管控",
        version=__version__,
        description="违法建设长效管控 GIS 平台 API: layers, imports, jurisdiction, cases.",
        lifespan=lifespan,
    )
    errors.install(app)
    app.include_router(home.router)
    app.include_router(health.router)
    app.include_router(layers.router)
    app.include_router(jurisdiction.router)
    return app
