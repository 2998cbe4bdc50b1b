"""What the case tests share: the hand-built city with a second street, one user per role,
the app on a clock the test moves, and a small HTTP client that logs in as anyone.

Spots (km from the city's south-west corner, see tests/city.py):
  COMPOUND (0.3, 0.3)  江山花园 in 东山社区, 新建街道, 浑江区; urban area → 浑江区城管执法
  STREET (1.5, 1.5)    新建街道 only; urban area → 浑江区城管执法
  RED_FLAG (3.0, 1.0)  红旗街道 (the second street), 浑江区; no zone → unassigned
  FARMLAND (0.5, 2.5)  浑江区 farmland → 浑江区自然资源
  JIANGYUAN (4.5, 0.5) 江源区 town-planned land → 江源区人民政府
"""

from __future__ import annotations

import io
import itertools
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from PIL import ExifTags, Image

from tests import city
from tests.conftest import login
from tests.test_evidence import PDF, dms
from weijian.cases import users
from weijian.cases.clock import FixedClock
from weijian.cases.workflow import default_workflow
from weijian.jurisdiction.snapshot import load_snapshot
from weijian.layers.importing import GridImport, import_grids
from weijian.settings import Settings

COMPOUND = (0.3, 0.3)
STREET = (1.5, 1.5)
RED_FLAG = (3.0, 1.0)
FARMLAND = (0.5, 2.5)
JIANGYUAN = (4.5, 0.5)
PASSWORD = "test-password"
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 in Baishan, a Monday

HJ, JY = "220602", "220605"
TOWN1, TOWN2 = "220602001", "220602002"
#: grid chains (district, town, community, compound) of the test city, whole and cut short at
#: each level, and one of another district: where the counting tests put random cases
GRID_CHAINS = [
    ("220602", TOWN1, "220602001001", "220602001001001"),
    ("220602", TOWN1, "220602001001", None),
    ("220602", TOWN1, None, None),
    ("220602", TOWN2, None, None),
    ("220602", None, None, None),
    ("220605", None, None, None),
]
COMMUNITY, COMPOUND_CODE = "220602001001", "220602001001001"
UE_HJ, NR_HJ, CG_JY = (
    f"{HJ}-urban_enforcement",
    f"{HJ}-natural_resources",
    f"{JY}-county_government",
)

USERS = [
    ("admin", "admin", None),
    ("supervisor", "supervisor", None),
    ("ue_hj", "urban_enforcement", HJ),
    ("ue_hj2", "urban_enforcement", HJ),
    ("nr_hj", "natural_resources", HJ),
    ("cg_hj", "county_government", HJ),
    ("ue_jy", "urban_enforcement", JY),
    ("cg_jy", "county_government", JY),
    ("town1", "town", TOWN1),
    ("town2", "town", TOWN2),
    ("community", "community", COMMUNITY),
    ("gridder", "grid_worker", COMPOUND_CODE),
    ("property", "property_company", COMPOUND_CODE),
]


def build_city(engine, folder: Path) -> None:
    city.build(engine, folder)
    frame = city.frame(
        [
            {"DM": TOWN1, "MC": "新建街道", "FZR": "孙丽", "DH": "13904390003",
             "geometry": city.box(0, 0, 2, 2)},
            {"DM": TOWN2, "MC": "红旗街道", "FZR": "吴刚", "DH": "13904390006",
             "geometry": city.box(2, 0, 4, 2)},
        ]
    )  # fmt: skip
    path = city.catalogue.write_shapefile(frame, folder / "town2", "town2")
    import_grids(
        engine,
        GridImport(
            path=path,
            level="town",
            code_field="DM",
            name_field="MC",
            responsible_field="FZR",
            phone_field="DH",
        ),
    )


def add_users(engine, people=USERS, password: str = PASSWORD) -> None:
    """``people`` — (username, role, grid code) — added with ``password``."""
    snap = load_snapshot(engine)
    with engine.begin() as conn:
        for username, role, grid in people:
            users.add_user(
                conn,
                snap,
                default_workflow(),
                username=username,
                password=password,
                role=role,
                grid_code=grid,
                display_name=f"{username}-姓名",
                phone="13800000000",
            )


def load_workflow(engine, document: dict, note: str) -> None:
    """A city's own workflow made the one in force, as ``weijian workflow load`` does; back
    when the served app has looked at it again (it does so once a second at most)."""
    from weijian.cases import definitions
    from weijian.cases.service import WORKFLOW_CHECK_S
    from weijian.cases.workflow import parse

    parse(document)
    with engine.begin() as conn:
        definitions.store(conn, "workflow_definition", document, "test", note)
    time.sleep(WORKFLOW_CHECK_S + 0.1)


def city_with_users(engine, folder: Path) -> None:
    """:func:`build_city` and :func:`add_users` on an empty database, built the first time on
    each database and copied back the next times (:func:`tests.city.built_once`)."""

    def build() -> None:
        build_city(engine, folder)
        add_users(engine)

    city.built_once(engine, "city with users", (*city.TABLES, "app_user"), build)


