"""Jurisdiction: who is responsible for a spot, for one point or a million; the rules."""

from __future__ import annotations

import shutil
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from weijian.api.dependencies import AdminUser, CasesDep, EngineDep, JurisdictionDep, user_of
from weijian.cases.clock import LOCAL
from weijian.cases.reassignment import open_case_points, rule_change_effect
from weijian.errors import InputError
from weijian.gis.points import point_to_cgcs2000, to_cgcs2000
from weijian.gis.scratch import scratch_dir
from weijian.jurisdiction import batch as batch_mod
from weijian.jurisdiction import service
from weijian.jurisdiction.engine import DEFAULT_TOLERANCE_M, answer_json, lookup, lookup_parts
from weijian.jurisdiction.transfer import decide_transfer

router = APIRouter(prefix="/api/v1/jurisdiction", tags=["jurisdiction"])
MAX_BATCH_BYTES = 1 << 30
#: the tolerance of a look-up, metres
MIN_TOLERANCE_M, MAX_TOLERANCE_M = 0, 1000


class Responsible(BaseModel):
    name: str | None
    phone: str | None


class GridRef(BaseModel):
    code: str
    name: str
    responsible: list[Responsible] | None = Field(
        default=None, description="only for a logged-in user whose scope holds the grid"
    )


class GridChain(BaseModel):
    district: GridRef | None
    town: GridRef | None
    community: GridRef | None
    compound: GridRef | None


class DepartmentRef(BaseModel):
    type: str
    code: str
    name: str


class RuleRef(BaseModel):
    id: int
    version: int
    name: str
    priority: int | None = None


class ZoneRef(BaseModel):
    layer: str
    version: int
    kind: str
    code: str | None
    name: str | None


class Alternative(BaseModel):
    status: Literal["assigned", "unassigned"]
    reason: str | None
    department: DepartmentRef | None
    rule: RuleRef | None


class PointOut(BaseModel):
    lon: float = Field(description="CGCS2000 longitude")
    lat: float = Field(description="CGCS2000 latitude")
    crs: str
    input: dict[str, Any] | None = Field(description="the point as given: x, y, crs")


class Answer(BaseModel):
    status: Literal["assigned", "unassigned"]
    reason: str | None = Field(description="outside_city | no_zone | no_rule (unassigned)")
    reason_text: str | None
    department: DepartmentRef | None
    rule: RuleRef | None
    deciding_zone: ZoneRef | None
    zones: list[ZoneRef] = Field(description="every zone of every active layer covering the point")
    grid: GridChain
    boundary_distance_m: float | None = Field(
        description="metres (Gauss-Krüger) to the deciding boundary: the deciding zone's or "
        "the district's, whichever is nearer"
    )
    ambiguous: bool
    alternatives: list[Alternative]
    tolerance_m: float
    point: PointOut
    layer_versions: dict[str, int]
    rule_version: int
    decided_on: date


class RuleIn(BaseModel):
    priority: int = Field(ge=0, le=1_000_000, description="lower is tried first")
    name: str
    department_type: str
    zone_kinds: list[str] = []
    code_patterns: list[str] = Field(default=[], description="land-use code prefixes or globs")
    valid_from: date | None = None
    valid_to: date | None = Field(default=None, description="exclusive")


class RuleOut(RuleIn):
    id: int


class RuleSetIn(BaseModel):
    rules: list[RuleIn]
    changed_by: str | None = Field(
        default=None, description="who changes them; default: the logged-in administrator"
    )
    reason: str = Field(min_length=1)


class RulePreviewIn(BaseModel):
    rules: list[RuleIn]


class RuleSetOut(BaseModel):
    version: int
    active: bool
    created_by: str
    reason: str
    created_at: datetime
    rules: list[RuleOut]


class TransferIn(BaseModel):
    current_department_code: str
    lon: float
    lat: float
    crs: str = "wgs84"
    tolerance_m: float = DEFAULT_TOLERANCE_M


class TransferOut(BaseModel):
    must_transfer: bool
    to: DepartmentRef | None
    reason: str
    explanation: str
    needs_review: bool
    answer: Answer


