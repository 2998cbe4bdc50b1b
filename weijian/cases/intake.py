"""Intake: what a report says, the checks it passes before it becomes a case, and the steps that
register it — the channel it may come by, its point and footprint, its times, the deadlines it
starts, nearby duplicates and rebounds, and the case row with its first event."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from weijian.cases import challenge as challenges
from weijian.cases import history
from weijian.cases.clock import CLOCK_SKEW, LOCAL, made_at_checked
from weijian.cases.deadlines import WorkCalendar
from weijian.cases.rows import json_text
from weijian.cases.scope import CITIZEN, SCOPE_FIELDS, Principal
from weijian.cases.users import sha256
from weijian.cases.workflow import Workflow
from weijian.errors import ConflictError, InputError, PermissionDenied
from weijian.gis import gauss_kruger
from weijian.gis.gauss_kruger import Zone
from weijian.gis.points import point_to_cgcs2000, to_cgcs2000
from weijian.jurisdiction.snapshot import Snapshot
from weijian.settings import Settings
from weijian.text import clean

MAX_FOOTPRINT_DISTANCE_M = 200.0
#: no corner of a footprint lies farther than this from the reported point
MAX_FOOTPRINT_REACH_M = 1000.0
STAFF_CHANNELS = {"grid_worker": "grid_worker", "property_company": "property_company"}


@dataclass
class Intake:
    """What a report says. Coordinates are in ``crs`` (wgs84 from phones by default)."""

    lon: float | None
    lat: float | None
    description: str
    channel: str | None = None
    crs: str = "wgs84"
    track: str = "new"
    address: str | None = None
    footprint: dict | None = None  # GeoJSON Polygon / MultiPolygon in ``crs``
    discovered_at: datetime | None = None
    reported_at: datetime | None = None  # only for imports of other systems' records
    made_at: datetime | None = None  # when the report was made on the device (offline queue)
    reporter_name: str | None = None
    reporter_phone: str | None = None
    external_id: str | None = None
    # the construction project a finding of its inspection opens the case for (else the one
    # whose red line holds the point, if any)
    project_id: int | None = None


@dataclass
class Report:
    """A report checked and located: what its case is registered with."""

    channel: str
    track: str
    description: str
    lon: float  # CGCS2000
    lat: float
    answer: dict  # the jurisdiction engine's, frozen with the case
    district: dict
    footprint: shapely.MultiPolygon | None
    area: float | None
    reported_at: datetime
    discovered_at: datetime | None
    state: str
    due: dict[str, datetime]
    flags: dict[str, Any]

    @property
    def department(self) -> dict:
        return self.answer.get("department") or {}


# -- the checks of a report --------------------------------------------------------------------


def channel_for(wf: Workflow, principal: Principal | None, channel: str | None) -> str:
    """The channel a report comes by: the citizen's for anonymous reports, a staff role's own,
    an API client's, or the one an officer names."""
    if principal is None or principal.role == CITIZEN:
        if channel not in (None, "citizen"):
            raise PermissionDenied(
                f"匿名举报只能通过“{wf.channels.get('citizen', 'citizen')}”（citizen）渠道提交，"
                f"不能选“{channel}”；如需通过其他渠道上报，请先登录",
                code="report.channel_not_allowed",
                detail=f"an anonymous report comes by the citizen channel, not {channel!r}",
                hint="log in to report by another channel",
            )
        return "citizen"
    if principal.api_client_id is not None:
        return wf.check_channel(channel or principal.channel or "hotline")
    fixed = STAFF_CHANNELS.get(principal.acts_as)
    if fixed:
        if channel not in (None, fixed):
            raise PermissionDenied(
                f"{wf.roles.get(principal.role, principal.role)}只能通过"
                f"“{wf.channels.get(fixed, fixed)}”（{fixed}）渠道上报，不能选“{channel}”",
                code="report.channel_not_allowed",
                detail=f"a {principal.role} reports by the {fixed} channel, not {channel!r}",
            )
        return fixed
    if channel is None:
        labels = "、".join(f"{k}（{v}）" for k, v in wf.channels.items())
        raise InputError(
            f"请注明案件的来源渠道，可选：{labels}",
            code="report.channel_missing",
            detail="say the source channel of the report",
            hint="one of: " + "、".join(f"{k}（{v}）" for k, v in wf.channels.items()),
        )
    return wf.check_channel(channel)


