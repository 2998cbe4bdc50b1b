"""What the district and the city look at every month: the assessment of every grid unit,
the property companies' rating, clear-to-zero campaigns, responsibility tracing.

The counts come from :mod:`.figures` (grouped SQL), the indicators and the ranking from
:mod:`.assessment` (definitions as data); this module joins them to periods, scopes, grid names
and campaigns, for the API and the CLI alike.
"""

from __future__ import annotations

import io
from datetime import date, datetime, time, timedelta

from sqlalchemy import Connection, text

from weijian.cases import assessment, documents, figures, ledger
from weijian.cases.clock import LOCAL
from weijian.cases.scope import Principal
from weijian.cases.service import CaseService
from weijian.cases.users import ancestors
from weijian.errors import InputError, NotFoundError, PermissionDenied
from weijian.layers.schema import GRID_LEVELS

LEVELS = ("city", *GRID_LEVELS)
LEVEL_LABELS = {
    "city": "全市",
    "district": "区县",
    "town": "镇（街道）",
    "community": "社区",
    "compound": "小区",
}
UNGRIDDED = "（未划入下级网格）"


# -- periods -------------------------------------------------------------------------------


def period(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, the day after end 00:00) in Beijing time: ``end`` is included."""
    if end < start:
        raise InputError(f"the period ends ({end}) before it starts ({start})")
    return (
        datetime.combine(start, time(0), tzinfo=LOCAL),
        datetime.combine(end + timedelta(days=1), time(0), tzinfo=LOCAL),
    )


def month_period(month: str) -> tuple[date, date]:
    """The first and the last day of a month given as YYYY-MM."""
    first = ledger.parse_month(month)
    return first, ledger.next_month(first) - timedelta(days=1)


# -- definitions -----------------------------------------------------------------------------


def active_definitions(conn: Connection) -> tuple[int, assessment.Definitions]:
    version = documents.active_version(conn, "assessment_definition")
    return version, assessment.parse(documents.document(conn, "assessment_definition", version))


def load_definitions(conn: Connection, document: dict, by: str, note: str) -> int:
    assessment.parse(document)
    return documents.store(conn, "assessment_definition", document, by, note)


# -- names and scopes ----------------------------------------------------------------------


def grid_names(conn: Connection) -> dict[str, str]:
    """Every grid code ever imported with its latest name (retired codes keep theirs)."""
    rows = conn.execute(
        text("SELECT DISTINCT ON (code) code, name FROM grid ORDER BY code, version_id DESC")
    )
    return dict(rows.all())


def _district_filter(principal: Principal | None, district: str | None) -> str | None:
    if principal is None or principal.city_wide:
        return district
    if district and district != principal.district_code:
        raise NotFoundError(f"no district {district} within your scope")
    return principal.district_code


def _visible(principal: Principal | None, unit: dict) -> bool:
    if principal is None or principal.city_wide or principal.grid_level == "district":
        return True
    return principal.grid_code in unit["chain"]


def _rows(units: dict, level: str, names: dict, principal: Principal | None) -> list[dict]:
    out = []
    for unit in units.values():
        if unit["level"] != level or not _visible(principal, unit):
            continue
        code = unit["code"]
        chain = unit["chain"]
        out.append(
            {
                "level": level,
                "code": code,
                "name": "全市"
                if level == "city"
                else (names.get(code, code) if code else UNGRIDDED),
                "chain": chain,
                "parent": chain[-2] if len(chain) >= 2 else None,
                "counts": unit["counts"],
            }
        )
    return sorted(out, key=lambda r: (r["chain"] is None, [c or "" for c in r["chain"]]))


# -- assessment ----------------------------------------------------------------------------


def assess(
    cases: CaseService,
    principal: Principal | None,
    start: date,
    end: date,
    *,
    level: str = "town",
    district: str | None = None,
    grids: str = "frozen",
) -> dict:
    """Indicators and the ranking of every unit of ``level`` (and every level's counts)."""
    if level not in LEVELS:
        raise InputError(f"level must be one of {', '.join(LEVELS)}")
    if principal is not None and principal.role in ("grid_worker", "property_company"):
        raise PermissionDenied("the assessment is read by supervisors, departments and towns")
    lo, hi = period(start, end)
    district = _district_filter(principal, district)
    with cases.engine.connect() as conn:
        version, definitions = active_definitions(conn)
        units = figures.unit_counts(conn, definitions, lo, hi, grids=grids, district=district)
        names = grid_names(conn)
    rows = _rows(units, level, names, principal)
    ranked = assessment.rank(definitions.indicators, rows)
    return {
        "period": {"from": start.isoformat(), "to": end.isoformat()},
        "level": level,
        "level_label": LEVEL_LABELS[level],
        "grids": grids,
        "district": district,
        "definitions_version": version,
        "definitions_name": definitions.name,
        "indicators": [i.as_json() for i in definitions.indicators],
        "units": ranked,
    }


def all_levels(
    cases: CaseService,
    principal: Principal | None,
    start: date,
    end: date,
    *,
    district: str | None = None,
    grids: str = "frozen",
) -> dict[str, list[dict]]:
    """Counts and indicators of every unit at every level (one query)."""
    lo, hi = period(start, end)
    district = _district_filter(principal, district)
    with cases.engine.connect() as conn:
        _, definitions = active_definitions(conn)
        units = figures.unit_counts(conn, definitions, lo, hi, grids=grids, district=district)
        names = grid_names(conn)
    return {
        level: [
            {**row, "indicators": assessment.values(definitions.indicators, row["counts"])}
            for row in _rows(units, level, names, principal)
        ]
        for level in LEVELS
    }


def property_companies(
    cases: CaseService, principal: Principal | None, start: date, end: date, district=None
) -> dict:
    lo, hi = period(start, end)
    district = _district_filter(principal, district)
    with cases.engine.connect() as conn:
        _, definitions = active_definitions(conn)
        companies = figures.property_counts(conn, lo, hi, district)
        names = grid_names(conn)
    for company in companies:
        company["compound"] = names.get(company["grid_code"], company["grid_code"])
    return {
        "period": {"from": start.isoformat(), "to": end.isoformat()},
        "indicators": [i.as_json() for i in definitions.property_indicators],
        "companies": assessment.rank(definitions.property_indicators, companies),
    }


# -- clear-to-zero ---------------------------------------------------------------------------


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
        raise PermissionDenied(f"the role {principal.role} may not start a campaign")
    now = cases.clock.now()
    if start > now.astimezone(LOCAL).date():
        raise InputError(
            "a campaign's start cannot lie in the future: its baseline is the "
            "backlog open on that day"
        )
    district = _district_filter(principal, district)
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
    with cases.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT c.id, c.name, c.start_date, c.district_code, c.created_by, c.created_at, "
                "(SELECT count(*) FROM campaign_baseline b WHERE b.campaign_id = c.id) AS baseline "
                "FROM campaign c ORDER BY c.id"
            )
        )
        return [dict(r._mapping) for r in rows]


