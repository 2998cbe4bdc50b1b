"""The supervisors' dashboard (统计): for the user's scope and a period, the totals (new,
backlog, signed off, clear-to-zero percent, overdue by stage, stalled, urges open), the ranking
tables of districts, towns and communities by clear-to-zero and by the assessment score, and
the monthly trend; each table also as a workbook.

Nothing is counted by a rule of its own: the period's counts and the assessment are
:func:`.figures.unit_counts` and :func:`.indicators.rank` (as ``GET /api/v1/assessment``),
clear-to-zero is :func:`.progress.campaign_progress` (as ``GET /api/v1/campaigns/{id}/progress``),
overdue is :func:`weijian.cases.rows.overdue_sql` over each case's current stage, stalled is
the inbox's test. Every figure is counted per grid leaf and kept (:mod:`.leaves`: a click counts
again only the leaves changed since, or turned by time), then summed up the levels as the
``GROUPING SETS`` of the others, so every total is the sum of its children's rows (cases outside
a lower grid form the row （未划入下级网格））."""

from __future__ import annotations

import io
import logging
import threading
from datetime import date, datetime, timedelta

from sqlalchemy import text

from weijian.cases.clock import LOCAL
from weijian.cases.rows import overdue_sql
from weijian.cases.scope import Principal
from weijian.cases.service import CaseService
from weijian.errors import InputError, PermissionDenied
from weijian.oversight import assessment, figures, indicators, leaves, progress, units
from weijian.oversight.assessment import active_definitions
from weijian.oversight.periods import next_month, period

log = logging.getLogger(__name__)

TABLE_LEVELS = ("district", "town", "community")
#: the columns of a ranking table and of its workbook: key → Chinese header
COLUMNS = {
    "reported": "新增",
    "signed_off": "办结销号",
    "backlog_open": "存量在办",
    "clear_baseline": "清零基数",
    "clear_signed_off": "清零已销号",
    "clear_percent": "清零进度（%）",
    "overdue": "超期",
    "stalled": "停滞",
    "urges_open": "督办未答复",
    "score": "综合得分",
}
SORTS = ("score", "clear")


def definitions_text(stalled_days: int, disposal_days: int) -> list[dict]:
    """指标说明: what each figure counts, printed with the page and the workbooks."""
    return [
        {"name": "新增", "text": "统计期间内上报（立案）的违法建设案件数"},
        {"name": "办结销号", "text": "统计期间内经核查销号的案件数"},
        {"name": "存量在办", "text": "统计时刻尚未办结的存量违建案件数"},
        {
            "name": "清零进度",
            "text": "所选清零行动的基数（行动开始日尚未办结的存量案件）中，"
            "自开始日至统计期末（或今天）已销号的比例",
        },
        {"name": "超期", "text": "统计时刻在办、当前环节办理期限已过的案件数，按环节分列"},
        {"name": "停滞", "text": f"统计时刻在办、连续 {stalled_days} 天以上无任何办理记录的案件数"},
        {"name": "督办未答复", "text": "统计时刻尚未答复的督办所涉及的案件数"},
        {
            "name": "综合得分",
            "text": "按现行考评指标对统计期间的计分（满分 100），与考评排名一致；"
            f"处置时限按立案后 {disposal_days} 日计",
        },
        {"name": "范围", "text": "按案件立案时所属网格统计；各级合计等于其下级各行之和"},
    ]


# -- the period --------------------------------------------------------------------------------


def parse_period(value: str) -> tuple[date, date, str]:
    """``2026`` (a year), ``2026-Q1`` (a quarter) or ``2026-03`` (a month) → first and last
    day, and the period in Chinese."""
    raw = (value or "").strip().upper()
    try:
        if len(raw) == 4 and raw.isdigit():
            year = int(raw)
            if 2000 <= year <= 2999:
                return date(year, 1, 1), date(year, 12, 31), f"{year}年"
        if len(raw) == 7 and raw[4:6] == "-Q" and raw[:4].isdigit() and raw[6] in "1234":
            year, quarter = int(raw[:4]), int(raw[6])
            first = date(year, 3 * quarter - 2, 1)
            last = next_month(date(year, 3 * quarter, 1)) - timedelta(days=1)
            return first, last, f"{year}年第{quarter}季度"
        if len(raw) in (6, 7) and raw[4] == "-":
            year, month = int(raw[:4]), int(raw[5:])
            first = date(year, month, 1)
            return first, next_month(first) - timedelta(days=1), f"{year}年{month}月"
    except ValueError:
        pass
    raise InputError(
        f"统计期间“{value}”格式不正确，应为年（2026）、季度（2026-Q1）或月份（2026-03），"
        "或给出起止日期 from 和 to",
        code="stats.period_invalid",
        detail=f"{value!r} is not a year (YYYY), a quarter (YYYY-Qn) or a month (YYYY-MM)",
    )