#: the text of a report: field, its Chinese name, its kind of limit, whether it keeps line breaks
INTAKE_TEXT = (
    ("description", "问题描述", "description", True),
    ("address", "地址", "address", False),
    ("reporter_name", "举报人姓名", "name", False),
    ("reporter_phone", "联系电话", "phone", False),
    ("external_id", "外部编号", "code", False),
)


def cleaned(intake: Intake) -> Intake:
    """The report with its text cleaned (:func:`weijian.text.clean`): control characters and
    U+FEFF dropped; a NUL, a lone surrogate or text over its limit refused."""
    return dataclasses.replace(
        intake,
        **{
            name: clean(getattr(intake, name), label, kind, multiline=multiline, field=name)
            for name, label, kind, multiline in INTAKE_TEXT
        },
    )


def cleaned_fields(wf: Workflow, data: dict | None) -> dict:
    """A step's fields with their text cleaned; the workflow checks their lengths and kinds."""
    out = dict(data or {})
    for code, value in out.items():
        if isinstance(value, str):
            spec = wf.fields.get(code)
            label = spec.label if spec else code
            out[code] = clean(value, label, "note", field=code) or ""
    return out


def description_of(intake: Intake) -> str:
    description = (intake.description or "").strip()
    if not description:
        raise InputError(
            "缺少诉求内容，请补充问题描述",
            code="report.description_missing",
            detail="the report has no description",
            hint="say what is being built",
        )
    return description


def point_of(intake: Intake) -> tuple[float, float]:
    """The reported point in CGCS2000."""
    if intake.lon is None or intake.lat is None:
        raise InputError(
            "缺少位置（经纬度），无法定位，请补充坐标",
            code="report.location_missing",
            detail="the report has no location",
            hint="give lon and lat (WGS84 from a phone's GPS, or say the crs)",
        )
    lon, lat, _ = point_to_cgcs2000(float(intake.lon), float(intake.lat), intake.crs)
    return lon, lat


def district_of(answer: dict, lon: float, lat: float) -> dict:
    """The district grid of the jurisdiction answer: a point outside every one is refused."""
    district = (answer.get("grid") or {}).get("district")
    if district is None:
        raise InputError(
            f"坐标（{lon:.6f}，{lat:.6f}）不在本市网格范围内，不属本市受理范围；"
            "请核对位置（或在地图上重新选点）及坐标系后重试",
            code="report.outside_city",
            detail=f"the location ({lon:.6f}, {lat:.6f}) lies outside the city: no district grid "
            "contains it",
            hint="check the coordinates and their crs (wgs84, gcj02, bd09, cgcs2000)",
        )
    return district


def check_reporter_grid(principal: Principal | None, answer: dict) -> None:
    """A user bound to a grid reports within it (citizens and API clients report anywhere)."""
    if principal is not None and principal.role not in (CITIZEN, "api_client"):
        case_view = {f"{level}_code": (g or {}).get("code") for level, g in answer["grid"].items()}
        if not principal.city_wide and not principal.can_read(case_view):
            raise PermissionDenied(
                f"该位置不在您负责的网格 {principal.grid_code} 内，请报告给其所在网格，"
                "或拨打 12345 热线",
                code="report.outside_your_grid",
                detail=f"the location lies outside your grid {principal.grid_code}",
                hint="report it to the grid it lies in, or call the 12345 hotline",
            )


