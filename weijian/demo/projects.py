"""The demo's construction projects (建设项目追踪): three red lines drawn beside open cases of the
sample city, so the register, the map's layer and the printed maps have something to show —
one under construction whose inspection is overdue and whose case reaches beyond the red line,
one at completion acceptance, one just approved."""

from __future__ import annotations

from datetime import datetime, timedelta

import pyproj
import shapely
from sqlalchemy import text

from weijian.cases.clock import FixedClock
from weijian.cases.scope import Principal
from weijian.cases.service import CaseService
from weijian.gis.crs import gk3_epsg_for_lon
from weijian.projects.register import Projects

#: (name, developer, stage, the red line's side in m, its centre west of the case in m)
PLANS = [
    ("城南安置小区二期", "白山市城投置业有限公司", "under_construction", 160.0, 79.0),
    ("江畔花园商业综合体", "吉林省江畔房地产开发有限公司", "completion_acceptance", 200.0, 40.0),
    ("第三中学教学楼扩建", "白山市教育局", "approved", 120.0, 20.0),
]


def _red_line(lon: float, lat: float, side: float, west: float) -> dict:
    """A square of ``side`` metres whose centre lies ``west`` metres west of (lon, lat)."""
    epsg = gk3_epsg_for_lon(lon)
    to_gk = pyproj.Transformer.from_crs(4490, epsg, always_xy=True)
    back = pyproj.Transformer.from_crs(epsg, 4490, always_xy=True)
    x, y = to_gk.transform(lon, lat)
    square = shapely.box(x - west - side / 2, y - side / 2, x - west + side / 2, y + side / 2)
    ring = [list(back.transform(px, py)) for px, py in square.exterior.coords]
    return {"type": "Polygon", "coordinates": [ring]}


def load_demo_projects(service: CaseService, clock: FixedClock, who: Principal, now: datetime):
    """The demo's projects beside the newest open cases with a footprint; the numbers made."""
    with service.engine.connect() as conn:
        spots = conn.execute(
            text(
                "SELECT DISTINCT ON (district_code) number, ST_X(geom) AS lon, ST_Y(geom) AS lat "
                "FROM violation_case WHERE is_open AND track = 'new' AND footprint IS NOT NULL "
                "ORDER BY district_code, reported_at DESC LIMIT :n"
            ),
            {"n": len(PLANS)},
        ).all()
    projects = Projects(service)
    made = []
    for (name, developer, stage, side, west), spot in zip(PLANS, spots, strict=False):
        clock.set(now - timedelta(days=50))
        project = projects.create(
            who,
            name=name,
            developer=developer,
            red_line=_red_line(spot.lon, spot.lat, side, west),
            crs="cgcs2000",
            planning_permit=f"建字第{now.year}{len(made) + 1:04d}号",
            construction_permit=f"{now.year}0301{len(made) + 1:02d}"
            if stage != "approved"
            else None,
        )
        if stage != "approved":
            projects.set_stage(who, project["id"], "under_construction")
            projects.inspect(
                who,
                project["id"],
                kind="construction",
                findings="基础施工，按规划许可放线，未见超出红线建设",
                passed=True,
                inspected_at=now - timedelta(days=45),
            )
        if stage == "completion_acceptance":
            clock.set(now - timedelta(days=5))
            projects.set_stage(who, project["id"], "completion_acceptance")
        made.append(project["code"])
    clock.set(now)
    return made
