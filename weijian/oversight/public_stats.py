"""The public statistics (``/report/stats``): per district and month, the new cases, the
backlog at the month's end, the cases signed off, the clear-to-zero (清零) percent of the
latest campaign, the average handling time and the reporters' average rating — and the grids
of one level with their 清零 percent, for a map coloured by it.

Only counts leave this module: never a case's point (not even rounded), a number, a name, a
phone or a note; a grid is published with its code, name and simplified outline (the
``responsible`` people and the grid's attributes stay behind). A month's figures are cached for
a minute per process while nothing changes: the page is public and may be asked often.
"""

from __future__ import annotations

import json
import threading
from datetime import date, timedelta

from cachetools import TTLCache
from sqlalchemy import text

from weijian.cases.clock import LOCAL
from weijian.errors import InputError
from weijian.oversight import progress, units
from weijian.oversight.periods import month_bounds, next_month, parse_month

#: the months offered, newest first
MONTHS_SHOWN = 12
#: the levels whose grids the public map may show
MAP_LEVELS = ("district", "town", "community")
#: outlines simplified to about 10 m, coordinates to 5 decimals (about 1 m)
SIMPLIFY_DEG = 0.0001
DECIMALS = 5
_cache: TTLCache = TTLCache(maxsize=64, ttl=60)
_lock = threading.Lock()


def _month(cases, month: str | None) -> date:
    today = cases.clock.now().astimezone(LOCAL).date()
    chosen = parse_month(month) if month else today.replace(day=1)
    if chosen > today:
        raise InputError(
            f"月份 {chosen:%Y-%m} 尚未到来，请选择本月或以前的月份",
            code="public_stats.month_future",
            detail="the month lies in the future",
        )
    return chosen


def _months(today: date) -> list[str]:
    out, first = [], today.replace(day=1)
    for _ in range(MONTHS_SHOWN):
        out.append(f"{first:%Y-%m}")
        first = (first - timedelta(days=1)).replace(day=1)
    return out


#: what changes when a figure may: a new event of any case, a rating, a campaign, a layer
DATA_VERSION = text(
    "SELECT (SELECT max(id) FROM case_event), (SELECT max(rated_at) FROM case_rating), "
    "(SELECT max(id) FROM campaign), (SELECT max(activated_at) FROM layer_version)"
)


def _cached(cases, key, make):
    """``make()``, or its value made within the minute for the same data (four index reads
    tell whether anything changed)."""
    with cases.read_engine.connect() as conn:
        key = (*key, tuple(conn.execute(DATA_VERSION).one()), cases.clock.now().date())
    with _lock:
        if key in _cache:
            return _cache[key]
    value = make()
    with _lock:
        _cache[key] = value
    return value


CASE_SQL = """
SELECT district_code,
  count(*) FILTER (WHERE reported_at >= :start) AS new_cases,
  count(*) FILTER (WHERE closed_at IS NULL OR closed_at >= :end) AS backlog,
  count(*) FILTER (WHERE signed_off_at >= :start AND signed_off_at < :end) AS signed_off,
  count(*) FILTER (WHERE closed_at >= :start AND closed_at < :end) AS closed,
  avg(extract(epoch FROM closed_at - reported_at) / 86400)
      FILTER (WHERE closed_at >= :start AND closed_at < :end) AS handling_days
FROM violation_case WHERE reported_at < :end
GROUP BY ROLLUP (district_code)
"""

RATING_SQL = """
SELECT v.district_code, count(*) AS ratings, avg(r.score) AS rating
FROM case_rating r JOIN violation_case v ON v.id = r.case_id
WHERE r.rated_at >= :start AND r.rated_at < :end
GROUP BY ROLLUP (v.district_code)
"""


def _campaign(cases, as_of: date) -> dict | None:
    """The newest clear-to-zero campaign begun by ``as_of``, its progress at every level."""
    started = [c for c in progress.campaigns(cases) if c["start_date"] <= as_of]
    if not started:
        return None
    return progress.campaign_progress(cases, None, started[-1]["id"], as_of=as_of)


def _as_of(cases, month: date) -> date:
    today = cases.clock.now().astimezone(LOCAL).date()
    return min(today, next_month(month) - timedelta(days=1))


