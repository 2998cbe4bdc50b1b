"""Clear-to-zero (清零) campaigns: a campaign fixes its baseline — every backlog case open on
its first day, with the grids it was assigned then — and its progress is counted per unit at
every level, month by month; children add up to their parent."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import text

from weijian.cases.clock import LOCAL
from weijian.cases.scope import Principal
from weijian.cases.service import CaseService
from weijian.errors import InputError, NotFoundError, PermissionDenied
from weijian.oversight import figures, units
from weijian.oversight.periods import next_month, period
from weijian.text import clean


def create_campaign(
    cases: CaseService,
    principal: Principal,
    name: str,
    start: date,
    *,
    district: str | None = None,
    note: str | None = None,
) -> dict:
    """A clear-to-zero campaign: its baseline is every backlog case open at its start, with
    the grids each was assigned then."""
    if principal.role not in ("admin", "supervisor", "urban_enforcement", "county_government"):
        raise PermissionDenied(
            f"角色 {principal.role} 无权发起清零行动；清零行动由系统管理员、督导人员、"
            "城管执法部门或区县政府发起",
            code="campaign.role_not_allowed",
            detail=f"the role {principal.role} may not start a campaign",
        )
    name = clean(name, "行动名称", "name", field="name")
    if not name:
        raise InputError(
            "请填写清零行动的名称", code="campaign.name_missing", detail="the campaign has no name"
        )
    note = clean(note, "说明", "note", multiline=True, field="note")
    now = cases.clock.now()
    if start > now.astimezone(LOCAL).date():
        raise InputError(
            f"清零行动的开始日期（{start}）不能晚于今天：基数是当天尚未办结的存量案件",
            code="campaign.start_in_future",
            detail="a campaign's start cannot lie in the future: its baseline is the "
            "backlog open on that day",
        )
    district = units.district_filter(principal, district)
    at, _ = period(start, start)
    with cases.engine.begin() as conn:
        campaign_id = conn.execute(
            text(
                "INSERT INTO campaign (name, start_date, district_code, created_by, note) "
                "VALUES (:n, :s, :d, :b, :note) RETURNING id"
            ),
            {"n": name, "s": start, "d": district, "b": principal.username, "note": note},
        ).scalar_one()
        count = conn.execute(
            text(
                "INSERT INTO campaign_baseline (campaign_id, case_id, district_code, town_code, "
                "community_code, compound_code) SELECT :c, id, district_code, town_code, "
                "community_code, compound_code FROM violation_case WHERE track = 'backlog' "
                "AND reported_at < :at AND (closed_at IS NULL OR closed_at >= :at) "
                "AND (CAST(:d AS text) IS NULL OR district_code = :d)"
            ),
            {"c": campaign_id, "at": at, "d": district},
        ).rowcount
    return {
        "id": campaign_id,
        "name": name,
        "start_date": start.isoformat(),
        "district": district,
        "baseline": count,
    }


def campaigns(cases: CaseService) -> list[dict]:
    with cases.read_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT c.id, c.name, c.start_date, c.district_code, c.created_by, c.created_at, "
                # the baseline's size from the counts kept per district (every baseline case
                # has one): counting 126,000 baseline rows took 14 ms a call
                "(SELECT coalesce(sum(k.baseline), 0) FROM campaign_count k "
                "WHERE k.campaign_id = c.id AND k.level = 'district')::int AS baseline "
                "FROM campaign c ORDER BY c.id"
            )
        )
        return [dict(r._mapping) for r in rows]


def _month_ends(start: date, as_of: date) -> list[date]:
    """The first day of each month after ``start``'s up to ``as_of``'s (exclusive bounds)."""
    out = []
    first = next_month(start.replace(day=1))
    while first <= as_of:
        out.append(first)
        first = next_month(first)
    return out


def _campaign_row(conn, principal: Principal | None, campaign_id: int):
    """The campaign, if it lies in the principal's scope (else 404)."""
    campaign = conn.execute(
        text("SELECT id, name, start_date, district_code FROM campaign WHERE id = :c"),
        {"c": campaign_id},
    ).first()
    if campaign is None:
        raise NotFoundError(
            f"没有编号为 {campaign_id} 的清零行动，请核对编号",
            code="campaign.not_found",
            detail=f"no campaign {campaign_id}",
        )
    if (
        principal is not None
        and not principal.city_wide
        and campaign.district_code not in (None, principal.district_code)
    ):
        raise NotFoundError(
            f"未找到编号为 {campaign_id} 的清零行动（或不在您的权限范围内）",
            code="campaign.not_found",
            detail=f"no campaign {campaign_id} within your scope",
        )
    return campaign