def _month_ends(start: date, as_of: date) -> list[date]:
    """The first day of each month after ``start``'s up to ``as_of``'s (exclusive bounds)."""
    out = []
    first = ledger.next_month(start.replace(day=1))
    while first <= as_of:
        out.append(first)
        first = ledger.next_month(first)
    return out


def campaign_progress(
    cases: CaseService,
    principal: Principal | None,
    campaign_id: int,
    *,
    as_of: date | None = None,
    level: str | None = None,
    grids: str = "frozen",
) -> dict:
    """Baseline, signed off since the start, remaining and percent per unit at every level (or
    one), with the trend month by month; children add up to their parent."""
    with cases.engine.connect() as conn:
        campaign = conn.execute(
            text("SELECT id, name, start_date, district_code FROM campaign WHERE id = :c"),
            {"c": campaign_id},
        ).first()
        if campaign is None:
            raise NotFoundError(f"no campaign {campaign_id}")
        if (
            principal is not None
            and not principal.city_wide
            and campaign.district_code
            not in (
                None,
                principal.district_code,
            )
        ):
            raise NotFoundError(f"no campaign {campaign_id} within your scope")
        as_of = as_of or cases.clock.now().astimezone(LOCAL).date()
        if as_of < campaign.start_date:
            raise InputError("as_of lies before the campaign's start")
        _, until = period(as_of, as_of)
        months = _month_ends(campaign.start_date, as_of)
        if until.date() not in months:  # the month in progress, up to as_of
            months.append(until.date())
        bounds = [datetime.combine(m, time(0), tzinfo=LOCAL) for m in months]
        since, _ = period(campaign.start_date, campaign.start_date)
        units = figures.campaign_counts(conn, campaign_id, until, bounds, start=since, grids=grids)
        names = grid_names(conn)
    out_levels = {}
    for lvl in [level] if level else LEVELS:
        rows = []
        for row in _rows(units, lvl, names, principal):
            counts = row.pop("counts")
            baseline, done = counts["baseline"], counts["signed_off"]
            trend = []
            for i, m in enumerate(months):
                cum = counts[f"month_{i}"]
                trend.append(
                    {
                        "month": (m - timedelta(days=1)).strftime("%Y-%m"),
                        "signed_off": cum,
                        "remaining": baseline - cum,
                        "percent": round(100 * cum / baseline, 1) if baseline else None,
                    }
                )
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
        "campaign": {
            "id": campaign.id,
            "name": campaign.name,
            "start_date": campaign.start_date.isoformat(),
            "district": campaign.district_code,
        },
        "as_of": as_of.isoformat(),
        "grids": grids,
        "levels": out_levels,
    }