@contextmanager
def served_city(folder: Path, **options):
    """A scratch database holding the hand-built city and a user per role, served by a real
    uvicorn on a clock the tests move: yields the ``Api`` and the engine, for a module's tests.
    ``options``: settings of the served app (its evidence folder is ``folder / "evidence"``)."""
    from tests.conftest import scratch_database, serving
    from weijian.api.app import create_app
    from weijian.db.engine import engine_for

    with scratch_database() as url:
        engine = engine_for(url)
        build_city(engine, folder / "city")
        add_users(engine)
        clock = FixedClock(START)
        settings = Settings(
            **{"evidence_dir": folder / "evidence", "map_poll_seconds": 0.5, **options}
        )
        with serving(create_app(engine, clock=clock, settings=settings)) as base:
            yield Api(base, clock, settings), engine
        engine.dispose()


def lonlat(spot: tuple[float, float]) -> tuple[float, float]:
    return city.lonlat(*spot)


_SHOTS = itertools.count(1)


def site_photo(lon: float, lat: float, taken: str | None = None) -> bytes:
    """A new photo taken at (lon, lat): a JPEG with its GPS (and ``taken``, EXIF's
    "YYYY:MM:DD HH:MM:SS" in local time) whose bytes no other call gives — a site visit needs a
    photo never attached to a case before."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "TestPhone"
    exif[ExifTags.Base.ImageDescription] = f"shot {next(_SHOTS)}"
    if taken:
        exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = taken
    exif.get_ifd(ExifTags.IFD.GPSInfo).update(
        {
            ExifTags.GPS.GPSLatitudeRef: "N",
            ExifTags.GPS.GPSLatitude: dms(lat),
            ExifTags.GPS.GPSLongitudeRef: "E",
            ExifTags.GPS.GPSLongitude: dms(lon),
        }
    )
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (180, 120, 60)).save(out, "JPEG", exif=exif, quality=90)
    return out.getvalue()


@dataclass
class Api:
    url: str
    clock: FixedClock
    settings: Settings
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str | None) -> dict:
        if who is None:
            return {}
        if who not in self.tokens:
            r = login(self.url, who, PASSWORD)
            assert r.status_code == 200, r.text
            self.tokens[who] = r.json()["access_token"]
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def send(self, method: str, path: str, who: str | None, **kwargs) -> httpx.Response:
        """One request as ``who``; a token the moved clock has expired is renewed once."""
        extra = kwargs.pop("headers", {})
        r = httpx.request(
            method, f"{self.url}{path}", headers={**self.headers(who), **extra}, timeout=60,
            **kwargs,
        )  # fmt: skip
        if r.status_code == 401 and who and "expired" in r.text:
            self.tokens.pop(who, None)
            r = httpx.request(
                method, f"{self.url}{path}", headers={**self.headers(who), **extra}, timeout=60,
                **kwargs,
            )  # fmt: skip
        return r

    def get(self, path: str, who: str | None = None, **params) -> httpx.Response:
        return self.send("GET", path, who, params=params)

    def post(self, path: str, who: str | None = None, **kwargs) -> httpx.Response:
        return self.send("POST", path, who, **kwargs)

    def report(self, who: str | None, spot, expect: int = 201, **fields) -> dict:
        lon, lat = lonlat(spot)
        body = {"lon": lon, "lat": lat, "crs": "cgcs2000", "description": "楼顶私建彩钢房"}
        body.update(fields)
        r = self.post("/api/v1/cases", who, json=body)
        assert r.status_code == expect, r.text
        return r.json()

    def case(self, who: str, number: str) -> dict:
        r = self.get(f"/api/v1/cases/{number}", who)
        assert r.status_code == 200, r.text
        return r.json()

    def photo(self, who: str, number: str, spot=None, offset_m: float = 0.0) -> str:
        case = self.case(who, number)
        lon, lat = (case["lon"], case["lat"]) if spot is None else lonlat(spot)
        lat += offset_m / 111_000.0
        r = self.post(
            f"/api/v1/cases/{number}/evidence",
            who,
            files={"file": ("现场.jpg", site_photo(lon, lat), "image/jpeg")},
            data={"kind": "photo"},
        )
        assert r.status_code == 201, r.text
        return r.json()["sha256"]

    def document(self, who: str, number: str, text: str = "责令停止违法建设通知书") -> str:
        content = PDF + text.encode()
        r = self.post(
            f"/api/v1/cases/{number}/evidence",
            who,
            files={"file": ("文书.pdf", content, "application/pdf")},
            data={"kind": "document"},
        )
        assert r.status_code == 201, r.text
        return r.json()["sha256"]

    def act(self, who: str, number: str, action: str, expect: int = 200, **body) -> dict:
        if "version" not in body:
            body["version"] = self.case(who, number)["version"]
        body["action"] = action
        r = self.post(f"/api/v1/cases/{number}/transitions", who, json=body)
        assert r.status_code == expect, r.text
        return r.json()

    def sign_off_backlog(self, number: str, who: str = "admin") -> None:
        """A ledgered backlog case through determination, demolition and verification to its
        sign-off, each step with the evidence it needs."""
        doc = self.document(who, number)
        self.act(
            who, number, "determine", data={"disposal": "demolish"}, evidence=[doc], note="应予拆除"
        )
        photo = self.photo(who, number)
        self.act(who, number, "demolish", data={"method": "agreed"}, evidence=[photo])
        self.act(who, number, "verify", evidence=[self.photo(who, number)])
        self.act(who, number, "sign_off")