def this_month(cases: CaseService) -> str:
    return f"{cases.clock.now().astimezone(LOCAL):%Y-%m}"


def chosen_period(
    cases: CaseService, start: date | None, end: date | None, period: str | None
) -> tuple[date, date, str | None]:
    """The period a request names: both ``from`` and ``to`` (no label), else ``period``
    (:func:`parse_period`), else this month."""
    if start is not None or end is not None:
        if start is None or end is None:
            raise InputError(
                "自定义统计期间需同时给出开始日期 from 和结束日期 to（含首尾两天）",
                code="period.missing",
                detail="give both from and to (dates, both included)",
            )
        return start, end, None
    return parse_period(period or this_month(cases))


def range_label(start: date, end: date) -> str:
    return f"{start:%Y-%m-%d} 至 {end:%Y-%m-%d}"


# -- the state of the cases now ----------------------------------------------------------------


def _state_figures(stages: list[str], stalled_days: int, now: datetime) -> leaves.Figures:
    """Per leaf: the open backlog, overdue (and by stage), stalled and urged cases at ``now``;
    every figure here counts open cases only."""
    levels = figures.level_columns("v")
    by_stage = "".join(
        f", count(*) FILTER (WHERE {overdue_sql('v')} AND v.stage_code = :stage_{i}) AS stage_{i}"
        for i in range(len(stages))
    )
    # a day of the stall is 24 hours, as the inbox counts it
    stalled = "CAST(:{} AS timestamptz) - :stalled_hours * interval '1 hour'"

    def leaf_sql(where: str) -> str:
        return f"""
        WITH urged AS (SELECT DISTINCT case_id FROM case_urge WHERE answered_at IS NULL)
        SELECT {levels},
          count(*) FILTER (WHERE v.track = 'backlog') AS backlog_open,
          count(*) FILTER (WHERE {overdue_sql("v")}) AS overdue,
          count(*) FILTER (WHERE v.last_event_at < {stalled.format("now")}) AS stalled,
          count(*) FILTER (WHERE urged.case_id IS NOT NULL) AS urges_open
          {by_stage}
        FROM violation_case v LEFT JOIN urged ON urged.case_id = v.id
        WHERE v.is_open AND ({where})
        GROUP BY {levels}
        """

    def moments(lo: datetime, hi: datetime) -> tuple[str, dict]:
        # overdue turns at the stage's deadline, stalled a stall's length after the last event
        sql = (
            f"SELECT {levels} FROM violation_case v WHERE v.is_open AND "
            f"(v.stage_due BETWEEN :lo AND :hi OR v.last_event_at BETWEEN "
            f"{stalled.format('lo')} AND {stalled.format('hi')})"
        )
        return sql, {"lo": lo, "hi": hi, "stalled_hours": 24 * stalled_days}

    names = ("backlog_open", "overdue", "stalled", "urges_open")
    params: dict = {"stalled_hours": 24 * stalled_days}
    params.update({f"stage_{i}": code for i, code in enumerate(stages)})
    return leaves.Figures(
        kind="state",
        names=names + tuple(f"stage_{i}" for i in range(len(stages))),
        leaf_sql=leaf_sql,
        params=params,
        as_of=now,
        moments=moments,
        moment="now",
    )


def _state_counts(engine, stages: list[str], district: str | None, now: datetime, stalled_days):
    """Per unit: open backlog, overdue (and by stage), stalled and urged cases now, as kept per
    leaf (:mod:`.leaves`) and summed up the levels."""
    state = _state_figures(stages, stalled_days, now)
    deepest = len(TABLE_LEVELS)  # the tables' lowest level, the community
    return figures.units_of_leaves(leaves.read(engine, state), state.names, district, deepest)