# -- responsibility tracing -------------------------------------------------------------------


def _holder_at(events: list[dict], moment: datetime, departments: dict) -> dict | None:
    """The department holding a case at ``moment``, replayed from its events."""
    holder = None
    for event in events:
        if event["at"] > moment:
            break
        data = event["data"] or {}
        if event["action"] == "report":
            holder = data.get("department")
        elif event["action"] == "transfer":
            holder = data.get("to_department")
        elif event["action"] == "return_transfer":
            back = data.get("returned_to") or {}
            holder = back.get("code") if isinstance(back, dict) else back
    if holder is None:
        return None
    return departments.get(holder, {"code": holder, "name": holder})


def _assignee_at(events: list[dict], moment: datetime) -> str | None:
    name = None
    for event in events:
        if event["at"] > moment:
            break
        if event["action"] == "assign":
            name = (event["data"] or {}).get("assignee_name")
    return name


def _people_text(people: list[dict] | None) -> str:
    return "、".join(f"{p.get('name') or ''} {p.get('phone') or ''}".strip() for p in people or [])


def _people(answer: dict, level: str) -> str:
    """The responsible people of the case's grid at ``level``, as frozen at intake."""
    grid = ((answer or {}).get("grid") or {}).get(level) or {}
    return _people_text(grid.get("responsible"))