class DepartmentOut(BaseModel):
    type: str
    code: str
    name: str
    district_code: str | None
    configured: bool


def _answer(holder, x: float, y: float, crs: str, tolerance_m: float, on: date | None) -> dict:
    lon, lat, source = point_to_cgcs2000(x, y, crs)
    given = {"x": x, "y": y, "crs": source.label}
    return lookup(holder.snapshot, lon, lat, on=on, tolerance_m=tolerance_m, given=given)


async def answer(
    holder,
    cases,
    lon: float,
    lat: float,
    crs: str = "wgs84",
    tolerance_m: float = DEFAULT_TOLERANCE_M,
    on: date | None = None,
    authorization: str | None = None,
) -> Response:
    """The look-up's answer to the query as checked by the route (or by the same checks in
    ``api/lookup_path.py``, which answers it before the router): answered on the event loop,
    the answer's parts serialised with the snapshot and joined as bytes (their shape is the
    Answer model, which the tests check) rather than built as a dict and validated on the way
    out; the people responsible only for a logged-in user whose scope holds the spot."""
    point_lon, point_lat, source = point_to_cgcs2000(lon, lat, crs)
    snap = holder.snapshot
    parts = lookup_parts(
        snap,
        point_lon,
        point_lat,
        on=on,
        tolerance_m=tolerance_m,
        given={"x": lon, "y": lat, "crs": source.label},
    )
    user = await run_in_threadpool(user_of, cases, authorization) if authorization else None
    scoped = user is not None and user.sees_people_of(parts.grid_codes(snap))
    return Response(answer_json(snap, parts, scoped=scoped), media_type="application/json")


@router.get("", response_model=Answer, summary="Who is responsible for this spot")
async def jurisdiction(
    holder: JurisdictionDep,
    cases: CasesDep,
    lon: Annotated[float, Query(description="longitude (or x for projected crs)")],
    lat: Annotated[float, Query(description="latitude (or y)")],
    crs: Annotated[str, Query(description="wgs84 | cgcs2000 | gcj02 | bd09 | EPSG:n")] = "wgs84",
    tolerance_m: Annotated[
        float, Query(ge=MIN_TOLERANCE_M, le=MAX_TOLERANCE_M)
    ] = DEFAULT_TOLERANCE_M,
    on: Annotated[
        date | None, Query(description="the date the rules apply (default today)")
    ] = None,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
):
    # the usual request never gets here: api/lookup_path.py answers it before the router
    # through the same answer(); this route documents the look-up and answers what the lean
    # path leaves to FastAPI (anything it does not parse beyond doubt, and every error)
    return await answer(holder, cases, lon, lat, crs, tolerance_m, on, authorization)