def _month_bounds(start: datetime, end: datetime) -> list[tuple[str, datetime, datetime]]:
    """Each month (Beijing time) the period [start, end) touches: its name, and its part of
    the period."""
    out = []
    local = start.astimezone(LOCAL)
    first = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    while first < end:
        following = datetime.combine(next_month(first.date()), datetime.min.time(), LOCAL)
        out.append((f"{first:%Y-%m}", max(first, start), min(following, end)))
        first = following
    return out


def _monthly_figures(start: datetime, end: datetime) -> leaves.Figures:
    """New and signed-off cases per leaf in each month of the period."""
    months = _month_bounds(start, end)
    levels = figures.level_columns("v")
    columns = ", ".join(
        f"count(*) FILTER (WHERE v.reported_at >= :m{i} AND v.reported_at < :m{i}_end) "
        f"AS reported_{i}, "
        f"count(*) FILTER (WHERE v.signed_off_at >= :m{i} AND v.signed_off_at < :m{i}_end) "
        f"AS signed_off_{i}"
        for i in range(len(months))
    )

    def leaf_sql(where: str) -> str:
        return (
            f"SELECT {levels}, {columns} FROM violation_case v "
            "WHERE ((v.reported_at >= :start AND v.reported_at < :end) "
            "OR (v.signed_off_at >= :start AND v.signed_off_at < :end)) "
            f"AND ({where}) GROUP BY {levels}"
        )

    params: dict = {"start": start, "end": end}
    for i, (_, lo, hi) in enumerate(months):
        params.update({f"m{i}": lo, f"m{i}_end": hi})
    names = tuple(f"{what}_{i}" for i in range(len(months)) for what in ("reported", "signed_off"))
    return leaves.Figures(kind="monthly", names=names, leaf_sql=leaf_sql, params=params)


def _monthly(engine, start: datetime, end: datetime, scope_level: str, scope_code: str | None):
    """New and signed-off cases per month (Beijing time) of the period, within the scope, every
    month listed."""
    column = f"{scope_level}_code" if scope_code is not None else "district_code"
    sums = leaves.total(engine, _monthly_figures(start, end), column, scope_code)
    return [
        {"month": name, "reported": sums[2 * i], "signed_off": sums[2 * i + 1]}
        for i, (name, _, _) in enumerate(_month_bounds(start, end))
    ]


#: the lock of the one process per database that keeps the statistics counted
_WARMER_LOCK = 0x5745494A4A5332  # any constant of our own


def keep_counted(cases: CaseService, stop: threading.Event, every: float) -> None:
    """Until ``stop``: every ``every`` seconds, the figures a click on 统计 reads for this
    month and this year, and every campaign's progress, brought up to date (the first time,
    counted), so that a click finds only what changed in the last moments to count. Runs on a
    thread of the app; of all the processes on one database, only the one holding the
    warmer's lock counts (its connection held for as long; another takes it over when that
    process ends), so that the workers of a server do not count the same figures twice."""
    holder = None  # the connection holding the lock, while this process is the one
    try:
        while not stop.is_set():
            try:
                if holder is None:
                    holder = _warmer_lock(cases)
                else:  # still this process's: its session alive (a restart ends it)
                    holder.execute(text("SELECT 1"))
                if holder is not None:
                    _count_round(cases, stop)
            except Exception:  # the database away for a moment: the next round tries again
                log.exception("the statistics could not be kept counted")
                if holder is not None:
                    _let_go(holder)  # its lock may be gone with its session: take it anew
                    holder = None
            stop.wait(every)
    finally:
        if holder is not None:
            _let_go(holder)


def _let_go(holder) -> None:
    """The warmer's lock released and its connection closed (the lock is the session's: a
    connection back in the pool would keep holding it)."""
    try:
        holder.execute(text(f"SELECT pg_advisory_unlock({_WARMER_LOCK})"))
    except Exception:
        holder.invalidate()  # the session itself ends, and its lock with it
    finally:
        holder.close()