def footprint_of(
    intake: Intake, lon: float, lat: float, snap: Snapshot, *, max_area_m2: float = 1e6
) -> tuple[shapely.MultiPolygon | None, float | None]:
    """The building's footprint in CGCS2000, repaired, and its area in square metres; it must
    lie near the reported point, reach no farther than :data:`MAX_FOOTPRINT_REACH_M` from it
    and cover at most ``max_area_m2``."""
    if not intake.footprint:
        return None, None
    try:
        geom = shape(intake.footprint)
    except (AttributeError, KeyError, TypeError, ValueError, shapely.errors.GEOSException):
        raise InputError(
            "建筑轮廓 footprint 不是有效的 GeoJSON 几何，"
            '应为 {"type": "Polygon", "coordinates": [[[经度, 纬度], …]]}',
            code="report.footprint_invalid",
            detail="the footprint is not a GeoJSON geometry",
            hint='give {"type": "Polygon", "coordinates": [[[lon, lat], …]]}',
        ) from None
    if geom.geom_type not in ("Polygon", "MultiPolygon") or geom.is_empty:
        raise InputError(
            f"建筑轮廓应为面（Polygon 或 MultiPolygon），不能是 {geom.geom_type}，"
            "请把建筑外轮廓画成闭合的面",
            code="report.footprint_not_polygon",
            detail=f"the footprint must be a Polygon or MultiPolygon, not {geom.geom_type}",
            hint="outline the building's footprint as a closed ring",
        )

    def convert(coords):
        x, y, _ = to_cgcs2000(coords[:, 0], coords[:, 1], intake.crs)
        return _stack(x, y)

    geom = shapely.make_valid(shapely.transform(geom, convert))
    polys = [g for g in getattr(geom, "geoms", [geom]) if g.geom_type == "Polygon"]
    if not polys:
        raise InputError(
            "建筑轮廓修复后没有面积，请重新绘制",
            code="report.footprint_empty",
            detail="the footprint has no area after repair",
            hint="redraw it",
        )
    multi = shapely.MultiPolygon(polys)
    zone = snap.gk_zone

    def to_gk(coords):
        out = [gauss_kruger.forward(x, y, zone) for x, y in coords]
        return _stack([p[0] for p in out], [p[1] for p in out])

    metric = shapely.transform(multi, to_gk)
    px, py = gauss_kruger.forward(lon, lat, zone)
    if metric.distance(shapely.Point(px, py)) > MAX_FOOTPRINT_DISTANCE_M:
        raise InputError(
            f"建筑轮廓距上报位置超过 {MAX_FOOTPRINT_DISTANCE_M:.0f} 米，"
            "请核对位置和轮廓是否使用同一坐标系",
            code="report.footprint_too_far",
            detail=f"the footprint lies more than {MAX_FOOTPRINT_DISTANCE_M:.0f} m from the "
            "reported point",
            hint="check that the point and the footprint use the same crs",
        )
    check_footprint_size(metric, shapely.Point(px, py), max_area_m2)
    return multi, round(metric.area, 2)


def check_footprint_size(metric: shapely.Geometry, point: shapely.Point, max_area: float) -> None:
    """A footprint is one building's lot: bounded in area and in its reach from the point."""
    reach = shapely.hausdorff_distance(metric.boundary, point)
    if not math.isfinite(reach) or reach > MAX_FOOTPRINT_REACH_M:
        raise InputError(
            f"建筑轮廓延伸到距上报位置 {MAX_FOOTPRINT_REACH_M:.0f} 米以外，"
            "一个案件的轮廓应只画出这一处建筑，请重新绘制",
            code="report.footprint_too_wide",
            detail=f"a corner of the footprint lies more than {MAX_FOOTPRINT_REACH_M:.0f} m "
            "from the reported point",
            hint="outline only the building of the report",
        )
    area = metric.area
    if not math.isfinite(area) or area > max_area:
        raise InputError(
            f"建筑轮廓面积过大（超过 {max_area:,.0f} 平方米），"
            "一个案件的轮廓应只画出这一处建筑，请重新绘制",
            code="report.footprint_too_large",
            detail=f"the footprint covers more than {max_area:,.0f} m²",
            hint="outline only the building of the report",
        )


