"""What the map tests share: the hand-built city with cases in known places and states, a
clear-to-zero campaign with one sign-off, and helpers for tiles.

Cases (tests/casekit.py spots), the clock ending on 2026-03-24 18:00 in Baishan:
  backlog  STREET, (1.2, 1.4), COMPOUND   新建街道 (town1); COMPOUND's signed off on 03-20
  backlog  RED_FLAG                       红旗街道 (town2)
  new      STREET (patrol, 03-02)         town1, never visited → overdue
  (the open backlog cases are overdue too: their 15-day nature determination ended 03-17)
  new      FARMLAND (grid worker, 03-24)  town1's district, natural resources; not yet due
  new      JIANGYUAN (hotline, 03-24)     江源区
The campaign starts on 2026-03-03: its baseline is the four backlog cases.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import mapbox_vector_tile

from tests.casekit import COMPOUND, FARMLAND, JIANGYUAN, RED_FLAG, START, STREET, Api, lonlat
from weijian.cases.clock import LOCAL

END = datetime(2026, 3, 24, 18, tzinfo=LOCAL)


@dataclass
class MapCity:
    api: Api
    numbers: dict[str, str]  # name → case number
    campaign: int


def populate(api: Api) -> MapCity:
    numbers = {}
    numbers["street_backlog"] = api.report("town1", STREET, track="backlog", channel="patrol")[
        "number"
    ]
    numbers["street_backlog2"] = api.report("town1", (1.2, 1.4), track="backlog", channel="patrol")[
        "number"
    ]
    numbers["compound_backlog"] = api.report("town1", COMPOUND, track="backlog", channel="patrol")[
        "number"
    ]
    numbers["red_flag_backlog"] = api.report("town2", RED_FLAG, track="backlog", channel="patrol")[
        "number"
    ]
    numbers["street_new"] = api.report(
        "town1", (1.6, 1.55), channel="patrol", address="新建街道建设路8号"
    )["number"]
    api.clock.set(START + timedelta(days=1))
    r = api.post(
        "/api/v1/campaigns",
        "supervisor",
        json={"name": "2026年存量违建清零行动", "start_date": "2026-03-03"},
    )
    assert r.status_code == 201, r.text
    campaign = r.json()["id"]
    api.clock.set(datetime(2026, 3, 20, 10, tzinfo=LOCAL))
    api.sign_off_backlog(numbers["compound_backlog"])
    api.clock.set(datetime(2026, 3, 24, 9, tzinfo=LOCAL))
    numbers["farmland_new"] = api.report("supervisor", FARMLAND, channel="grid_worker")["number"]
    numbers["jiangyuan_new"] = api.report("supervisor", JIANGYUAN, channel="hotline")["number"]
    api.clock.set(END)
    return MapCity(api, numbers, campaign)


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    n = 1 << z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return z, x, y


def spot_tile(spot, z: int) -> tuple[int, int, int]:
    return tile_of(*lonlat(spot), z)


def tile_path(kind: str, spot, z: int) -> str:
    z, x, y = spot_tile(spot, z)
    return f"/api/v1/map/tiles/{kind}/{z}/{x}/{y}.mvt"


def decode(content: bytes) -> dict:
    return mapbox_vector_tile.decode(content) if content else {}


def city_bbox(margin_km: float = 0.5) -> str:
    lo = lonlat((-margin_km, -margin_km))
    hi = lonlat((8 + margin_km, 4 + margin_km))
    return f"{lo[0]:.6f},{lo[1]:.6f},{hi[0]:.6f},{hi[1]:.6f}"


def wait_until(check, seconds: float = 10.0):
    """``check()``'s first truthy value; the map's case table catches up every 0.2 s."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)
