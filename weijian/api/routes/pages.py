"""The workbench's pages (工作台): the home page, a case's page, the monthly ledger, and the
files they load from ``weijian/pages/static`` — served by the app itself, nothing from outside;
the field app (移动端) at ``/m``, and the public site at ``/report`` (随手拍, 查询进度,
公开统计), its service worker at ``/m/sw.js`` (so that its scope
covers ``/m``) and its manifest.
The pages speak to the same API as every other client; these routes only hand out files."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from weijian import pages
from weijian.api.routes.web_map import VENDOR
from weijian.errors import EnvironmentProblem

router = APIRouter(include_in_schema=False)

#: own files change with a release: the browser asks again each time (and gets 304)
REVALIDATE = {"Cache-Control": "no-cache"}


def _html(name: str) -> Response:
    return FileResponse(pages.page(name), media_type="text/html; charset=utf-8", headers=REVALIDATE)


@router.get("/work", response_class=HTMLResponse)
def home() -> Response:
    return _html("home")


@router.get("/work/stats", response_class=HTMLResponse)
def stats_page() -> Response:
    """统计: the supervisors' dashboard (its charts draw with the vendored Chart.js)."""
    return _html("stats")


@router.get("/work/ledger", response_class=HTMLResponse)
def ledger_page() -> Response:
    """台账: the towns' monthly ledger, its submission and the district's review."""
    return _html("ledger")


def _check_vendor(request: Request) -> None:
    """The map's own libraries, which the case page's map excerpt and the administration's
    maps draw with, are installed."""
    assets = request.app.state.cases.settings.web_assets_dir
    missing = [name for name, rel in VENDOR.items() if not (assets / rel).is_file()]
    if missing:
        raise EnvironmentProblem(
            "工作台页面所需的前端库未安装，请联系系统管理员",
            code="pages.vendor_missing",
            detail="the front-end libraries are not installed (" + ", ".join(missing) + ")",
            hint="run ./dev setup (it runs npm ci in weijian/web_map), or set "
            "WEIJIAN_WEB_ASSETS_DIR to a node_modules folder holding them",
        )


@router.get("/work/cases/{number}", response_class=HTMLResponse)
def case_page(request: Request, number: str) -> Response:
    _check_vendor(request)
    return _html("case")


@router.get("/work/projects", response_class=HTMLResponse)
def projects_page(request: Request) -> Response:
    """建设项目追踪: the register, stages, inspections; its map draws with the vendored Leaflet."""
    _check_vendor(request)
    return _html("projects")


@router.get("/work/meetings", response_class=HTMLResponse)
def meetings_page() -> Response:
    """联席会议: a district's key cases, its meetings, the agenda and the decisions."""
    return _html("meetings")


@router.get("/work/documents", response_class=HTMLResponse)
def documents_page() -> Response:
    """执法文书登记簿: the register of document numbers, filtered and exported."""
    return _html("register")


@router.get("/work/admin", response_class=HTMLResponse)
def admin_page(request: Request) -> Response:
    """系统管理. The page asks who is logged in and shows another role a refusal; every
    request it makes is refused (403) to anyone but an administrator."""
    _check_vendor(request)
    return _html("admin")


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


@router.get("/static/report/{name}")
def public_asset(name: str) -> Response:
    return _asset("report", name)


def _public(request: Request, name: str) -> Response:
    _check_vendor(request)
    return FileResponse(
        pages.public_page(name), media_type="text/html; charset=utf-8", headers=REVALIDATE
    )


@router.get("/report", response_class=HTMLResponse)
def public_report(request: Request) -> Response:
    """随手拍: the public's report, without a login (its own pages: no staff code is loaded)."""
    return _public(request, "index")


@router.get("/report/follow", response_class=HTMLResponse)
def public_follow(request: Request) -> Response:
    """查询进度 and 大家评: the holder of a receipt follows the case and rates it."""
    return _public(request, "follow")


@router.get("/report/stats", response_class=HTMLResponse)
def public_stats_page(request: Request) -> Response:
    """公开统计: per district and month, and the grids coloured by 清零."""
    return _public(request, "stats")


@router.get("/static/m/{name}")
def field_asset(name: str) -> Response:
    return _asset("m", name)


#: the map library the field app's tabs draw with, kept offline by its service worker
FIELD_VENDOR = [name for name in VENDOR if name.startswith("leaflet/")]


@router.get("/m", response_class=HTMLResponse)
def field_app(request: Request) -> Response:
    """移动端: the field app for grid workers, property companies and officers on a phone."""
    _check_vendor(request)
    return FileResponse(
        pages.field_file("index.html"), media_type="text/html; charset=utf-8", headers=REVALIDATE
    )


@router.get("/m/manifest.webmanifest")
def field_manifest() -> Response:
    return FileResponse(
        pages.field_file("manifest.webmanifest"),
        media_type="application/manifest+json",
        headers=REVALIDATE,
    )


@router.get("/m/sw.js")
def field_worker() -> Response:
    """The field app's service worker with what it keeps offline written in: the shell's
    version (a changed file makes a new cache) and its URLs."""
    version, urls = pages.field_shell()
    urls += [f"/static/vendor/{name}" for name in FIELD_VENDOR]
    shell = json.dumps({"version": version, "urls": urls})
    source = pages.field_file("sw.js").read_text(encoding="utf-8")
    return Response(
        source.replace('"__SHELL__"', shell),
        media_type="text/javascript; charset=utf-8",
        # the page is /m, a path above the worker's own folder
        headers={**REVALIDATE, "Service-Worker-Allowed": "/m"},
    )