def report_times(
    intake: Intake, now: datetime, max_age: timedelta = timedelta(days=7)
) -> tuple[datetime, datetime | None]:
    """When the report was made (now; the time the device made it, ``made_at``, checked by
    :func:`~weijian.cases.clock.made_at_checked` against ``max_age``; or an imported record's
    own time) and when the construction was found; neither may lie in the future."""
    reported_at = now
    if intake.made_at is not None:
        reported_at = made_at_checked(intake.made_at, now, max_age)
    elif intake.reported_at is not None:
        if intake.reported_at > now + CLOCK_SKEW:
            raise InputError(
                "受理时间晚于当前时间，请核对时间及时区",
                code="report.reported_at_future",
                detail="reported_at lies in the future",
                hint="check the time zone",
            )
        reported_at = intake.reported_at
    discovered_at = intake.discovered_at
    if discovered_at is not None:
        if discovered_at.tzinfo is None:
            discovered_at = discovered_at.replace(tzinfo=LOCAL)
        if discovered_at > reported_at + CLOCK_SKEW:
            raise InputError(
                "发现时间晚于受理时间，请核对",
                code="report.discovered_after_reported",
                detail="discovered_at lies after the report",
                hint="give when it was found",
            )
    return reported_at, discovered_at


def deadlines_due(
    wf: Workflow,
    calendar: WorkCalendar,
    channel: str,
    track: str,
    reported_at: datetime,
    discovered_at: datetime | None,
) -> dict[str, datetime]:
    """The deadlines the report starts, by code."""
    return {
        rule.code: calendar.add_days(
            discovered_at if rule.start == "discovered_at" else reported_at, rule.days
        )
        for rule in wf.deadlines
        if rule.applies(channel, track)
        and not rule.start_after  # the stages a report starts, not those a later step does
        and rule.days is not None
        and (rule.start != "discovered_at" or discovered_at is not None)
    }


def initial_flags(answer: dict, due: dict[str, datetime], reported_at: datetime) -> dict:
    """What needs a person's eye from the start: an ambiguous or missing department, a late
    report."""
    flags: dict[str, Any] = {}
    if answer.get("ambiguous"):
        flags["ambiguous_jurisdiction"] = True
    if not answer.get("department"):
        flags["unassigned"] = answer.get("reason")
    if "report" in due and reported_at > due["report"]:
        flags["late_report"] = True
    return flags


# -- the checks against the cases there are ----------------------------------------------------


def rate_limit(
    conn: Connection, address: str, now: datetime, limit: int, challenge: str | None = None
) -> None:
    """At most ``limit`` anonymous reports an hour from one address without a proof of work;
    counts this one. Past the limit each report needs a solved ``challenge``
    (:mod:`weijian.cases.challenge`), used once. Reports from one address wait for each other
    (a transaction-level advisory lock on the address), so parallel reports cannot all pass;
    rows older than the hour are pruned on the way."""
    conn.execute(
        text("SELECT pg_advisory_xact_lock(hashtext('citizen_intake'), hashtext(:a))"),
        {"a": address},
    )
    since = now - timedelta(hours=1)
    conn.execute(text("DELETE FROM citizen_intake WHERE at <= :since"), {"since": since})
    count = conn.execute(
        text("SELECT count(*) FROM citizen_intake WHERE address = :a AND at > :since"),
        {"a": address, "since": since},
    ).scalar_one()
    if count >= limit:
        if not challenge:
            raise challenges.required(limit)
        challenges.redeem(conn, challenge, now)
    conn.execute(
        text("INSERT INTO citizen_intake (address, at) VALUES (:a, :t)"),
        {"a": address, "t": now},
    )


def check_not_imported(conn: Connection, channel: str, external_id: str) -> None:
    """Another system's record becomes one case only."""
    known = conn.execute(
        text("SELECT number FROM violation_case WHERE channel = :c AND external_id = :e"),
        {"c": channel, "e": external_id},
    ).scalar()
    if known:
        raise ConflictError(
            f"{channel} 渠道的记录“{external_id}”已导入为案件 {known}，无需重复导入，"
            "可查询该案件的办理状态",
            code="report.already_imported",
            detail=f"the record {external_id!r} of the {channel} channel was "
            f"imported already as case {known}",
            hint="nothing to do; poll that case for its state",
        )