def _summary(campaign) -> dict:
    return {
        "id": campaign.id,
        "name": campaign.name,
        "start_date": campaign.start_date.isoformat(),
        "district": campaign.district_code,
    }


def grid_progress(
    cases: CaseService, principal: Principal | None, campaign_id: int, level: str, code: str
) -> dict:
    """One grid's clear-to-zero figures today, on the grids frozen in the baseline: the row of
    ``campaign_count`` that the database keeps current as cases are signed off — the figures
    :func:`campaign_progress` gives that grid, without counting its whole level."""
    with cases.read_engine.connect() as conn:
        campaign = _campaign_row(conn, principal, campaign_id)
        as_of = cases.clock.now().astimezone(LOCAL).date()
        row = conn.execute(
            text(
                "SELECT baseline, signed_off FROM campaign_count "
                "WHERE campaign_id = :c AND level = :l AND code = :g"
            ),
            {"c": campaign_id, "l": level, "g": code},
        ).first()
    baseline, done = (row.baseline, row.signed_off) if row else (0, 0)
    return {
        "campaign": _summary(campaign),
        "as_of": as_of.isoformat(),
        "baseline": baseline,
        "signed_off": done,
        "remaining": baseline - done,
        "percent": round(100 * done / baseline, 1) if baseline else None,
    }


def campaign_progress(
    cases: CaseService,
    principal: Principal | None,
    campaign_id: int,
    *,
    as_of: date | None = None,
    level: str | None = None,
    grids: str = "frozen",
    levels: tuple[str, ...] | None = None,
    trend_of: tuple[str, str | None] | None = None,
) -> dict:
    """Baseline, signed off since the start, remaining and percent per unit at every level (or
    one, or ``levels``), with the trend month by month; children add up to their parent.
    ``trend_of``: the (level, code) of the one unit whose trend is wanted (the others' trends
    are left empty)."""
    chosen = list(levels) if levels else [level] if level else list(units.LEVELS)
    deepest = max(units.LEVELS.index(lvl) for lvl in chosen)
    with cases.read_engine.connect() as conn:
        campaign = _campaign_row(conn, principal, campaign_id)
        as_of = as_of or cases.clock.now().astimezone(LOCAL).date()
        if as_of < campaign.start_date:
            raise InputError(
                f"统计截止日期（{as_of}）早于清零行动的开始日期（{campaign.start_date}），"
                "请选择开始日期之后的日期",
                code="campaign.as_of_before_start",
                detail="as_of lies before the campaign's start",
            )
        _, until = period(as_of, as_of)
        months = _month_ends(campaign.start_date, as_of)
        if until.date() not in months:  # the month in progress, up to as_of
            months.append(until.date())
        bounds = [datetime.combine(m, time(0), tzinfo=LOCAL) for m in months]
        since, _ = period(campaign.start_date, campaign.start_date)
        counted = figures.campaign_counts(
            conn, campaign_id, until, bounds, start=since, grids=grids, kept=cases.engine,
            deepest=max(deepest, 1),
        )  # fmt: skip
        names = units.grid_names(conn)
    out_levels = {}
    labels = [(m - timedelta(days=1)).strftime("%Y-%m") for m in months]
    keys = [f"month_{i}" for i in range(len(months))]
    for lvl in chosen:
        rows = []
        for row in units.rows(counted, lvl, names, principal):
            counts = row.pop("counts")
            baseline, done = counts["baseline"], counts["signed_off"]
            wanted = trend_of is None or trend_of == (lvl, row["code"])
            trend = [
                {
                    "month": label,
                    "signed_off": counts[key],
                    "remaining": baseline - counts[key],
                    "percent": round(100 * counts[key] / baseline, 1) if baseline else None,
                }
                for label, key in zip(labels, keys, strict=True)
                if wanted
            ]
            rows.append(
                {
                    **row,
                    "baseline": baseline,
                    "signed_off": done,
                    "remaining": baseline - done,
                    "percent": round(100 * done / baseline, 1) if baseline else None,
                    "trend": trend,
                }
            )
        out_levels[lvl] = rows
    return {
        "campaign": _summary(campaign),
        "as_of": as_of.isoformat(),
        "grids": grids,
        "levels": out_levels,
    }
