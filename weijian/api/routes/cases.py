"""Cases over REST: intake, listing, reading, transitions, transfer, evidence, links, merges,
hotline imports and citizens' receipts. Every route is a thin call into
:class:`weijian.cases.service.CaseService`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Header, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field

from weijian.api.dependencies import (
    AdminUser,
    CasesDep,
    CurrentUser,
    OptionalUser,
    client_address,
)
from weijian.api.routes.layers import uploaded
from weijian.cases import disclosure, numbering
from weijian.cases.evidence import Device
from weijian.cases.idempotency import STATE_KEY
from weijian.cases.public import PublicFollowUp
from weijian.cases.service import Intake
from weijian.errors import InputError
from weijian.text import LIMITS

router = APIRouter(prefix="/api/v1", tags=["cases"])


class CaseIn(BaseModel):
    lon: float | None = Field(default=None, description="longitude (or easting) in crs")
    lat: float | None = Field(default=None, description="latitude (or northing) in crs")
    crs: str = Field(default="wgs84", description="wgs84 | cgcs2000 | gcj02 | bd09 | EPSG:n")
    description: str = Field(
        default="", max_length=LIMITS["description"], description="what is being built (问题描述)"
    )
    channel: str | None = Field(
        default=None,
        description="patrol | grid_worker | property_company | citizen | hotline | leadership | "
        "media | project_tracking; grid workers and property companies report by their own, "
        "anonymous reports by citizen",
    )
    track: Literal["new", "backlog"] = Field(default="new", description="new 在建 / backlog 存量")
    address: str | None = Field(default=None, max_length=LIMITS["address"])
    footprint: dict[str, Any] | None = Field(
        default=None, description="GeoJSON Polygon/MultiPolygon of the building, in crs"
    )
    discovered_at: datetime | None = Field(default=None, description="when it was found")
    made_at: datetime | None = Field(
        default=None,
        description="when the report was made on the device (ISO 8601 with its zone; the "
        "offline queue sends it later): the case's reported_at; at most ten minutes ahead of "
        "the server's clock and WEIJIAN_MADE_AT_MAX_AGE_DAYS old",
    )
    reporter_name: str | None = Field(default=None, max_length=LIMITS["name"])
    reporter_phone: str | None = Field(default=None, max_length=LIMITS["phone"])


class TransitionIn(BaseModel):
    action: str = Field(examples=["site_visit"])
    version: int | None = Field(default=None, description="the case version you read")
    note: str | None = Field(default=None, max_length=LIMITS["note"])
    data: dict[str, Any] = Field(default_factory=dict, description="the action's fields")
    evidence: list[str] = Field(default_factory=list, description="sha256 of uploaded evidence")
    made_at: datetime | None = Field(
        default=None, description="when the step was made on the device (kept in the event)"
    )


class CheckIn(BaseModel):
    lon: float | None = Field(default=None, description="longitude (or easting) in crs")
    lat: float | None = Field(default=None, description="latitude (or northing) in crs")
    crs: str = Field(default="wgs84", description="wgs84 | cgcs2000 | gcj02 | bd09 | EPSG:n")


class TransferIn(BaseModel):
    to_department: str = Field(description="code of the receiving department")
    reason: Literal["outside_remit", "not_illegal_construction"]
    note: str = Field(max_length=LIMITS["note"])
    version: int | None = None


class LinkIn(BaseModel):
    other: str = Field(description="number of the other case")
    kind: Literal["duplicate", "related"] = "duplicate"
    note: str | None = Field(default=None, max_length=LIMITS["note"])


class MergeIn(BaseModel):
    into: str = Field(description="number of the case that goes on")
    version: int | None = None
    note: str | None = Field(default=None, max_length=LIMITS["note"])


class AssignIn(BaseModel):
    username: str | None = Field(description="the officer; null takes the case back")
    version: int | None = None


def _version(body_version: int | None, if_match: str | None) -> int | None:
    if body_version is not None:
        return body_version
    if if_match:
        try:
            return int(if_match.strip().strip('W/"').strip('"'))
        except ValueError:
            raise InputError(
                f"请求头 If-Match 的值“{if_match}”不是案件版本号，应为整数，如 3",
                code="case.version_invalid",
                detail=f"If-Match {if_match!r} is not a case version number",
            ) from None
    return None


IfMatch = Annotated[str | None, Header(description="the case version, instead of 'version'")]


class PrefixIn(BaseModel):
    prefix: str = Field(description="1–8 capital letters or digits, e.g. CB")


@router.get("/cases/prefixes", summary="Every district's case-number prefix")
def case_prefixes(cases: CasesDep, _: CurrentUser) -> list[dict]:
    with cases.engine.begin() as conn:
        numbering.assign_default_prefixes(conn)
        return numbering.prefixes(conn)


@router.put("/cases/prefixes/{district}", summary="Set a district's prefix before its first case")
def set_case_prefix(district: str, body: PrefixIn, cases: CasesDep, _: AdminUser) -> dict:
    with cases.engine.begin() as conn:
        prefix = numbering.set_prefix(conn, district, body.prefix)
    return {"district_code": district, "prefix": prefix}


@router.get("/cases/workflow", summary="The workflow in force: states, actions, roles, deadlines")
def workflow(cases: CasesDep) -> dict:
    return cases.workflow_json()


@router.post("/cases", status_code=201, summary="Report a case (anonymous: citizen 随手拍)")
def create_case(
    body: CaseIn,
    request: Request,
    cases: CasesDep,
    user: OptionalUser,
    x_weijian_challenge: Annotated[
        str | None,
        Header(
            description="a solved proof of work '<nonce>:<n>' (POST /api/v1/challenges), which "
            "an anonymous report past its address's hourly share needs"
        ),
    ] = None,
) -> dict:
    intake = Intake(**body.model_dump())
    address = client_address(request)
    claim = getattr(request.state, STATE_KEY, None)  # the Idempotency-Key, if one was sent
    case = cases.create(
        intake, user, client_address=address, idempotency=claim, challenge=x_weijian_challenge
    )
    # an anonymous reporter reads back his report, never the people behind it
    return case if user is not None else disclosure.public_case(case)


@router.post("/cases/check", summary="Before reporting: who is responsible, duplicates, rebounds")
def check_case(body: CheckIn, cases: CasesDep, user: OptionalUser) -> dict:
    return cases.precheck(user, body.lon, body.lat, body.crs)


@router.get("/cases", summary="Cases in your scope, newest first, a page at a time")
def list_cases(
    cases: CasesDep,
    user: CurrentUser,
    bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat")] = None,
    state: Annotated[str | None, Query(description="state codes, comma-separated")] = None,
    category: Annotated[Literal["open", "closed"] | None, Query()] = None,
    grid: Annotated[str | None, Query(description="a grid code of any level")] = None,
    channel: str | None = None,
    track: Literal["new", "backlog"] | None = None,
    department: str | None = None,
    reported_from: Annotated[datetime | None, Query(alias="from")] = None,
    reported_to: Annotated[datetime | None, Query(alias="to")] = None,
    overdue: bool | None = None,
    q: Annotated[
        str | None, Query(max_length=100, description="case number, hotline id or address")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
    with_total: bool = False,
) -> dict:
    box = None
    if bbox:
        try:
            box = tuple(float(v) for v in bbox.split(","))
        except ValueError:
            box = ()
        if len(box) != 4:
            raise InputError(
                f"范围 bbox“{bbox}”格式不正确：应为“最小经度,最小纬度,最大经度,最大纬度”四个数，"
                "如 bbox=126.3,41.9,126.5,42.0",
                code="list.bbox_invalid",
                detail=f"bbox {bbox!r} is not minlon,minlat,maxlon,maxlat",
            )
    return cases.list(
        user,
        bbox=box,
        states=[s for s in (state or "").split(",") if s] or None,
        category=category,
        grid=grid,
        channel=channel,
        track=track,
        department=department,
        reported_from=reported_from,
        reported_to=reported_to,
        overdue=overdue,
        q=q,
        limit=limit,
        cursor=cursor,
        with_total=with_total,
    )


@router.post("/cases/imports/hotline", summary="Import a 12345 hotline export (CSV / xlsx)")
def import_hotline(
    cases: CasesDep,
    user: CurrentUser,
    file: Annotated[UploadFile, File(description="CSV or xlsx with Chinese headers")],
    crs: Annotated[str, Form(description="crs of coordinates without a 坐标系 column")] = "gcj02",
) -> dict:
    with uploaded(file, None) as path:
        return cases.import_hotline(user, path, default_crs=crs)


@router.get("/cases/{ref}", summary="One case with its timeline, evidence and deadlines")
def get_case(ref: str, cases: CasesDep, user: CurrentUser) -> dict:
    return cases.get(user, ref)


@router.post("/cases/{ref}/transitions", summary="Take a workflow action on a case")
def transition(
    ref: str, body: TransitionIn, cases: CasesDep, user: CurrentUser, if_match: IfMatch = None
) -> dict:
    return cases.transition(
        user,
        ref,
        body.action,
        version=_version(body.version, if_match),
        note=body.note,
        data=body.data,
        evidence=body.evidence,
        made_at=body.made_at,
    )


@router.post("/cases/{ref}/transfer", summary="Transfer a case to another department")
def transfer(
    ref: str, body: TransferIn, cases: CasesDep, user: CurrentUser, if_match: IfMatch = None
) -> dict:
    return cases.transition(
        user,
        ref,
        "transfer",
        version=_version(body.version, if_match),
        note=body.note,
        data={"to_department": body.to_department, "reason": body.reason},
    )


@router.post("/cases/{ref}/evidence", status_code=201, summary="Upload a photo or document")
def upload_evidence(
    ref: str,
    cases: CasesDep,
    user: CurrentUser,
    file: Annotated[UploadFile, File()],
    kind: Annotated[Literal["photo", "document"], Form()] = "photo",
    note: Annotated[str | None, Form(max_length=LIMITS["note"])] = None,
    taken_at: Annotated[
        datetime | None, Form(description="when the phone took it (its EXIF may be gone)")
    ] = None,
    lon: Annotated[float | None, Form(description="where the phone took it, in crs")] = None,
    lat: Annotated[float | None, Form()] = None,
    crs: Annotated[str, Form(max_length=LIMITS["code"])] = "wgs84",
) -> dict:
    device = Device(taken_at=taken_at, lon=lon, lat=lat, crs=crs)
    return cases.add_evidence(
        user, ref, file.file, file.filename or "upload", kind, note, device=device
    )


@router.get("/cases/{ref}/evidence/{sha256}", summary="Download one piece of evidence")
def download_evidence(
    ref: str,
    sha256: str,
    request: Request,
    cases: CasesDep,
    user: CurrentUser,
    thumb: Annotated[
        int | None, Query(description="a JPEG of a photo at most this many pixels wide")
    ] = None,
) -> Response:
    # the bytes of a hash never change: a client holding them gets 304
    tag = f'"{sha256}"' if thumb is None else f'"{sha256}-w{thumb}"'
    headers = {"ETag": tag, "Cache-Control": "private, max-age=86400"}
    meta = cases.evidence_meta(user, ref, sha256)
    if tag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    if thumb is not None:
        content = cases.evidence_thumbnail(meta, thumb)
        return Response(content, media_type="image/jpeg", headers=headers)
    content, meta = cases.evidence_bytes(user, ref, sha256)
    return Response(content, media_type=meta["media_type"], headers=headers)


@router.post("/cases/{ref}/links", summary="Link two cases as duplicates or related")
def link(ref: str, body: LinkIn, cases: CasesDep, user: CurrentUser) -> dict:
    return cases.link(user, ref, body.other, body.kind, body.note)


@router.post("/cases/{ref}/merge", summary="Merge a duplicate into the case that goes on")
def merge(
    ref: str, body: MergeIn, cases: CasesDep, user: CurrentUser, if_match: IfMatch = None
) -> dict:
    return cases.merge(
        user, ref, body.into, version=_version(body.version, if_match), note=body.note
    )


@router.post("/cases/{ref}/assign", summary="Assign the case to an officer")
def assign(
    ref: str, body: AssignIn, cases: CasesDep, user: CurrentUser, if_match: IfMatch = None
) -> dict:
    return cases.assign(user, ref, body.username, version=_version(body.version, if_match))


class OutcomeIn(BaseModel):
    text: str = Field(description="the outcome the reporter and the public read")


@router.put(
    "/cases/{ref}/public-outcome", tags=["cases"], summary="The outcome text the public reads"
)
def public_outcome(ref: str, body: OutcomeIn, cases: CasesDep, user: CurrentUser) -> dict:
    return PublicFollowUp(cases).set_outcome(user, ref, body.text)