def trace(
    cases: CaseService, principal: Principal | None, grid_code: str, start: date, end: date
) -> dict:
    """责任倒查: every late or missing step in a grid and period, with the unit and the people
    responsible at that time (the holding department and its assignee then; the grids'
    responsible people as frozen at intake; the town for its monthly ledger)."""
    from weijian.jurisdiction.service import effective_departments

    lo, hi = period(start, end)
    level = cases.grid_level(grid_code)
    if principal is not None and not principal.city_wide:
        above = ancestors(cases.jurisdiction.snapshot, grid_code)
        if principal.grid_code not in above:
            raise NotFoundError(f"no grid {grid_code} within your scope")
    wf = cases.workflow
    departments = {d["code"]: d for d in effective_departments(cases.jurisdiction.snapshot)}
    days = None
    with cases.engine.connect() as conn:
        _, definitions = active_definitions(conn)
        days = definitions.disposal_days
        rows = conn.execute(
            text(
                f"SELECT id, number, address, channel, track, reported_at, report_due, visit_due, "
                f"visited_at, signed_off_at, closed_at, state, reporter, jurisdiction "
                f"FROM violation_case WHERE {level}_code = :g AND reported_at < :hi AND ("
                "(report_due IS NOT NULL AND reported_at >= :lo AND reported_at > report_due) OR "
                "(visit_due >= :lo AND visit_due < :hi AND (visited_at IS NULL OR visited_at > "
                "visit_due)) OR (track = 'new' AND reported_at + :days * interval '1 day' >= :lo "
                "AND reported_at + :days * interval '1 day' < :hi AND (signed_off_at IS NULL OR "
                "signed_off_at > reported_at + :days * interval '1 day'))) ORDER BY reported_at"
            ),
            {"g": grid_code, "lo": lo, "hi": hi, "days": days},
        ).all()
        events: dict[int, list[dict]] = {r.id: [] for r in rows}
        if rows:
            for e in conn.execute(
                text(
                    "SELECT case_id, action, at, data FROM case_event WHERE case_id = ANY(:ids) "
                    "ORDER BY case_id, seq"
                ),
                {"ids": list(events)},
            ):
                events[e.case_id].append({"action": e.action, "at": e.at, "data": e.data})
        towns = conn.execute(
            text(
                "SELECT t.code, t.name, t.responsible FROM active_grid t, active_grid g "
                "WHERE g.code = :g AND t.level = 'town' AND (t.code = :g OR "
                "(g.level = 'district' AND t.parent_code = :g))"
            ),
            {"g": grid_code},
        ).all()
        submitted = {
            (r.town_code, r.month): r.submitted_at
            for r in conn.execute(
                text(
                    "SELECT town_code, month, min(submitted_at) AS submitted_at FROM "
                    "ledger_submission WHERE town_code = ANY(:t) GROUP BY 1, 2"
                ),
                {"t": [t.code for t in towns]},
            )
        }
    problems = []
    now = cases.clock.now()
    for r in rows:
        answer = r.jurisdiction or {}
        evs = events[r.id]
        base = {"case": r.number, "address": r.address}
        if r.report_due and lo <= r.reported_at < hi and r.reported_at > r.report_due:
            reporter = r.reporter or {}
            problems.append(
                {
                    **base,
                    "step": "report",
                    "step_label": "发现后1日内上报",
                    "due": r.report_due,
                    "done_at": r.reported_at,
                    "status": "late",
                    "status_label": "超时上报",
                    "unit": wf.channels.get(r.channel, r.channel),
                    "person": " ".join(
                        p for p in (reporter.get("name"), reporter.get("phone")) if p
                    ),
                    "grid_people": _people(answer, "compound") or _people(answer, "community"),
                }
            )
        if (
            r.visit_due
            and lo <= r.visit_due < hi
            and (r.visited_at is None or r.visited_at > r.visit_due)
        ):
            done = r.visited_at if r.visited_at and r.visited_at < hi else None
            holder = _holder_at(evs, r.visit_due, departments)
            problems.append(
                {
                    **base,
                    "step": "site_visit",
                    "step_label": "上报后1日内现场核查",
                    "due": r.visit_due,
                    "done_at": done,
                    "status": "late" if done else "missing",
                    "status_label": "超时核查" if done else "未核查（已超期）",
                    "unit": (holder or {}).get("name") or "待研判（无责任部门）",
                    "person": _assignee_at(evs, r.visit_due) or "未指派承办人",
                    "grid_people": _people(answer, "town"),
                }
            )
        if r.track == "new":
            due = r.reported_at + timedelta(days=days)
            closed_otherwise = r.signed_off_at is None and r.closed_at is not None
            if (
                lo <= due < hi
                and not closed_otherwise
                and (r.signed_off_at is None or r.signed_off_at > due)
            ):
                done = r.signed_off_at if r.signed_off_at and r.signed_off_at < hi else None
                holder = _holder_at(evs, due, departments)
                problems.append(
                    {
                        **base,
                        "step": "disposal",
                        "step_label": f"{days}日内处置销号",
                        "due": due,
                        "done_at": done,
                        "status": "late" if done else "missing",
                        "status_label": "超时销号" if done else "未销号（已超期）",
                        "unit": (holder or {}).get("name") or "待研判（无责任部门）",
                        "person": _assignee_at(evs, due) or "未指派承办人",
                        "grid_people": _people(answer, "town"),
                    }
                )
    due_day = cases.settings.ledger_due_day
    month = date(start.year, start.month, 1)
    while month <= end:
        following = ledger.next_month(month)
        due = ledger.due_moment(month, due_day)
        if due <= now and lo <= datetime.combine(following, time(0), tzinfo=LOCAL) <= hi:
            for town in towns:
                at = submitted.get((town.code, month))
                if at is None or at >= due:
                    people = _people_text(town.responsible)
                    problems.append(
                        {
                            "case": None,
                            "address": None,
                            "step": "ledger",
                            "step_label": f"{month:%Y年%m月}台账报送",
                            "due": due - timedelta(seconds=1),
                            "done_at": at,
                            "status": "late" if at else "missing",
                            "status_label": "逾期报送" if at else "未报送",
                            "unit": town.name,
                            "person": people or "未登记",
                            "grid_people": people,
                        }
                    )
        month = following
    problems.sort(key=lambda p: (p["due"], p["case"] or ""))
    return {
        "grid": grid_code,
        "level": level,
        "period": {"from": start.isoformat(), "to": end.isoformat()},
        "problems": problems,
        "count": len(problems),
    }


# -- xlsx ----------------------------------------------------------------------------------


def assessment_xlsx(result: dict) -> bytes:
    """The ranking table as a workbook: Chinese headers, frozen, filtered, widths that fit."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    sheet.title = f"{result['level_label']}考评"
    headers = ["排名", "编码", "名称", "综合得分"]
    for ind in result["indicators"]:
        headers.append(f"{ind['name']}（{ind['unit']}）")
    sheet.append(headers)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for unit in result["units"]:
        row = [unit["rank"], unit["code"] or "", unit["name"], unit["score"]]
        for item in unit["indicators"]:
            value = item["value"]
            if value is not None and item["unit"] == "%":
                value = round(100 * value, 2)
            row.append(value)
        sheet.append(row)
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{sheet.max_row}"
    for i, header in enumerate(headers, start=1):
        width = max(
            len(str(header)) * 2,
            *(len(str(c.value or "")) * 1.2 for c in sheet[get_column_letter(i)]),
        )
        sheet.column_dimensions[get_column_letter(i)].width = min(max(width, 8), 40)
    info = book.create_sheet("说明")
    for row in (
        ("考评期间", f"{result['period']['from']} 至 {result['period']['to']}"),
        ("考评层级", result["level_label"]),
        ("指标定义版本", result["definitions_version"]),
        ("网格口径", "立案时所属网格" if result["grids"] == "frozen" else "现行网格边界"),
    ):
        info.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
