"""The demo's cases: the sample city's ``cases.csv`` reported and worked through the real
domain core, so that the supervisors' map, the ledger, the assessment and the clear-to-zero
campaign have something to show.

Nothing is written behind the core's back: every case is reported with
:meth:`CaseService.create`, every photo and document is uploaded with
:meth:`CaseService.add_evidence` (small real JPEG/PNG photos made with Pillow, one-page PDFs)
and every step is a :meth:`CaseService.transition` by a user whose role the workflow allows —
so each case carries a real hash-chained history, and the deadlines and counts are those the
product computes.

Time: the service runs on a :class:`FixedClock` that is moved forward. Each case gets a
story — when it is reported, visited, confirmed, demolished, verified and signed off, or where
it stalls — drawn from a random generator seeded by the case's id (the same file gives the same
stories), and all stories are played together in time order, so a case reported in March 2025
sees only what existed in March 2025 (duplicates, rebounds). Steps that would lie after the
present are not taken. The whole timeline is moved forward by whole days so that the file's
last new case is found today (the demo is fresh whenever it is first loaded; the file's dates
end in November 2026).

After the cases, the clear-to-zero campaign “YYYY年存量违建清零行动” starts on the first of
March of the year the backlog ends (after most backlog cases were ledgered, before most of them
were signed off). Backlog work before it is slow; the campaign speeds it up at a pace that
differs between districts.
"""

from __future__ import annotations

import csv
import heapq
import io
import itertools
import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from PIL import ExifTags, Image, ImageDraw
from sqlalchemy import Engine, text

from weijian.cases import users
from weijian.cases.clock import LOCAL, FixedClock
from weijian.cases.scope import Principal
from weijian.cases.service import CaseService, Intake
from weijian.demo.projects import load_demo_projects
from weijian.demo.users import DEMO_PASSWORD, SEED, SURNAMES, ensure_department_users, person
from weijian.enforcement.documents import Documents
from weijian.errors import WeijianError
from weijian.jurisdiction.engine import lookup
from weijian.jurisdiction.service import effective_departments
from weijian.jurisdiction.snapshot import SnapshotHolder
from weijian.oversight import progress
from weijian.settings import Settings, get_settings

CSV_NAME = "cases.csv"
#: the samples' channel names where they differ from the workflow's
CHANNELS = {"hotline_12345": "hotline"}
#: who takes over a case reported where no rule names a department
UNASSIGNED_TO = {"no_zone": "natural_resources", "no_rule": "county_government"}
#: where a department sends a case outside its remit
TRANSFER_TO = {
    "urban_enforcement": "natural_resources",
    "natural_resources": "urban_enforcement",
    "county_government": "urban_enforcement",
}
CAMPAIGN_MONTH_DAY = (3, 1)

DISMISS_NOTES = (
    "经现场核查，该建筑已取得建设工程规划许可证，不构成违法建设",
    "经核查，系经批准的临时建筑，在批准期限内，不构成违法建设",
    "经现场核查，为可移动的临时摊位，无固定基础，不属于违法建设",
    "经核查，所报建筑为既有合法房屋维修，未改变结构和面积，不构成违法建设",
)
METHOD_NOTES = {
    "self": "经教育劝导，当事人已自行拆除",
    "agreed": "经协商，与当事人签订拆除协议后拆除",
    "assisted": "当事人配合，由执法部门组织帮助拆除",
    "forced": "当事人逾期未拆除，依法实施强制拆除",
}
REPORTERS = {
    "leadership": "市政府督查室",
    "media": "白山日报社热线",
    "project_tracking": "市住房和城乡建设局项目科",
}


# -- generated evidence ---------------------------------------------------------------------


def _dms(value: float) -> tuple[float, float, float]:
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round((value - degrees - minutes / 60) * 3600, 3)
    return (float(degrees), float(minutes), seconds)