def duplicates_and_rebounds(
    conn: Connection, zone: Zone, lon: float, lat: float, now: datetime, settings: Settings
) -> tuple[list[dict], list[dict]]:
    """The open cases near enough to be the same building, and the cases signed off recently
    near enough for this one to be a rebound; nearest first."""
    since = now - timedelta(days=round(30.44 * settings.rebound_months))
    near = _nearby(
        conn,
        zone,
        lon,
        lat,
        max(settings.duplicate_radius_m, settings.rebound_radius_m),
        "(c.is_open OR (c.state = 'signed_off' AND c.signed_off_at >= :since))",
        {"since": since},
    )
    duplicates = [
        c for c in near if c["is_open"] and c["distance_m"] <= settings.duplicate_radius_m
    ]
    rebounds = [
        c
        for c in near
        if c["state"] == "signed_off" and c["distance_m"] <= settings.rebound_radius_m
    ]
    return duplicates, rebounds


def _nearby(
    conn: Connection,
    zone: Zone,
    lon: float,
    lat: float,
    radius: float,
    where: str,
    params: dict,
) -> list[dict]:
    """Cases matching ``where`` within ``radius`` metres, nearest first."""
    deg_lat = radius / 110_000.0 * 1.2
    deg = max(deg_lat, deg_lat / max(math.cos(math.radians(lat)), 0.1))
    columns = ", ".join(f"c.{name}" for name in SCOPE_FIELDS)
    rows = conn.execute(
        text(
            "SELECT c.id, c.number, c.state, c.is_open, c.signed_off_at, ST_X(c.geom) AS lon, "
            "ST_Y(c.geom) AS lat, " + columns + " FROM violation_case c WHERE "
            "c.geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4490) AND " + where
        ),
        {"x0": lon - deg, "y0": lat - deg, "x1": lon + deg, "y1": lat + deg, **params},
    ).all()
    x, y = gauss_kruger.forward(lon, lat, zone)
    out = []
    for row in rows:
        ox, oy = gauss_kruger.forward(row.lon, row.lat, zone)
        distance = math.hypot(ox - x, oy - y)
        if distance <= radius:
            out.append(
                {
                    "id": row.id,
                    "number": row.number,
                    "state": row.state,
                    "is_open": row.is_open,
                    "distance_m": round(distance, 1),
                    "signed_off_at": row.signed_off_at,
                    **{name: getattr(row, name) for name in SCOPE_FIELDS},
                }
            )
    return sorted(out, key=lambda r: r["distance_m"])


def rebound_flag(rebound: dict) -> dict:
    return {
        "of": rebound["number"],
        "distance_m": rebound["distance_m"],
        "signed_off_at": rebound["signed_off_at"].isoformat(),
    }


# -- the case registered -----------------------------------------------------------------------


def first_event(
    number: str,
    report: Report,
    intake: Intake,
    principal: Principal | None,
    duplicates: list[dict],
    now: datetime,
) -> dict:
    """The case's ``report`` event, the first link of its hash chain (not stored yet)."""
    return history.prepare(
        {"number": number, "event_count": 0, "head_hash": None},
        action="report",
        from_state=None,
        to_state=report.state,
        actor=principal or anonymous(intake),
        at=now,
        note=None,
        data={
            "channel": report.channel,
            "track": report.track,
            "department": report.department.get("code"),
            "rule_version": report.answer.get("rule_version"),
            "layer_versions": report.answer.get("layer_versions"),
            "possible_duplicates": [d["number"] for d in duplicates],
            "rebound_of": report.flags.get("rebound", {}).get("of"),
            "reported_at": report.reported_at.isoformat(),
        },
    )


#: the construction project whose red line holds the case's point, while it is tracked (a
#: project done is no longer); the smallest when red lines overlap
PROJECT_AT = (
    "SELECT id FROM construction_project WHERE stage <> 'done' AND ST_Covers(red_line, "
    "ST_SetSRID(ST_MakePoint(:lon, :lat), 4490)) ORDER BY area_m2, id LIMIT 1"
)


