"""The workbench's pages (工作台): the home page and the files the pages load from
``weijian/pages/static`` — served by the app itself, nothing from outside. The pages speak to
the same API as every other client; these routes only hand out files."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, Response

from weijian import pages

router = APIRouter(include_in_schema=False)

#: own files change with a release: the browser asks again each time (and gets 304)
REVALIDATE = {"Cache-Control": "no-cache"}


def _html(name: str) -> Response:
    return FileResponse(pages.page(name), media_type="text/html; charset=utf-8", headers=REVALIDATE)


@router.get("/work", response_class=HTMLResponse)
def home() -> Response:
    return _html("home")


def _asset(folder: str, name: str) -> Response:
    found = pages.asset(folder, name)
    if found is None:
        return Response(status_code=404)
    path, media_type = found
    return FileResponse(path, media_type=media_type, headers=REVALIDATE)


@router.get("/static/common/{name}")
def common_asset(name: str) -> Response:
    return _asset("common", name)


@router.get("/static/work/{name}")
def work_asset(name: str) -> Response:
    return _asset("work", name)
