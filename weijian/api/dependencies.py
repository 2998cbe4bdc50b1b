"""Request dependencies: the engine and the jurisdiction snapshot live in the app state, set up
by the lifespan."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine

from weijian.jurisdiction.snapshot import SnapshotHolder


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_jurisdiction(request: Request) -> SnapshotHolder:
    return request.app.state.jurisdiction


EngineDep = Annotated[Engine, Depends(get_engine)]
JurisdictionDep = Annotated[SnapshotHolder, Depends(get_jurisdiction)]
