"""Layers, their versions, and imports of uploaded files (the same core as ``weijian import``)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, UploadFile
from pydantic import BaseModel, Field

from weijian.api.dependencies import AdminUser, EngineDep, JurisdictionDep, OptionalUser
from weijian.cases import disclosure
from weijian.errors import InputError
from weijian.gis.scratch import scratch_dir
from weijian.layers import repository
from weijian.layers.diff import diff_versions
from weijian.settings import get_settings

router = APIRouter(prefix="/api/v1", tags=["layers"])
UPLOAD_SUFFIXES = (".zip", ".gpkg", ".geojson", ".json")


class LayerSummary(BaseModel):
    name: str
    family: str
    grid_level: str | None
    title: str | None
    active_version: int | None
    feature_count: int | None
    activated_at: datetime | None
    versions: int


class VersionSummary(BaseModel):
    number: int
    active: bool
    source: str
    feature_count: int
    created_at: datetime
    created_by: str | None
    activated_at: datetime | None
    seconds: float | None


class VersionDetail(BaseModel):
    number: int
    active: bool
    source: str
    source_sha256: str | None
    feature_count: int
    created_at: datetime
    created_by: str | None
    activated_at: datetime | None
    family: str
    grid_level: str | None
    report: dict[str, Any]


class ImportReport(BaseModel):
    layer: str
    family: str
    version: int | None = Field(description="the new version; null for a dry run")
    dry_run: bool
    activated: bool | None = Field(
        None, description="whether the new version was activated (false: waits for 启用)"
    )
    source: str
    format: str
    features: dict[str, int]
    bbox: list[float]
    source_crs: dict[str, str]
    encoding: dict[str, str]
    fields: list[str]
    geometry: dict[str, Any]
    area_km2: float
    notes: list[str]
    seconds: dict[str, float]
    kinds: dict[str, int] | None = None
    settlement: dict[str, Any] | None = Field(
        None,
        description="with settlement_field: parcels per 城镇村属性码, how many had none and how "
        "many changed kind (construction land in a village → rural_construction)",
    )
    level: str | None = None
    parents: dict[str, Any] | None = None
    mapping: dict[str, Any]


class Activate(BaseModel):
    version: int


@router.get("/layers", response_model=list[LayerSummary], summary="Layers and active versions")
def list_layers(engine: EngineDep):
    with engine.connect() as conn:
        return repository.list_layers(conn)


@router.get("/layers/{name}/versions", response_model=list[VersionSummary])
def list_versions(name: str, engine: EngineDep):
    with engine.connect() as conn:
        return repository.list_versions(conn, name)


@router.get(
    "/layers/{name}/versions/{number}",
    response_model=VersionDetail,
    summary="One version with its import report",
)
def get_version(name: str, number: int, engine: EngineDep):
    with engine.connect() as conn:
        return repository.get_version(conn, name, number)


@router.get(
    "/layers/{name}/versions/{number}/features",
    summary="One version's features as GeoJSON (CGCS2000 lon/lat)",
)
def version_features(
    name: str,
    number: int,
    engine: EngineDep,
    user: OptionalUser,
    holder: JurisdictionDep,
    bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict:
    box = None
    if bbox:
        try:
            box = [float(v) for v in bbox.split(",")]
        except ValueError:
            box = []
        if len(box) != 4 or not (box[0] < box[2] and box[1] < box[3]):
            raise InputError(
                f"范围 bbox“{bbox}”无效：应为“最小经度,最小纬度,最大经度,最大纬度”四个数，"
                "且最小值小于最大值，如 bbox=126.3,41.9,126.5,42.0",
                code="list.bbox_invalid",
                detail=f"bbox {bbox!r} is not minlon,minlat,maxlon,maxlat.",
            )
    with engine.connect() as conn:
        collection = repository.version_features(conn, name, number, box, limit, offset)
    # the people responsible for a grid and the raw attributes only for those whose scope
    # holds them
    return disclosure.layer_features(collection, user, holder.snapshot)


@router.get(
    "/layers/{name}/diff",
    summary="What changed between two versions: features added, removed, changed; area per kind",
)
def layer_diff(
    name: str,
    engine: EngineDep,
    _: AdminUser,
    old: Annotated[int, Query(alias="from", ge=1, description="the earlier version")],
    new: Annotated[int, Query(alias="to", ge=1, description="the later version")],
) -> dict:
    with engine.connect() as conn:
        return diff_versions(conn, name, old, new)


@router.post(
    "/layers/{name}/activate",
    response_model=VersionDetail,
    summary="Make a version the active one (e.g. roll back)",
)
def activate(name: str, body: Activate, engine: EngineDep, _: AdminUser):
    with engine.begin() as conn:
        repository.activate_number(conn, name, body.version)
    with engine.connect() as conn:
        return repository.get_version(conn, name, body.version)


@contextmanager
def uploaded(
    upload: UploadFile, suffixes: tuple[str, ...] | None = UPLOAD_SUFFIXES
) -> Iterator[Path]:
    """The upload saved under its own (sanitised) name in a folder removed afterwards;
    ``suffixes=None`` leaves the judgement of the file to its reader."""
    folder = scratch_dir("upload")  # left by a crash: removed at the next start
    try:
        yield _save_upload(upload, folder, suffixes)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _save_upload(upload: UploadFile, folder: Path, suffixes: tuple[str, ...] | None) -> Path:
    original = upload.filename or "upload"
    suffix = Path(original).suffix.lower()
    if suffixes is not None and suffix not in suffixes:
        raise InputError(
            f"{original}：不支持该文件类型。请上传 .zip（含 .shp、.shx、.dbf、.prj 的 "
            "Shapefile 压缩包）、.gpkg 或 .geojson 文件；单独的 .shp 缺少 .dbf 和 .prj，"
            "无法导入，请一并压缩后上传",
            code="import.format_unsupported",
            detail=f"{original}: upload a .zip (shapefile with .shp, .shx, .dbf, .prj), a .gpkg "
            "or a .geojson file.",
            hint="a bare .shp cannot be imported without its .dbf and .prj: zip them together",
        )
    safe = re.sub(r"[^\w.\-\u4e00-\u9fff]", "_", Path(original).name) or f"upload{suffix}"
    target = folder / safe
    limit = get_settings().max_upload_mb * 1024 * 1024
    written = 0
    with open(target, "wb") as handle:
        while chunk := upload.file.read(1 << 20):
            written += len(chunk)
            if written > limit:
                raise InputError(
                    f"{original} 超过上传上限 {limit // (1 << 20)} MB，"
                    "请拆分图层或请管理员调高 WEIJIAN_MAX_UPLOAD_MB",
                    code="upload.too_large",
                    detail=f"{original} is larger than {limit // (1 << 20)} MB.",
                )
            handle.write(chunk)
    return target


@router.post(
    "/imports/zones",
    response_model=ImportReport,
    status_code=201,
    summary="Import an uploaded zone layer as its new active version",
)
def upload_zones(
    engine: EngineDep,
    admin: AdminUser,
    file: Annotated[UploadFile, File(description=".zip shapefile, .gpkg or .geojson")],
    layer: Annotated[str, Form()],
    kind: Annotated[str | None, Form()] = None,
    code_field: Annotated[str | None, Form()] = None,
    name_field: Annotated[str | None, Form()] = None,
    settlement_field: Annotated[
        str | None, Form(description="城镇村属性码 field, e.g. CZCSXM")
    ] = None,
    title: Annotated[str | None, Form()] = None,
    crs: Annotated[str | None, Form()] = None,
    encoding: Annotated[str | None, Form()] = None,
    member: Annotated[str | None, Form()] = None,
    dry_run: Annotated[bool, Form()] = False,
    activate: Annotated[
        bool, Form(description="false: store the version without activating it (a preview)")
    ] = True,
):
    fields = dict(locals())  # the form's fields, named as the request's
    # the readers (pandas, geopandas, pyogrio) loaded by the first import, not by every worker
    from weijian.layers.importing import ZoneImport, import_zones

    with uploaded(file) as path:
        request = ZoneImport.from_fields(
            fields, path=path, created_by=admin.username, source_name=file.filename
        )
        return import_zones(engine, request)


@router.post(
    "/imports/grids",
    response_model=ImportReport,
    status_code=201,
    summary="Import an uploaded grid level as its new active version",
)
def upload_grids(
    engine: EngineDep,
    admin: AdminUser,
    file: Annotated[UploadFile, File(description=".zip shapefile, .gpkg or .geojson")],
    level: Annotated[str, Form()],
    code_field: Annotated[str, Form()],
    name_field: Annotated[str, Form()],
    parent_field: Annotated[str | None, Form()] = None,
    responsible_field: Annotated[str | None, Form()] = None,
    phone_field: Annotated[str | None, Form()] = None,
    crs: Annotated[str | None, Form()] = None,
    encoding: Annotated[str | None, Form()] = None,
    member: Annotated[str | None, Form()] = None,
    dry_run: Annotated[bool, Form()] = False,
    activate: Annotated[
        bool, Form(description="false: store the version without activating it (a preview)")
    ] = True,
):
    fields = dict(locals())  # the form's fields, named as the request's
    from weijian.layers.importing import GridImport, import_grids

    with uploaded(file) as path:
        request = GridImport.from_fields(
            fields, path=path, created_by=admin.username, source_name=file.filename
        )
        return import_grids(engine, request)