def insert_case(
    conn: Connection,
    report: Report,
    intake: Intake,
    principal: Principal | None,
    *,
    number: str,
    year: int,
    seq: int,
    rebound_of: int | None,
    receipt: str | None,
    head: str,
    now: datetime,
) -> int:
    """Store the case row; returns its id. A record of another system imported twice at the
    same moment is a conflict."""
    department, grid = report.department, report.answer["grid"]
    try:
        return conn.execute(
            text(
                "INSERT INTO violation_case (number, district_code, year, seq, track, "
                "state, is_open, channel, external_id, api_client_id, address, "
                "description, reporter, reporter_user_id, discovered_at, reported_at, "
                "geom, footprint, area_m2, department_code, department_type, "
                "department_name, town_code, community_code, compound_code, "
                "jurisdiction, rule_version, layer_versions, report_due, visit_due, "
                "rebound_of, flags, receipt_sha256, event_count, head_hash, created_at, "
                "updated_at, project_id) VALUES "
                "(:number, :district, :year, :seq, :track, :state, true, :channel, "
                ":external_id, :client, :address, :description, CAST(:reporter AS jsonb), "
                ":reporter_user, :discovered_at, :reported_at, "
                "ST_SetSRID(ST_MakePoint(:lon, :lat), 4490), "
                "ST_GeomFromWKB(:footprint, 4490), :area, :dep_code, :dep_type, "
                ":dep_name, :town, :community, :compound, CAST(:answer AS jsonb), "
                ":rule_version, CAST(:layer_versions AS jsonb), :report_due, :visit_due, "
                ":rebound_of, CAST(:flags AS jsonb), :receipt, 1, :head, :now, :now, "
                f"coalesce(CAST(:project AS integer), ({PROJECT_AT}))) RETURNING id"
            ),
            {
                "number": number,
                "district": report.district["code"],
                "year": year,
                "seq": seq,
                "track": report.track,
                "state": report.state,
                "channel": report.channel,
                "external_id": intake.external_id,
                "client": principal.api_client_id if principal else None,
                "address": (intake.address or "").strip() or None,
                "description": report.description,
                "reporter": json_text(_reporter(intake, principal)),
                "reporter_user": principal.id if principal else None,
                "discovered_at": report.discovered_at,
                "reported_at": report.reported_at,
                "lon": report.lon,
                "lat": report.lat,
                "footprint": (
                    shapely.to_wkb(report.footprint) if report.footprint is not None else None
                ),
                "area": report.area,
                "dep_code": department.get("code"),
                "dep_type": department.get("type"),
                "dep_name": department.get("name"),
                "town": (grid.get("town") or {}).get("code"),
                "community": (grid.get("community") or {}).get("code"),
                "compound": (grid.get("compound") or {}).get("code"),
                "answer": json_text(report.answer),
                "rule_version": report.answer.get("rule_version"),
                "layer_versions": json_text(report.answer.get("layer_versions") or {}),
                "report_due": report.due.get("report"),
                "visit_due": report.due.get("site_visit"),
                "rebound_of": rebound_of,
                "flags": json_text(report.flags),
                "receipt": sha256(receipt) if receipt else None,
                "head": head,
                "now": now,
                "project": intake.project_id,
            },
        ).scalar_one()
    except IntegrityError:
        raise ConflictError(
            f"记录“{intake.external_id}”刚刚已由另一请求同时导入，无需重复导入",
            code="report.already_imported",
            detail=f"the record {intake.external_id!r} was imported at the same moment by "
            "another request",
            hint="nothing to do",
        ) from None


def _reporter(intake: Intake, principal: Principal | None) -> dict:
    """Who reported: the names the report gives, else the logged-in user's."""
    return {
        "name": intake.reporter_name
        or (principal.display_name if principal and principal.id else None),
        "phone": intake.reporter_phone or (principal.phone if principal and principal.id else None),
        "role": principal.role if principal else CITIZEN,
    }


def anonymous(intake: Intake) -> Principal:
    return Principal(
        id=None, username="citizen", display_name=intake.reporter_name or "群众", role=CITIZEN
    )


def _stack(x, y) -> np.ndarray:
    return np.column_stack([np.asarray(x, dtype=float), np.asarray(y, dtype=float)])