def _warmer_lock(cases: CaseService):
    """A connection holding the warmer's lock, or None while another process holds it (in
    autocommit: no transaction stays open on it between rounds)."""
    conn = cases.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        got = conn.execute(text(f"SELECT pg_try_advisory_lock({_WARMER_LOCK})")).scalar_one()
    except Exception:
        conn.close()
        raise
    if got:
        return conn
    conn.close()
    return None


def _count_round(cases: CaseService, stop: threading.Event) -> None:
    now = cases.clock.now()
    today = now.astimezone(LOCAL).date()
    with cases.read_engine.connect() as conn:
        _, defs = active_definitions(conn)
    wf = cases.workflow
    standing = [_state_figures([d.code for d in wf.deadlines], wf.stalled_days, now)]
    for first, last in (
        (today.replace(day=1), next_month(today.replace(day=1)) - timedelta(days=1)),
        (date(today.year, 1, 1), date(today.year, 12, 31)),
    ):
        lo, hi = period(first, last)
        standing += [figures.period_figures(defs, lo, hi, min(hi, now))]
        standing += [_monthly_figures(lo, hi)]
    for kept in standing:
        if stop.is_set():
            return
        leaves.read(cases.engine, kept)
    for campaign in progress.campaigns(cases):  # their progress to the end of today
        if stop.is_set():
            return
        if campaign["start_date"] <= today:
            progress.campaign_progress(cases, None, campaign["id"], level="district")


# -- the dashboard -----------------------------------------------------------------------------


def _campaigns(cases: CaseService, principal: Principal, campaign_id: int | None) -> tuple:
    """The campaign asked for, or the latest one of the user's whole scope; and the campaigns
    the user may pick from."""
    every = progress.campaigns(cases)
    mine = [
        c
        for c in every
        if c["district_code"] is None
        or (not principal.city_wide and c["district_code"] == principal.district_code)
    ]
    chosen = {"id": campaign_id} if campaign_id is not None else (mine[-1] if mine else None)
    listed = [
        {"id": c["id"], "name": c["name"], "district": c["district_code"]}
        for c in every
        if principal.city_wide or c["district_code"] in (None, principal.district_code)
    ]
    return chosen, listed


def _clear(cases, principal, campaign, end: date) -> tuple[dict | None, dict, list]:
    """The campaign's progress per unit (by level and chain) at the period's end (or today),
    and its monthly trend for the scope."""
    if campaign is None:
        return None, {}, []
    today = cases.clock.now().astimezone(LOCAL).date()
    as_of = min(end, today)
    try:
        prog = progress.campaign_progress(
            cases,
            principal,
            campaign["id"],
            as_of=as_of,
            levels=("city", *TABLE_LEVELS),
            trend_of=_scope_unit(principal),
        )
    except InputError as e:
        if e.code != "campaign.as_of_before_start":
            raise
        return None, {}, []
    by_unit = {
        (level, tuple(row["chain"])): row for level, rows in prog["levels"].items() for row in rows
    }
    return {**prog["campaign"], "as_of": prog["as_of"]}, by_unit, prog


def _scope_unit(principal: Principal) -> tuple[str, str | None]:
    """The (level, code) of the unit a user's scope is: the city, or the user's grid."""
    if principal.city_wide:
        return "city", None
    return principal.grid_level, principal.grid_code


def _scope(principal: Principal, names: dict) -> dict:
    if principal.city_wide:
        return {"level": "city", "code": None, "name": "全市", "label": "全市"}
    level, code = _scope_unit(principal)
    return {
        "level": level,
        "code": code,
        "name": names.get(code, code),
        "label": units.LEVEL_LABELS[level],
    }


