from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text

from weijian import __version__
from weijian.api.dependencies import EngineDep

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    version: str
    postgis: str
    schema_revision: str | None
    layers: int


@router.get("/api/v1/health", response_model=Health, summary="Service and database health")
def health(engine: EngineDep) -> Health:
    with engine.connect() as conn:
        postgis = conn.execute(text("SELECT postgis_lib_version()")).scalar_one()
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        layers = conn.execute(text("SELECT count(*) FROM layer")).scalar_one()
    return Health(
        status="ok", version=__version__, postgis=postgis, schema_revision=revision, layers=layers
    )