@router.post(
    "/batch",
    summary="Answers for many points (CSV id,lon,lat or a GeoJSON FeatureCollection), streamed",
    responses={200: {"content": {"text/csv": {}, "application/geo+json": {}}}},
)
async def jurisdiction_batch(
    request: Request,
    holder: JurisdictionDep,
    crs: Annotated[str, Query()] = "wgs84",
    tolerance_m: Annotated[float, Query(ge=0, le=1000)] = DEFAULT_TOLERANCE_M,
    on: Annotated[date | None, Query()] = None,
    format: Annotated[
        Literal["csv", "geojson"] | None, Query(description="output format; default: the input's")
    ] = None,
):
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    is_json = content_type in ("application/json", "application/geo+json")
    if not is_json and content_type not in ("text/csv", "text/plain", "application/csv"):
        raise InputError(
            f"不支持的请求内容类型 Content-Type：{content_type or '（未提供）'}；"
            "请以 text/csv（id,lon,lat 三列）或 application/geo+json（FeatureCollection）发送点位",
            code="batch.format_unsupported",
            detail=f"unsupported Content-Type {content_type or '(none)'}.",
            hint="send text/csv (id,lon,lat) or application/geo+json (FeatureCollection)",
        )
    folder = scratch_dir("batch")
    body = folder / ("points.geojson" if is_json else "points.csv")
    size = 0
    with open(body, "wb") as handle:  # spooled to disk: memory stays bounded
        async for piece in request.stream():
            size += len(piece)
            if size > MAX_BATCH_BYTES:
                shutil.rmtree(folder, ignore_errors=True)
                raise InputError(
                    "批量查询的数据超过 1 GB，请拆分成多批后分别提交",
                    code="batch.too_large",
                    detail="the batch is larger than 1 GB.",
                    hint="split it",
                )
            handle.write(piece)
    if size == 0:
        shutil.rmtree(folder, ignore_errors=True)
        raise InputError(
            "请求内容为空，请以 CSV 或 GeoJSON 格式发送要查询的点位",
            code="batch.body_empty",
            detail="the request body is empty.",
            hint="send points as CSV or GeoJSON",
        )
    snap = holder.snapshot
    fmt = format or ("geojson" if is_json else "csv")
    on = on or date.today()
    # parse the first chunk before answering 200, so bad input still gets its 4xx
    chunks = batch_mod.open_chunks(body)
    try:
        first = await run_in_threadpool(next, chunks, None)
        if first is not None:
            to_cgcs2000(first.x, first.y, crs, ids=first.ids)
    except Exception:
        shutil.rmtree(folder, ignore_errors=True)
        raise

    def all_chunks():
        if first is not None:
            yield first
        yield from chunks

    def body_text():
        try:
            yield from batch_mod.answer_stream(
                snap, all_chunks(), crs=crs, on=on, tolerance_m=tolerance_m, fmt=fmt
            )
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/geo+json"
    return StreamingResponse(body_text(), media_type=media)


@router.post(
    "/transfer",
    response_model=TransferOut,
    summary="Must a case held by this department be transferred, to whom, why",
)
def transfer(body: TransferIn, holder: JurisdictionDep):
    answer = _answer(holder, body.lon, body.lat, body.crs, body.tolerance_m, None)
    return {**decide_transfer(body.current_department_code, answer).as_dict(), "answer": answer}


@router.get("/rules", response_model=RuleSetOut, summary="The active rule set")
def rules(engine: EngineDep):
    return service.rule_set_json(engine, None)


@router.get("/rules/versions", summary="Every rule-set version (who, when, why)")
def rule_versions(engine: EngineDep) -> list[dict]:
    return service.rule_set_versions(engine)


@router.get("/rules/versions/{version}", response_model=RuleSetOut)
def rule_version(version: int, engine: EngineDep):
    return service.rule_set_json(engine, version)


@router.post(
    "/rules",
    response_model=RuleSetOut,
    status_code=201,
    summary="Replace the rules: a new, active rule-set version",
)
def replace_rules(body: RuleSetIn, engine: EngineDep, holder: JurisdictionDep, admin: AdminUser):
    version = service.replace_rules(
        engine,
        [r.model_dump() for r in body.rules],
        body.changed_by or admin.username,
        body.reason,
    )
    holder.refresh()
    return service.rule_set_json(engine, version)


@router.post(
    "/rules/preview",
    summary="What a proposed rule set would do to the open cases, without saving it",
)
def preview_rules(body: RulePreviewIn, cases: CasesDep, _: AdminUser) -> dict:
    proposed = service.proposed_rule_set(cases.engine, [r.model_dump() for r in body.rules])
    with cases.engine.connect() as conn:
        points = open_case_points(conn)
    on = cases.clock.now().astimezone(LOCAL).date()
    return rule_change_effect(points, cases.jurisdiction.snapshot, proposed, on)


@router.get(
    "/departments",
    response_model=list[DepartmentOut],
    summary="The departments answers name, per district and type",
)
def departments(holder: JurisdictionDep):
    return service.effective_departments(holder.snapshot)


@router.get("/status", summary="The loaded snapshot: layer versions, rule version, index sizes")
def status(holder: JurisdictionDep) -> dict:
    return holder.snapshot.describe()


@router.post("/refresh", summary="Reload the snapshot now (normally done on NOTIFY)")
async def refresh(holder: JurisdictionDep, _: AdminUser) -> dict:
    changed = await run_in_threadpool(holder.refresh)
    return {"reloaded": changed, **holder.snapshot.describe()}