def dashboard(
    cases: CaseService,
    principal: Principal,
    start: date,
    end: date,
    *,
    label: str | None = None,
    campaign_id: int | None = None,
) -> dict:
    """Totals, ranking tables and trends of the user's scope for the days ``start``…``end``."""
    if principal.role in ("grid_worker", "property_company"):
        raise PermissionDenied(
            "统计报表只供督导人员、职能部门和镇（街道）查看，网格员和物业公司无权查看",
            code="stats.role_not_allowed",
            detail="the dashboard is read by supervisors, departments and towns",
        )
    lo, hi = period(start, end)
    now = cases.clock.now()
    district = units.district_filter(principal, None)
    wf = cases.workflow
    stages = [d.code for d in wf.deadlines]

    # (kept figures: each read counts again only what changed, a few milliseconds; a thread of
    # its own for the open cases' figures only made both wait for the interpreter's lock)
    state = _state_counts(cases.engine, stages, district, now, wf.stalled_days)
    with cases.read_engine.connect() as conn:
        version, defs = active_definitions(conn)
        counted = assessment.counts(
            cases, conn, defs, lo, hi, district=district, deepest=TABLE_LEVELS[-1]
        )
        names = units.grid_names(conn)
    scope = _scope(principal, names)
    chosen, listed = _campaigns(cases, principal, campaign_id)
    campaign, clear, prog = _clear(cases, principal, chosen, end)

    def row(unit: dict, ranked: dict | None) -> dict:
        key = (unit["level"], *unit["chain"])
        st = state.get(key, {"counts": {}})["counts"]
        cl = clear.get((unit["level"], tuple(unit["chain"])))
        out = {
            "level": unit["level"],
            "code": unit["code"],
            "name": unit["name"],
            "chain": unit["chain"],
            "parent": unit["parent"],
            "reported": unit["counts"]["reported"],
            "signed_off": unit["counts"]["signed_off"],
            "backlog_open": st.get("backlog_open", 0),
            "overdue": st.get("overdue", 0),
            "overdue_by_stage": {s: st.get(f"stage_{i}", 0) for i, s in enumerate(stages)},
            "stalled": st.get("stalled", 0),
            "urges_open": st.get("urges_open", 0),
            "clear_baseline": cl["baseline"] if cl else (0 if campaign else None),
            "clear_signed_off": cl["signed_off"] if cl else (0 if campaign else None),
            "clear_percent": cl["percent"] if cl else None,
        }
        if ranked is not None:
            out.update(score=ranked["score"], rank=ranked["rank"])
            out["indicators"] = ranked["indicators"]
        return out

    scope_rows = [
        r
        for r in units.rows(counted, scope["level"], names, principal)
        if r["code"] == scope["code"]
    ]
    totals = row(scope_rows[0], None) if scope_rows else None
    tables = {}
    below = units.LEVELS.index(scope["level"])
    for level in TABLE_LEVELS:
        if units.LEVELS.index(level) <= below:
            continue
        plain = units.rows(counted, level, names, principal)
        ranked = indicators.rank(defs.indicators, plain, defs.empty_rate, detail=False)
        table = [row(r, r) for r in ranked]
        _clear_rank(table)
        tables[level] = sorted(
            table, key=lambda r: (r["rank"] is None, r["rank"] or 0, r["chain"][-1] or "~")
        )
    trend_scope = [
        r for r in (prog["levels"][scope["level"]] if prog else []) if r["code"] == scope["code"]
    ]
    return {
        "scope": scope,
        "period": {
            "from": start.isoformat(),
            "to": end.isoformat(),
            "label": label or range_label(start, end),
        },
        "as_of": now.astimezone(LOCAL).isoformat(timespec="minutes"),
        "campaign": campaign,
        "campaigns": listed,
        "stages": [{"code": d.code, "label": d.label} for d in wf.deadlines],
        "columns": COLUMNS,
        "levels": {lvl: units.LEVEL_LABELS[lvl] for lvl in tables},
        "totals": totals,
        "tables": tables,
        "indicators": [
            {"code": i.code, "name": i.name, "unit": i.unit, "weight": i.weight}
            for i in defs.indicators
        ],
        "definitions_version": version,
        "trend": {
            "monthly": _monthly_in(cases, lo, hi, scope),
            "campaign": trend_scope[0]["trend"] if trend_scope else [],
        },
        "definitions": definitions_text(wf.stalled_days, defs.disposal_days),
    }


def _monthly_in(cases, lo, hi, scope) -> list[dict]:
    return _monthly(cases.engine, lo, hi, scope["level"], scope["code"])


def _clear_rank(table: list[dict]) -> None:
    """清零排名: by percent, highest first, ties sharing a rank; units without a baseline last,
    unranked."""
    ranked = sorted(
        (r for r in table if r["clear_percent"] is not None),
        key=lambda r: -r["clear_percent"],
    )
    place, previous = 0, None
    for i, r in enumerate(ranked, start=1):
        if r["clear_percent"] != previous:
            place, previous = i, r["clear_percent"]
        r["clear_rank"] = place
    for r in table:
        r.setdefault("clear_rank", None)