def month_figures(cases, month: str | None = None) -> dict:
    """Each district's figures for ``month`` (``YYYY-MM``; this month by default) and the
    city's."""
    chosen = _month(cases, month)
    return _cached(cases, ("month", chosen), lambda: _figures(cases, chosen))


def _figures(cases, month: date) -> dict:
    start, end = month_bounds(month)
    as_of = _as_of(cases, month)
    with cases.read_engine.connect() as conn:
        counted = conn.execute(text(CASE_SQL), {"start": start, "end": end}).all()
        rated = {
            r.district_code: r
            for r in conn.execute(text(RATING_SQL), {"start": start, "end": end}).all()
        }
        names = units.grid_names(conn)
    campaign = _campaign(cases, as_of)
    clear = {
        row["code"] if row["level"] != "city" else None: row
        for level in ("city", "district")
        for row in (campaign["levels"][level] if campaign else [])
    }

    def figures(code, row) -> dict:
        rating = rated.get(code)
        done = clear.get(code)
        return {
            "code": code,
            "name": "全市" if code is None else names.get(code, code),
            "new_cases": row.new_cases,
            "backlog": row.backlog,
            "signed_off": row.signed_off,
            "closed": row.closed,
            "avg_handling_days": round(float(row.handling_days), 1)
            if row.handling_days is not None
            else None,
            "ratings": rating.ratings if rating else 0,
            "avg_rating": round(float(rating.rating), 2) if rating and rating.ratings else None,
            "clear_baseline": done["baseline"] if done else None,
            "clear_signed_off": done["signed_off"] if done else None,
            "clear_percent": done["percent"] if done else None,
        }

    city = next((r for r in counted if r.district_code is None), None)
    districts = [figures(r.district_code, r) for r in counted if r.district_code is not None]
    return {
        "month": f"{month:%Y-%m}",
        "months": _months(cases.clock.now().astimezone(LOCAL).date()),
        "as_of": as_of.isoformat(),
        "campaign": {k: campaign["campaign"][k] for k in ("name", "start_date")}
        if campaign
        else None,
        "city": figures(None, city or _Empty()),
        "districts": sorted(districts, key=lambda d: d["code"]),
    }


class _Empty:
    new_cases = backlog = signed_off = closed = 0
    handling_days = None


def grid_map(cases, level: str = "community", month: str | None = None) -> dict:
    """The active grids of ``level`` as GeoJSON, each with its 清零 figures at the end of
    ``month``: code, name, baseline, signed off, remaining, percent — nothing else."""
    if level not in MAP_LEVELS:
        raise InputError(
            f"网格层级“{level}”无效，应为 district（区县）、town（街道/乡镇）"
            "或 community（社区/村）",
            code="public_stats.level_invalid",
            detail=f"level must be one of {', '.join(MAP_LEVELS)}",
        )
    chosen = _month(cases, month)
    return _cached(cases, ("map", level, chosen), lambda: _grid_map(cases, level, chosen))


def _grid_map(cases, level: str, month: date) -> dict:
    campaign = _campaign(cases, _as_of(cases, month))
    clear = {r["code"]: r for r in (campaign["levels"][level] if campaign else [])}
    with cases.read_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT code, name, parent_code, ST_AsGeoJSON(ST_SimplifyPreserveTopology(geom, "
                ":tol), :dec) AS geometry FROM active_grid WHERE level = :level ORDER BY code"
            ),
            {"tol": SIMPLIFY_DEG, "dec": DECIMALS, "level": level},
        ).all()
    features = []
    for row in rows:
        done = clear.get(row.code)
        features.append(
            {
                "type": "Feature",
                "geometry": json.loads(row.geometry),
                "properties": {
                    "code": row.code,
                    "name": row.name,
                    "parent": row.parent_code,
                    "baseline": done["baseline"] if done else 0,
                    "signed_off": done["signed_off"] if done else 0,
                    "remaining": done["remaining"] if done else 0,
                    "percent": done["percent"] if done else None,
                },
            }
        )
    return {
        "type": "FeatureCollection",
        "level": level,
        "month": f"{month:%Y-%m}",
        "campaign": {k: campaign["campaign"][k] for k in ("name", "start_date")}
        if campaign
        else None,
        "features": features,
    }