def photo_bytes(
    rng: random.Random, taken: datetime, lon: float | None = None, lat: float | None = None
) -> tuple[bytes, str]:
    """A small site photo: a JPEG with the camera's time and (when given) GPS in its EXIF, or
    a PNG without either when there is no position (a forwarded picture)."""
    sky = (rng.randint(150, 200), rng.randint(180, 215), rng.randint(215, 250))
    image = Image.new("RGB", (160, 120), sky)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 84, 160, 120), fill=(rng.randint(90, 130), rng.randint(90, 120), 80))
    x0, y0 = rng.randint(8, 60), rng.randint(28, 56)
    x1 = x0 + rng.randint(50, 90)
    wall = (rng.randint(150, 220), rng.randint(120, 190), rng.randint(90, 160))
    draw.rectangle((x0, y0, x1, 92), fill=wall)
    draw.polygon(((x0 - 4, y0), (x1 + 4, y0), ((x0 + x1) // 2, y0 - 16)), fill=(40, 90, 160))
    draw.rectangle((x0 + 10, y0 + 14, x0 + 22, y0 + 26), fill=(60, 60, 70))
    out = io.BytesIO()
    if lon is None or lat is None:
        image.save(out, "PNG")
        return out.getvalue(), "png"
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Demo"
    exif[ExifTags.Base.Model] = "Field Camera"
    local = taken.astimezone(LOCAL)
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = local.strftime(
        "%Y:%m:%d %H:%M:%S"
    )
    exif.get_ifd(ExifTags.IFD.GPSInfo).update(
        {
            ExifTags.GPS.GPSLatitudeRef: "N",
            ExifTags.GPS.GPSLatitude: _dms(lat),
            ExifTags.GPS.GPSLongitudeRef: "E",
            ExifTags.GPS.GPSLongitude: _dms(lon),
        }
    )
    image.save(out, "JPEG", exif=exif, quality=80)
    return out.getvalue(), "jpg"


def _pdf_text(value: str) -> bytes:
    return b"<" + value.encode("utf-16-be").hex().upper().encode() + b">"


def pdf_bytes(title: str, lines: list[str], at: datetime) -> bytes:
    """A one-page PDF with a Chinese title and lines, in the standard Adobe font STSong-Light
    (not embedded: PDF readers supply it), with a correct cross-reference table."""
    content = [b"BT", b"/F1 20 Tf", b"72 770 Td", _pdf_text(title) + b" Tj", b"/F1 12 Tf"]
    for line in lines:
        content += [b"0 -26 Td", _pdf_text(line) + b" Tj"]
    content.append(b"ET")
    stream = b"\n".join(content)
    stamp = at.astimezone(LOCAL).strftime("D:%Y%m%d%H%M%S+08'00'").encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /UniGB-UCS2-H "
        b"/DescendantFonts [6 0 R] >>",
        b"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light /CIDSystemInfo "
        b"<< /Registry (Adobe) /Ordering (GB1) /Supplement 2 >> /FontDescriptor 7 0 R "
        b"/DW 1000 >>",
        b"<< /Type /FontDescriptor /FontName /STSong-Light /Flags 6 "
        b"/FontBBox [-25 -254 1000 880] /ItalicAngle 0 /Ascent 880 /Descent -120 "
        b"/CapHeight 880 /StemV 93 >>",
        b"<< /Title <FEFF"
        + title.encode("utf-16-be").hex().upper().encode()
        + b"> /Producer (weijian demo) /CreationDate ("
        + stamp
        + b") >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\n" % (
        len(objects) + 1,
        len(objects),
    )
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


# -- the stories -----------------------------------------------------------------------------


@dataclass
class StoryStep:
    """One step of a case's story: ``report``, ``photo``, ``document`` (a scan uploaded),
    ``issue`` (an enforcement document made in the product) or ``act``."""

    at: datetime
    kind: str
    who: Principal | None = None
    action: str | None = None
    data: dict | None = None
    note: str | None = None
    title: str | None = None  # the document's title


@dataclass
class DemoCase:
    index: int
    row: dict
    lon: float
    lat: float
    track: str
    channel: str
    discovered_at: datetime
    reported_at: datetime
    answer: dict
    rng: random.Random
    number: str | None = None
    version: int = 0
    state: str | None = None
    department_code: str | None = None
    department_type: str | None = None
    pending: list[str] = field(default_factory=list)
    last_at: datetime | None = None
    documents: dict[str, int] = field(default_factory=dict)  # issued: kind → id

    @property
    def district(self) -> str:
        return self.answer["grid"]["district"]["code"]

    def grid(self, level: str) -> dict:
        return self.answer["grid"].get(level) or {}


def _hours(value: float) -> timedelta:
    return timedelta(hours=value)


def _days(value: float) -> timedelta:
    return timedelta(days=value)


def _office(moment: datetime, rng: random.Random, weekdays: bool = False) -> datetime:
    """``moment``, or the next office hours after it (08:30–17:30 Beijing time; with
    ``weekdays``, Monday to Friday). Never earlier than ``moment``."""
    local = moment.astimezone(LOCAL)
    opening = local.replace(hour=8, minute=30, second=0, microsecond=0)
    closing = local.replace(hour=17, minute=30, second=0, microsecond=0)
    if local < opening:
        local = opening + timedelta(minutes=rng.uniform(0, 80))
    elif local > closing:
        local = opening + timedelta(days=1, minutes=rng.uniform(0, 80))
    while weekdays and local.weekday() >= 5:
        local += timedelta(days=1)
    return local.astimezone(UTC)


def _footprint(lon: float, lat: float, area_m2: float, rng: random.Random) -> dict:
    """A rectangle of about ``area_m2`` around the point, slightly turned (WGS84 GeoJSON)."""
    ratio = rng.uniform(0.6, 1.6)
    width = math.sqrt(area_m2 * ratio)
    depth = area_m2 / width
    angle = rng.uniform(-0.4, 0.4)
    per_lat = 111_320.0
    per_lon = per_lat * math.cos(math.radians(lat))
    ring = []
    for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1), (-1, -1)):
        x, y = sx * width / 2, sy * depth / 2
        rx = x * math.cos(angle) - y * math.sin(angle)
        ry = x * math.sin(angle) + y * math.cos(angle)
        ring.append([lon + rx / per_lon, lat + ry / per_lat])
    return {"type": "Polygon", "coordinates": [ring]}


class Cast:
    """The people who act: department officers per district, the supervisor, the town and
    grid users of the demo, the 12345 platform."""

    def __init__(self, engine: Engine, snap):
        self.departments = {d["code"]: d["name"] for d in effective_departments(snap)}
        with engine.connect() as conn:
            rows = [r for r in users.list_users(conn) if r["active"]]
            client = conn.execute(
                text("SELECT id, name, channel FROM api_client WHERE name = '12345' AND active")
            ).first()
        self.by_name = {
            r["username"]: Principal(**{k: v for k, v in r.items() if k != "active"}) for r in rows
        }
        self.officers: dict[tuple[str, str], list[Principal]] = {}
        for p in sorted(self.by_name.values(), key=lambda p: p.username):
            if p.department_code and p.district_code:
                self.officers.setdefault((p.district_code, p.role), []).append(p)
        self.supervisor = self.by_name.get("supervisor") or Principal(
            id=None, username="demo", display_name="演示数据", role="supervisor"
        )
        self.locals = [
            p
            for p in self.by_name.values()
            if p.role in ("town", "grid_worker", "property_company") and p.grid_code
        ]
        self.hotline = users.client_principal(client) if client else None

    def officer(self, c: DemoCase, role: str | None = None) -> Principal:
        """An officer of the department holding the case (or of ``role`` in its district)."""
        role = role or c.department_type
        return c.rng.choice(self.officers[(c.district, role)])

    def local(self, c: DemoCase, role: str) -> Principal | None:
        """The demo's own town, grid worker or property company, when the case is theirs."""
        for p in self.locals:
            if p.role == role and c.grid(p.grid_level).get("code") == p.grid_code:
                return p
        return None


def _holder_role(c: DemoCase) -> str:
    department = c.answer.get("department") or {}
    return department.get("type") or UNASSIGNED_TO.get(c.answer.get("reason"), "county_government")


def _report(c: DemoCase, cast: Cast) -> Iterator[StoryStep]:
    """The report, with a photo from the reporter when there is one; then, for a case no rule
    assigns, the supervisor's dispatch and the receiver's acceptance."""
    rng = c.rng
    reporter = _reporter(c, cast)
    yield StoryStep(c.reported_at, "report", reporter)
    t = c.reported_at
    if reporter is not None and reporter.role != "api_client" and rng.random() < 0.3:
        t += timedelta(minutes=rng.uniform(1, 15))
        gps = reporter.role != "supervisor"  # entered on someone's behalf: a forwarded picture
        yield StoryStep(
            t, "photo", reporter, note="上报时拍摄的现场照片", data={"gps": gps, "report": True}
        )
    if c.department_code is None:
        t = _office(t + _hours(rng.uniform(0.5, 4)), rng)
        role = _holder_role(c)
        yield StoryStep(
            t,
            "act",
            cast.supervisor,
            "transfer",
            data={"to_department": f"{c.district}-{role}", "reason": "outside_remit"},
            note="该点位无明确职责分工，经研判交由属地相关部门查处",
        )
        t = _office(t + _hours(rng.uniform(0.5, 3)), rng)
        yield StoryStep(t, "act", cast.officer(c), "accept_transfer", note="已接收，安排查处")


def _reporter(c: DemoCase, cast: Cast) -> Principal | None:
    """Who reports: the patrolling officer, the demo's own grid worker or property company in
    their compound, the 12345 platform, an anonymous citizen, else the supervisor entering the
    report on the reporter's behalf."""
    if c.channel == "patrol":
        return cast.officer(c, _holder_role(c))
    if c.channel in ("grid_worker", "property_company"):
        return cast.local(c, c.channel) or cast.supervisor
    if c.channel == "hotline":
        return cast.hotline or cast.supervisor
    if c.channel == "citizen":
        return None
    return cast.supervisor


def _transfer_out(c: DemoCase, cast: Cast, t: datetime, wait: bool) -> Iterator[StoryStep]:
    """The holder finds the case outside its remit and transfers it within the district; the
    receiver accepts it or, now and then, returns it (with ``wait``: not yet)."""
    rng = c.rng
    receiver = TRANSFER_TO[c.department_type]
    t = _office(t + _hours(rng.uniform(1, 20)), rng)
    yield StoryStep(
        t,
        "act",
        cast.officer(c),
        "transfer",
        data={"to_department": f"{c.district}-{receiver}", "reason": "outside_remit"},
        note="经现场核查，该点位不属本部门查处职责范围，移交属地相关部门",
    )
    if wait:
        return  # still waiting for the receiver
    t = _office(t + _hours(rng.uniform(2, 40)), rng)
    if rng.random() < 0.2:
        yield StoryStep(
            t,
            "act",
            cast.officer(c),
            "return_transfer",
            note="经核查，该点位在原部门职责范围内，予以退回",
        )
    else:
        yield StoryStep(t, "act", cast.officer(c), "accept_transfer", note="已接收，继续查处")


def _photo_before(c: DemoCase, who: Principal, t: datetime, note: str) -> StoryStep:
    return StoryStep(t - timedelta(minutes=c.rng.uniform(3, 40)), "photo", who, note=note)


def _stop_order(c: DemoCase, officer: Principal, t: datetime, rng: random.Random):
    """The stop order: for one case in eight issued in the product (numbered, with its site
    map, then served), for the others a scan of a paper order; returns when it was served."""
    days = (3, 5, 7)[c.index % 3]
    if c.index % 8 == 0:  # issued in the product: numbered, with its site map, then served
        party = rng.choice(SURNAMES) + "某某"
        yield StoryStep(
            t,
            "issue",
            officer,
            data={"kind": "stop_order", "fields": {"party": party, "compliance_days": days}},
        )
        t = _office(t + _hours(rng.uniform(2, 30)), rng, weekdays=True)
        yield StoryStep(
            t,
            "issue",
            officer,
            data={
                "kind": "proof_of_service",
                "fields": {
                    "serves": "@stop_order",
                    "recipient": party,
                    "served_on": t.astimezone(LOCAL).date().isoformat(),
                    "service_method": rng.choice(("direct", "direct", "left")),
                    "server": officer.display_name,
                },
            },
        )
    else:  # a scan of a paper order made before the platform
        yield _document_before(c, officer, t, "责令停止违法建设通知书")
        yield StoryStep(
            t,
            "act",
            officer,
            "stop_order",
            data={"compliance_days": days},
            note="已送达《责令停止违法建设通知书》，责令当事人立即停止施工",
        )
    return t


def _document_before(c: DemoCase, who: Principal, t: datetime, title: str) -> StoryStep:
    return StoryStep(t - timedelta(minutes=c.rng.uniform(5, 60)), "document", who, title=title)


#: how the stories of new cases end, with their weights
NEW_FATES = {
    "done": 50,
    "transfer": 7,
    "visited": 4,
    "dismissed": 12,
    "backlog": 6,
    "confirmed": 4,
    "stopped": 11,
    "sealed": 3,
    "demolished": 3,
}


def new_story(
    c: DemoCase, cast: Cast, now: datetime, pace: float, campaign_start: datetime
) -> Iterator[StoryStep]:
    """A case found while being built: site visit, then confirmed and stopped, the continued
    part demolished, verified and signed off — or dismissed, found to be backlog, transferred,
    or stalled on the way."""
    rng = c.rng
    fate = rng.choices(list(NEW_FATES), list(NEW_FATES.values()))[0]
    age = now - c.reported_at
    wait = age < _days(60) and rng.random() < 0.1  # a transfer not yet taken up
    fate = "transfer" if wait else fate
    yield from _report(c, cast)
    t = c.last_at or c.reported_at
    if age < _days(30) and rng.random() < 0.3:
        return  # nobody has been there yet: the site visit is overdue
    if rng.random() < 0.12:
        visit = _office(t + _hours(rng.uniform(26, 72)), rng)  # late
    else:
        visit = t + _hours(rng.uniform(0.3, 6) if c.channel == "patrol" else rng.uniform(1, 8))
        if not 7 <= visit.astimezone(LOCAL).hour < 20:
            visit = _office(visit, rng)
        if visit - c.reported_at > _hours(23.5):
            visit = max(c.reported_at + _hours(rng.uniform(20, 23.5)), t + _hours(0.2))
    officer = cast.officer(c)
    yield _photo_before(c, officer, visit, "现场核查照片")
    present = rng.choice(("当事人在场", "当事人不在场，已张贴告知书"))
    yield StoryStep(
        visit,
        "act",
        officer,
        "site_visit",
        note=f"现场核查：{c.row['description']}，占地面积约{float(c.row['area_m2']):.0f}平方米，"
        f"{present}",
    )
    t = visit
    if fate == "transfer":
        yield from _transfer_out(c, cast, t, wait)
        if c.state == "transferred":
            return
        t = c.last_at or t
    if fate == "visited":
        return  # the decision is pending
    if fate == "dismissed":
        t = _office(t + _hours(rng.uniform(2, 48)), rng, weekdays=True)
        yield StoryStep(t, "act", cast.officer(c), "dismiss", note=rng.choice(DISMISS_NOTES))
        return
    if fate == "backlog":
        t = _office(t + _hours(rng.uniform(2, 72)), rng, weekdays=True)
        yield StoryStep(
            t,
            "act",
            cast.officer(c),
            "register_backlog",
            note="经核查，该建筑建成已久，确认为存量违建，纳入台账管理",
        )
        yield from backlog_work(c, cast, t, pace, campaign_start)
        return
    t = _office(t + _hours(rng.uniform(1, 30)), rng)
    officer = cast.officer(c)
    yield StoryStep(
        t,
        "act",
        officer,
        "confirm",
        note="经调查，当事人未取得建设工程规划许可证，认定为违法建设",
    )
    if fate == "confirmed":
        return  # the order is still to be served
    t = _office(t + _hours(rng.uniform(0.5, 24)), rng, weekdays=True)
    t = yield from _stop_order(c, officer, t, rng)
    if fate == "stopped":
        return  # the owner contests the demolition
    if (fate == "sealed" or rng.random() < 0.12) and c.department_type != "natural_resources":
        t = _office(t + _days(rng.uniform(1, 4)), rng)
        yield _photo_before(c, officer, t, "继续施工现场照片")
        yield _document_before(c, officer, t, "查封施工现场决定书")
        yield StoryStep(t, "act", officer, "seal", note="当事人拒不停止施工，依法查封施工现场")
        if fate == "sealed":
            return  # sealed; the demolition is being prepared
    t = _office(t + _days(rng.uniform(3, 40) * pace), rng)
    method = rng.choices(("self", "agreed", "assisted", "forced"), (45, 25, 20, 10))[0]
    yield _photo_before(c, officer, t, "拆除后现场照片")
    yield StoryStep(
        t,
        "act",
        officer,
        "demolish_continued",
        data={"method": method},
        note=f"续建部分已拆除：{METHOD_NOTES[method]}",
    )
    if fate == "demolished":
        return  # waiting for the verification
    yield from _verify_and_sign_off(c, cast, t, pace)


def _verify_and_sign_off(c: DemoCase, cast: Cast, t: datetime, pace: float) -> Iterator[StoryStep]:
    rng = c.rng
    t = _office(t + _days(rng.uniform(1, 8) * pace), rng)
    inspector = cast.local(c, "town") or cast.officer(c)
    yield _photo_before(c, inspector, t, "验收照片")
    yield StoryStep(
        t,
        "act",
        inspector,
        "verify",
        note="经现场验收，违法建设已按处置意见处理到位，场地已清理",
    )
    t = _office(t + _days(rng.uniform(0.5, 7) * pace), rng, weekdays=True)
    yield StoryStep(t, "act", cast.officer(c), "sign_off", note="经验收合格，予以销号")


def backlog_story(
    c: DemoCase, cast: Cast, now: datetime, pace: float, campaign_start: datetime
) -> Iterator[StoryStep]:
    """A case on the backlog ledger: nature determined by natural resources, then demolished,
    fined or confiscated, verified and signed off — slowly before the campaign, faster in it;
    a fifth of them stay where they are."""
    rng = c.rng
    yield from _report(c, cast)
    t = c.last_at or c.reported_at
    if c.department_type == "urban_enforcement" and rng.random() < 0.06:
        yield from _transfer_out(c, cast, t, now - c.reported_at < _days(90))
        if c.state == "transferred":
            return
        t = c.last_at or t
    yield from backlog_work(c, cast, t, pace, campaign_start)


def backlog_work(
    c: DemoCase, cast: Cast, t: datetime, pace: float, campaign_start: datetime | None
) -> Iterator[StoryStep]:
    rng = c.rng
    roll = rng.random()
    if roll < 0.12:
        return  # still on the ledger, not yet determined
    driven = campaign_start is not None and t < campaign_start and roll >= 0.40
    if driven:  # slow before the campaign, then disposed of during it
        determined = _office(t + _days(rng.uniform(20, 150)), rng, weekdays=True)
        disposed = max(
            determined + _days(rng.uniform(7, 30)),
            campaign_start + _days(rng.uniform(10, 280) * pace),
        )
    else:
        determined = _office(t + _days(rng.uniform(7, 40)), rng, weekdays=True)
        disposed = determined + _days(rng.uniform(7, 60) * pace)
    assessor = cast.officer(c, "natural_resources")
    disposal = rng.choices(("demolish", "fine", "confiscate"), (72, 23, 5))[0]
    opinion = {"demolish": "限期拆除", "fine": "处以罚款", "confiscate": "没收违法建筑"}[disposal]
    yield _document_before(c, assessor, determined, "违法建设性质认定意见书")
    yield StoryStep(
        determined,
        "act",
        assessor,
        "determine",
        data={"disposal": disposal, **({"demolition_days": 15} if disposal == "demolish" else {})},
        note=f"经认定，该建筑未取得规划许可，属于违法建设；处置意见：{opinion}",
    )
    if roll < 0.24:
        return  # determined; the disposal is stuck
    t = _office(disposed, rng)
    officer = cast.officer(c)
    if disposal == "demolish":
        method = rng.choices(("self", "agreed", "assisted", "forced"), (40, 25, 20, 15))[0]
        yield _photo_before(c, officer, t, "拆除后现场照片")
        yield StoryStep(
            t, "act", officer, "demolish", data={"method": method}, note=METHOD_NOTES[method]
        )
    elif disposal == "fine":
        amount = max(1000, round(float(c.row["area_m2"]) * rng.uniform(50, 150), -2))
        yield _document_before(c, officer, t, "行政处罚决定书")
        yield StoryStep(
            t,
            "act",
            officer,
            "fine",
            data={"amount_yuan": amount},
            note=f"依据《中华人民共和国城乡规划法》第六十四条，处以罚款{amount:.0f}元，已缴纳",
        )
    else:
        yield _document_before(c, officer, t, "没收违法建筑物决定书")
        yield StoryStep(t, "act", officer, "confiscate", note="依法没收违法建筑物，已移交处置")
    if roll < 0.29:
        return  # waiting for the verification
    yield from _verify_and_sign_off(c, cast, t, pace)


# -- playing the stories -----------------------------------------------------------------------


class Player:
    """Runs every story's steps in time order on one clock, through the case service."""

    def __init__(self, service: CaseService, clock: FixedClock, now: datetime, cast: Cast):
        self.service = service
        self.clock = clock
        self.now = now
        self.cast = cast
        self.errors: list[str] = []

    def run(self, stories: list[tuple[DemoCase, Iterator[StoryStep]]]) -> None:
        heap: list = []
        tie = itertools.count()

        def push(c: DemoCase, story: Iterator[StoryStep]) -> None:
            op = next(story, None)
            if op is None:
                return
            if c.last_at is not None and op.at <= c.last_at:
                op.at = c.last_at + timedelta(seconds=30)
            if op.at > self.now:
                return  # the rest of the story lies in the future
            heapq.heappush(heap, (op.at, c.index, next(tie), c, story, op))

        for c, story in stories:
            push(c, story)
        while heap:
            at, _, _, c, story, op = heapq.heappop(heap)
            self.clock.set(at)
            try:
                self.play(c, op)
            except WeijianError as exc:
                self.errors.append(f"{c.row['id']} {op.kind} {op.action or ''}: {exc.message}")
                continue
            c.last_at = at
            push(c, story)

    def play(self, c: DemoCase, op: StoryStep) -> None:
        service, rng = self.service, c.rng
        if op.kind == "report":
            self._report(c, op.who)
        elif op.kind == "photo":
            gps = (op.data or {}).get("gps", True)
            near = (
                (c.lon + rng.uniform(-1, 1) * 2e-4, c.lat + rng.uniform(-1, 1) * 1.5e-4)
                if gps
                else (None, None)
            )
            content, suffix = photo_bytes(rng, op.at, *near)
            stamp = op.at.astimezone(LOCAL).strftime("%Y%m%d_%H%M%S")
            done = service.add_evidence(
                op.who, c.number, io.BytesIO(content), f"IMG_{stamp}.{suffix}", "photo", op.note
            )
            if not (op.data or {}).get("report"):  # the report's photo proves no later step
                c.pending.append(done["sha256"])
        elif op.kind == "document":
            unit = self.cast.departments.get(op.who.department_code or "", "")
            lines = [
                f"案件编号：{c.number}",
                f"地点：{c.row['address']}",
                f"事由：{c.row['description']}",
                f"承办：{unit}{op.who.display_name}",
                f"日期：{op.at.astimezone(LOCAL):%Y年%m月%d日}",
            ]
            content = pdf_bytes(op.title, lines, op.at)
            done = service.add_evidence(
                op.who, c.number, io.BytesIO(content), f"{op.title}.pdf", "document", op.title
            )
            c.pending.append(done["sha256"])
        elif op.kind == "issue":
            fields = dict(op.data["fields"])
            if fields.get("serves") == "@stop_order":
                fields["serves"] = c.documents["stop_order"]
            done = Documents(service).issue(
                op.who, c.number, op.data["kind"], fields, version=c.version
            )
            c.documents[op.data["kind"]] = done["id"]
            self._absorb(c, service.get(op.who, c.number))
        else:
            evidence, c.pending = c.pending, []
            case = service.transition(
                op.who,
                c.number,
                op.action,
                version=c.version,
                note=op.note,
                data=op.data,
                evidence=evidence,
            )
            self._absorb(c, case)

    def _report(self, c: DemoCase, principal: Principal | None) -> None:
        rng = c.rng
        people = c.grid("compound").get("responsible") or c.grid("community").get("responsible")
        grid_person = (people or [{}])[0]
        name = phone = None
        if principal is not None and principal.role == "supervisor":
            if c.channel == "grid_worker":
                name, phone = grid_person.get("name"), grid_person.get("phone")
            elif c.channel == "property_company":
                name = f"{c.grid('compound').get('name') or ''}物业服务中心"
            else:
                name = REPORTERS.get(c.channel)
        elif c.channel in ("hotline", "citizen") and rng.random() < 0.7:
            name = person(rng)
            phone = f"1{rng.choice('35789')}{rng.randint(0, 9)}****{rng.randint(0, 9999):04d}"
        area = float(c.row["area_m2"])
        intake = Intake(
            lon=c.lon,
            lat=c.lat,
            crs="wgs84",
            description=c.row["description"],
            channel=c.channel if principal is not None else None,
            track=c.track,
            address=c.row["address"],
            footprint=_footprint(c.lon, c.lat, area, rng) if rng.random() < 0.8 else None,
            discovered_at=c.discovered_at,
            reporter_name=name,
            reporter_phone=phone,
            external_id=(
                f"BS12345{c.reported_at.astimezone(LOCAL):%Y%m%d}{c.index:04d}"
                if principal is not None and principal.role == "api_client"
                else None
            ),
        )
        case = self.service.create(
            intake,
            principal,
            client_address=f"10.20.{c.index // 250}.{c.index % 250 + 1}"
            if principal is None
            else None,
        )
        c.number = case["number"]
        self._absorb(c, case)

    def _absorb(self, c: DemoCase, case: dict) -> None:
        c.version = case["version"]
        c.state = case["state"]
        department = case.get("department") or {}
        c.department_code = department.get("code")
        c.department_type = department.get("type")


# -- the entry point --------------------------------------------------------------------------


def _read_rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def load_demo_cases(
    engine: Engine,
    samples_dir: Path,
    log: Callable[[str], None] = print,
    *,
    settings: Settings | None = None,
    now: datetime | None = None,
    passwords: Callable[[str], str] | None = None,
) -> dict:
    """Report and work the sample city's cases through the case service, create the demo's
    department users and the clear-to-zero campaign. Does nothing when the database holds
    cases already. Returns the counts (``skipped`` when nothing was done)."""
    from weijian.db.engine import app_engine_for

    started = time.monotonic()
    with engine.connect() as conn:
        existing = conn.execute(text("SELECT count(*) FROM violation_case")).scalar_one()
    if existing:
        log(f"demo cases: the database holds {existing} cases already; none added")
        return {"skipped": True, "existing": existing, "created": 0}
    path = samples_dir / CSV_NAME
    if not path.is_file():
        log(f"demo cases: {path} does not exist; none added")
        return {"skipped": True, "existing": 0, "created": 0}
    settings = settings or get_settings()
    now = (now or datetime.now(UTC)).astimezone(UTC)
    app_engine = app_engine_for(engine.url.render_as_string(hide_password=False))
    try:
        holder = SnapshotHolder(app_engine, files=settings.snapshot_files)
        snap = holder.snapshot
        created_users = ensure_department_users(engine, snap, passwords or DEMO_PASSWORD)
        clock = FixedClock(now)
        service = CaseService(app_engine, holder, settings, clock)
        cast = Cast(engine, snap)
        cases, outside = _plan(_read_rows(path), snap, now)
        if not cases:
            log(f"demo cases: no row of {path} lies in the city; none added")
            return {"skipped": True, "existing": 0, "created": 0, "outside_city": outside}
        start = _campaign_start(cases)
        campaign_at = datetime.combine(start, datetime.min.time(), tzinfo=LOCAL)
        paces = {
            code: random.Random(f"{SEED}:pace:{code}").uniform(0.6, 1.5)
            for code in sorted({c.district for c in cases})
        }
        player = Player(service, clock, now, cast)
        story = {"new": new_story, "backlog": backlog_story}
        stories = [(c, story[c.track](c, cast, now, paces[c.district], campaign_at)) for c in cases]
        player.run(stories)
        clock.set(now)
        campaign = progress.create_campaign(
            service,
            cast.supervisor,
            f"{start.year}年存量违建清零行动",
            start,
            note="以启动日在办存量违建为基数，按网格逐月通报清零进度",
        )
        projects = load_demo_projects(service, clock, cast.supervisor, now)
        city = progress.campaign_progress(service, cast.supervisor, campaign["id"], level="city")
        total = city["levels"]["city"][0]
        overdue = service.list(cast.supervisor, overdue=True, limit=1, with_total=True)["total"]
        with app_engine.connect() as conn:
            states = dict(
                conn.execute(text("SELECT state, count(*) FROM violation_case GROUP BY 1")).all()
            )
            events = conn.execute(text("SELECT count(*) FROM case_event")).scalar_one()
            evidence = conn.execute(text("SELECT count(*) FROM case_evidence")).scalar_one()
    finally:
        app_engine.dispose()
    created = sum(states.values())
    closed = sum(states.get(s, 0) for s in ("signed_off", "not_violation", "merged"))
    result = {
        "skipped": False,
        "created": created,
        "outside_city": outside,
        "states": states,
        "open": created - closed,
        "signed_off": states.get("signed_off", 0),
        "overdue": overdue,
        "events": events,
        "evidence": evidence,
        "users_created": created_users,
        "errors": player.errors,
        "campaign": {
            **campaign,
            "baseline": total["baseline"],
            "signed_off": total["signed_off"],
            "remaining": total["remaining"],
        },
        "projects": projects,
        "seconds": round(time.monotonic() - started, 1),
    }
    log(
        f"demo cases: {created} reported ({result['open']} open, {result['signed_off']} "
        f"signed off, {states.get('not_violation', 0)} dismissed, {overdue} overdue), "
        f"{events} events, {evidence} pieces of evidence, {len(created_users)} department "
        f"users; campaign {campaign['name']} from {start}: baseline {total['baseline']}, "
        f"signed off {total['signed_off']}, remaining {total['remaining']}; "
        f"{len(projects)} construction projects"
        + (f"; {len(player.errors)} steps refused" if player.errors else "")
        + f" ({result['seconds']} s)"
    )
    return result


def _plan(rows: list[dict], snap, now: datetime) -> tuple[list[DemoCase], int]:
    """A :class:`DemoCase` per row inside the city, in the order they were reported."""
    new_days = [date.fromisoformat(r["discovered_at"]) for r in rows if r["stage"] == "new"]
    today = now.astimezone(LOCAL).date()
    shift = max(timedelta(0), today - max(new_days, default=today))
    cases, outside = [], 0
    for index, row in enumerate(rows):
        rng = random.Random(f"{SEED}:{row['id']}")
        lon, lat = float(row["lon"]), float(row["lat"])
        day = date.fromisoformat(row["discovered_at"]) + shift
        found = datetime.combine(day, datetime.min.time(), tzinfo=LOCAL) + _hours(
            rng.uniform(7.5, 17.5)
        )
        channel = CHANNELS.get(row["source"], row["source"])
        track = "backlog" if row["stage"] == "backlog" else "new"
        if track == "backlog":
            delay = rng.uniform(1, 48)
        elif channel in ("grid_worker", "property_company"):
            delay = rng.uniform(25, 70) if rng.random() < 0.1 else rng.uniform(0.2, 6)
        elif channel == "patrol":
            delay = rng.uniform(0.1, 1)
        elif channel in ("hotline", "citizen"):
            delay = rng.uniform(0.1, 3)
        else:
            delay = rng.uniform(2, 30)
        reported = min(found + _hours(delay), now - timedelta(minutes=5))
        found = min(found, reported)
        answer = lookup(snap, lon, lat, on=reported.astimezone(LOCAL).date())
        if (answer.get("grid") or {}).get("district") is None:
            outside += 1
            continue
        cases.append(
            DemoCase(
                index=index,
                row=row,
                lon=lon,
                lat=lat,
                track=track,
                channel=channel,
                discovered_at=found.astimezone(UTC),
                reported_at=reported.astimezone(UTC),
                answer=answer,
                rng=rng,
            )
        )
    cases.sort(key=lambda c: (c.reported_at, c.index))
    return cases, outside


def _campaign_start(cases: list[DemoCase]) -> date:
    """1 March of the year the backlog's last report falls in (or the year before, when that
    would not leave most of the backlog before it)."""
    backlog = sorted(c.reported_at.astimezone(LOCAL).date() for c in cases if c.track == "backlog")
    if not backlog:
        return date(cases[-1].reported_at.astimezone(LOCAL).year, *CAMPAIGN_MONTH_DAY)
    start = date(backlog[-1].year, *CAMPAIGN_MONTH_DAY)
    if sum(d < start for d in backlog) < len(backlog) * 0.6:
        start = date(backlog[-1].year - 1, *CAMPAIGN_MONTH_DAY)
    return start