def sorted_table(result: dict, level: str, sort: str) -> list[dict]:
    if level not in result["tables"]:
        raise InputError(
            f"没有“{level}”这张表，可选：{'、'.join(result['tables']) or '（无）'}",
            code="stats.table_invalid",
            detail=f"no table {level!r}; there are: {', '.join(result['tables'])}",
        )
    if sort not in SORTS:
        raise InputError(
            "排序方式应为 score（综合得分）或 clear（清零进度）",
            code="stats.sort_invalid",
            detail=f"sort must be score or clear, not {sort!r}",
        )
    rows = result["tables"][level]
    if sort == "clear":
        return sorted(rows, key=lambda r: (r["clear_rank"] is None, r["clear_rank"] or 0))
    return rows


# -- the workbooks -----------------------------------------------------------------------------


def table_xlsx(result: dict, level: str, sort: str = "score") -> bytes:
    """One ranking table as a workbook: a title row with the scope, the period and the date,
    Chinese headers frozen, the totals' row last; a sheet 指标说明."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    from weijian.oversight.ledger import MAX_WIDTH, display_width

    rows = sorted_table(result, level, sort)
    stage_names = {s["code"]: s["label"] for s in result["stages"]}
    headers = ["综合排名", "清零排名", "编码", "名称", *COLUMNS.values()]
    headers += [f"超期·{stage_names[s]}" for s in stage_names]
    headers += [f"{i['name']}（{i['unit']}）" for i in result["indicators"]]
    book = Workbook()
    sheet = book.active
    sheet.title = f"{result['levels'][level]}排名"
    last = get_column_letter(len(headers))
    title = (
        f"{result['scope']['name']}违法建设统计·{result['levels'][level]}排名"
        f"（{result['period']['label']}）"
    )
    sheet.append([title])
    sheet.merge_cells(f"A1:{last}1")
    sheet["A1"].font = Font(bold=True, size=14)
    sheet["A1"].alignment = Alignment(horizontal="center")
    sheet.append(
        [
            f"范围：{result['scope']['name']}　统计期间：{range_label_of(result)}　"
            f"导出日期：{result['as_of'][:10]}"
            + (f"　清零行动：{result['campaign']['name']}" if result["campaign"] else "")
        ]
    )
    sheet.merge_cells(f"A2:{last}2")
    sheet.append(headers)
    for cell in sheet[3]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    for r in rows:
        sheet.append(_cells(r, None, stage_names))
    if result["totals"]:
        sheet.append(_cells(result["totals"], "合计", stage_names))
        for cell in sheet[sheet.max_row]:
            cell.font = Font(bold=True)
    sheet.freeze_panes = "A4"
    sheet.auto_filter.ref = f"A3:{last}{3 + len(rows)}"
    for i, header in enumerate(headers, start=1):
        column = get_column_letter(i)
        widest = max([display_width(header)] + [display_width(c.value) for c in sheet[column][2:]])
        sheet.column_dimensions[column].width = min(widest + 2, MAX_WIDTH)
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_title_rows = "3:3"
    info = book.create_sheet("指标说明")
    for d in result["definitions"]:
        info.append([d["name"], d["text"]])
        info.cell(info.max_row, 1).font = Font(bold=True)
    info.column_dimensions["A"].width = 14
    info.column_dimensions["B"].width = 90
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def range_label_of(result: dict) -> str:
    p = result["period"]
    return f"{p['label']}（{p['from']} 至 {p['to']}）"


def _cells(r: dict, total: str | None, stage_names: dict) -> list:
    values = [r.get(k) for k in COLUMNS]
    if total:
        values[-1] = None  # no score for the sum
    cells = [
        total or r.get("rank"),
        None if total else r.get("clear_rank"),
        r["code"] or "",
        r["name"],
        *["" if v is None else v for v in values],
    ]
    cells += [r["overdue_by_stage"].get(s, 0) for s in stage_names]
    for item in r.get("indicators", []):
        value = item["value"]
        if value is not None and item["unit"] == "%":
            value = round(100 * value, 2)
        cells.append("—" if value is None else value)
    return cells
