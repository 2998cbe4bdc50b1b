"""Serving the web application."""

from __future__ import annotations

from typing import Annotated

import typer

from weijian.cli.context import database, serve_app
from weijian.cli.output import handles_errors
from weijian.settings import get_settings


@handles_errors
def serve(
    host: Annotated[str | None, typer.Option("--host")] = None,
    port: Annotated[int | None, typer.Option("--port")] = None,
    workers: Annotated[int, typer.Option("--workers")] = 1,
) -> None:
    """Serve the API (and, later, the map) on the configured address."""
    settings = get_settings()
    database()  # start and migrate before the workers fork
    serve_app(host or settings.host, port or settings.port, workers)
