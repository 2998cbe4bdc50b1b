"""The monthly ledger (台账) of a town or street (镇办) and its submission to the district.

Every town keeps a ledger of the illegal-construction cases in its area and sends it to the
district's city-management enforcement department each month (每月将台账报区县城市管理行政执法部门
备案). :func:`ledger_rows` builds a month's ledger from the cases and their append-only events,
as the cases stood at the month's end — a case acted on later still shows its state of that
month; :func:`export_xlsx` and :func:`export_csv` write it for Excel. Its submission to the
district and the district's review are :mod:`weijian.oversight.submissions`. Plain functions
over a SQLAlchemy connection: no HTTP, no CLI.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Generator, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import repeat
from typing import Any

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy import Connection, text

from weijian.cases import deadlines
from weijian.cases.clock import LOCAL
from weijian.cases.deadlines import WorkCalendar
from weijian.cases.scope import CITIZEN, Principal
from weijian.cases.workflow import State, Workflow
from weijian.errors import NotFoundError
from weijian.oversight import xlsx_rows
from weijian.oversight.periods import month_bounds, month_text
from weijian.text import cell as safe_cell
from weijian.text import cell_changes

HEADERS = (
    "序号",
    "案件编号",
    "当事人",
    "地点",
    "经度",
    "纬度",
    "所属社区",
    "所属小区",
    "来源",
    "类型",
    "责任部门",
    "面积（平方米）",
    "结构类型",
    "月末状态",
    "发现时间",
    "上报时间",
    "现场核查时间",
    "认定时间",
    "处置措施",
    "整改期限",
    "验收时间",
    "销号时间",
    "是否超期",
)
AREA = "面积（平方米）"
TRACK_LABELS = {"new": "新增", "backlog": "存量"}
SHEETS = (("新增违建", "new"), ("存量违建", "backlog"))
# events that are not measures taken on the case (and never change its state)
NOT_MEASURES = ("report", "add_evidence", "link", "assign")
QUIET = ("add_evidence", "link", "assign")  # not even fetched: many, and they change nothing
MAX_WIDTH = 60
#: what the officers record of a case on the way (the workflow's optional fields)
FACTS = ("party", "structure_type")
#: the deadlines that give the party a period to put things right
RECTIFICATION = deadlines.RECTIFICATION
TIME_FORMAT = "%Y-%m-%d %H:%M"


def _when(moment: datetime | None) -> str:
    return moment.astimezone(LOCAL).strftime(TIME_FORMAT) if moment else ""


def _local_text(column: str) -> str:
    """:func:`_when` in SQL, for the moments every row has (formatted by the server, in C)."""
    return f"to_char({column} AT TIME ZONE '{LOCAL.key}', 'YYYY-MM-DD HH24:MI')"


def _day(moment: datetime | None) -> str:
    """整改期限: the period's last day (Beijing time); empty when no period was given."""
    return moment.astimezone(LOCAL).strftime("%Y-%m-%d") if moment else ""


# -- towns and who may read their ledger ---------------------------------------------------


def town_info(conn: Connection, town_code: str) -> dict:
    """The active town grid ``town_code`` with its district (the parent link, or the district
    grid that contains it); NotFoundError when no active town grid has that code."""
    row = conn.execute(
        text(
            "SELECT t.code, t.name, t.responsible, coalesce(t.parent_code, ("
            "SELECT d.code FROM active_grid d WHERE d.level = 'district' AND d.geom && t.geom "
            "AND ST_Within(ST_PointOnSurface(t.geom), d.geom) ORDER BY d.code LIMIT 1)) "
            "AS district_code FROM active_grid t WHERE t.code = :c AND t.level = 'town' LIMIT 1"
        ),
        {"c": town_code},
    ).first()
    if row is None:
        raise NotFoundError(
            f"没有代码为“{town_code}”的镇（街道），请填写在用的镇（街道）网格代码",
            code="town.not_found",
            detail=f"no town or street (镇办) has the code {town_code!r}",
            hint="give the code of an active town grid (GET /api/v1/layers for the grid layers)",
        )
    return {
        "code": row.code,
        "name": row.name,
        "district_code": row.district_code,
        "district_name": district_name(conn, row.district_code),
        "responsible": row.responsible or [],
    }


def district_name(conn: Connection, code: str | None) -> str | None:
    if code is None:
        return None
    return conn.execute(
        text("SELECT name FROM active_grid WHERE code = :d AND level = 'district' LIMIT 1"),
        {"d": code},
    ).scalar()


def can_read(principal: Principal, town: dict) -> bool:
    """City-wide users, the town's own users and its district's users (departments are bound
    to districts) read a town's ledger; community and compound users do not."""
    if principal.role == CITIZEN or principal.api_client_id is not None:
        return False
    if principal.city_wide:
        return True
    return principal.grid_code in (town["code"], town["district_code"])


def check_read(principal: Principal, town: dict) -> None:
    if not can_read(principal, town):
        raise NotFoundError(
            f"未找到镇（街道）{town['code']}（或不在您的权限范围内）；"
            "台账只供本镇（街道）、所属区县和全市用户查看",
            code="town.not_found",
            detail=f"no town {town['code']} within your scope",
            hint="a ledger is read by its town, its district and city-wide users",
        )


# -- the ledger ----------------------------------------------------------------------------


CASES_WHERE = (
    "c.town_code = :town AND c.reported_at < :end "
    "AND (c.closed_at IS NULL OR c.closed_at >= :start)"
)


def _names(conn: Connection, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """(level, code) → name of the active grids named."""
    wanted = {p for p in pairs if p[1]}
    if not wanted:
        return {}
    rows = conn.execute(
        text(
            "SELECT DISTINCT ON (level, code) level, code, name FROM active_grid "
            "WHERE level = ANY(:levels) AND code = ANY(:codes) ORDER BY level, code, version DESC"
        ),
        {"levels": sorted({p[0] for p in wanted}), "codes": sorted({p[1] for p in wanted})},
    )
    return {(r.level, r.code): r.name for r in rows}


def _number_text(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{number:.2f}".rstrip("0").rstrip(".")


def _measure(wf: Workflow, action: str, data: dict | None) -> str:
    """The Chinese label of an action with what its fields say: 拆除续建部分（强制拆除）."""
    label = wf.label_of(action)
    transition = wf.transitions.get(action)
    if transition is None or not transition.fields or not data:
        return label
    details = []
    for code in transition.fields:
        spec = wf.fields.get(code)
        value = data.get(code)
        if spec is None or value in (None, ""):
            continue
        if spec.choices:
            details.append(spec.choices.get(str(value), str(value)))
        elif spec.department:
            details.append(str(data.get(f"{code}_name") or value))
        elif spec.number:
            unit = re.search(r"（([^（）]+)）\s*$", spec.label)
            details.append(_number_text(value) + (unit[1] if unit else ""))
        else:
            details.append(str(value))
    return f"{label}（{'，'.join(details)}）" if details else label


def ledger_rows(
    conn: Connection,
    workflow: Workflow,
    town_code: str,
    month: date,
    *,
    calendar: WorkCalendar | None = None,
    now: datetime | None = None,
) -> list[dict]:
    """The town's ledger for ``month``: every case of the town reported before the month's end
    and not closed before its start, in the order of reporting, as it stood at the month's end
    (00:00 Beijing time of the next month's first day).

    Each row has the Chinese columns of :data:`HEADERS` and, under English keys, what programs
    need: ``id``, ``number``, ``track``, ``state`` (at the month's end), ``current_state``,
    ``channel``, ``department_code``, ``community_code``, ``compound_code``, ``overdue``.
    Two queries whatever the size of the town: the cases, then all their events with what
    the case service kept of the deadlines after each step (``case_due``, migration 0020): a
    case is overdue at the month's end when the earliest due moment not met, as kept after its
    last step before then, has passed. A case without such a row (a history loaded from
    elsewhere), or with a step the deadlines read after its last row, has its deadlines
    evaluated from its events, counting days by ``calendar`` (the service's, with which the
    rows were kept; calendar days by default).
    ``now``: for the month in progress, a case is overdue only once its deadline has passed
    (the state of a month not yet over is the state now)."""
    wf = workflow
    calendar = calendar or WorkCalendar()
    start, end = month_bounds(month)
    as_of = min(end, now) if now is not None else end
    params = {"town": town_code, "start": start, "end": end}
    cases = _month_cases(conn, params)
    if not cases:
        return []
    names = _names(
        conn,
        [("community", c.community_code) for c in cases]
        + [("compound", c.compound_code) for c in cases],
    )
    labels: dict[str, str] = {}  # the measures without fields, by action
    rows: list[dict] = []
    rectifying = _rectifying_actions(wf)
    read = deadlines.read_actions(wf)
    with_events = _with_events(conn.connection.driver_connection, wf, end, cases)
    try:
        for c, evs in with_events:
            past = _replay(wf, c, evs, start, labels)
            spec = wf.states.get(past.state)
            open_at_end = spec.is_open if spec else True
            closed_at_start = (
                past.state_at_start in wf.states and not wf.states[past.state_at_start].is_open
            )
            if closed_at_start and not past.changed_in_month:
                continue  # closed all month: closed before it, reopened only after it
            kept = _kept(evs, read)
            if kept is not None:
                pending, rectification = kept
            # a case closed at the month's end is never overdue: its deadlines are needed only
            # for 整改期限, which a case has only once a step that sets the period was taken
            elif open_at_end or rectifying is None or any(e[0] in rectifying for e in evs):
                evaluated = _deadlines(wf, calendar, c, past.track, evs, as_of)
                pending = deadlines.pending_due(evaluated)
                rectification = deadlines.rectification_due(evaluated)
            else:
                pending = rectification = None
            overdue = open_at_end and deadlines.missed(pending, None, as_of)
            row = _ledger_row(len(rows) + 1, c, past, wf, spec, names, open_at_end, overdue)
            row["整改期限"] = _day(rectification)
            rows.append(row)
    finally:
        with_events.close()  # the thread fetching events has stopped: conn is free again
    return rows


def _kept(evs: list[tuple], read: frozenset[str]) -> tuple | None:
    """(pending due, rectification due) as the case service kept them after the case's last
    step before the month's end; None when a step the deadlines read came after the last row
    kept (or none was kept)."""
    kept = None
    for event in evs:
        if event[5] is not None:
            kept = event[5]
        elif event[0] in read:
            kept = None
    return kept


def _fetch(driver: psycopg.Connection, sql: str, params: dict, row_factory=None) -> list:
    """All rows of a query on the connection's own driver (``driver``: psycopg's), in its
    transaction, in PostgreSQL's binary format: a result through SQLAlchemy costs some 6 µs a
    row more, and text some 2 µs (a tenth of a second and 0.03 s on a large town's ledger; the
    SQL has psycopg's ``%(name)s`` parameters)."""
    cursor = driver.cursor(row_factory=row_factory)
    try:
        return cursor.execute(sql, params, binary=True).fetchall()
    finally:
        cursor.close()


def _month_cases(conn: Connection, params: dict) -> list[Any]:
    """The town's cases reported before the month's end and not closed before its start, as
    named tuples (whose fields are read faster than a result row's)."""
    return _fetch(
        conn.connection.driver_connection,
        "SELECT c.id, c.number, c.address, c.description, ST_X(c.geom) AS lon, "
        "ST_Y(c.geom) AS lat, c.community_code, c.compound_code, c.channel, c.track, "
        "c.state, c.department_code, c.department_name, c.area_m2, c.discovered_at, "
        "c.reported_at, c.event_count, "
        f"{_local_text('c.discovered_at')} AS discovered, "
        f"{_local_text('c.reported_at')} AS reported FROM violation_case c WHERE "
        + CASES_WHERE.replace(":town", "%(town)s")
        .replace(":start", "%(start)s")
        .replace(":end", "%(end)s")
        + " ORDER BY c.reported_at, c.id",
        params,
        namedtuple_row,
    )


#: the cases whose events one query fetches: the first chunk's are waited for, the next
#: ones are read by the server while the rows of the chunk before are made
EVENT_CHUNK = 2000


def _with_events(
    driver: psycopg.Connection, wf: Workflow, end: datetime, cases: list[Any]
) -> Generator[tuple[Any, list[tuple]], None, None]:
    """Each case with its events up to the month's end (:func:`_events_of`), in the cases'
    order. A large town's are queried a chunk of cases at a time by a second thread, on the
    same connection and in its transaction, a chunk ahead: the server finds the events of the
    next chunks while the caller reads this one's and makes its rows, instead of the caller
    waiting for them all. The caller does not use the connection until the generator is
    closed, which waits for the thread (a chunk not yet begun is not queried)."""
    params = _events_params(wf, end)
    if len(cases) <= EVENT_CHUNK:
        events = _events_of(_events_query(driver, params, cases), cases)
        yield from ((c, events[c.id]) for c in cases)
        return
    chunks = [cases[i : i + EVENT_CHUNK] for i in range(0, len(cases), EVENT_CHUNK)]
    querier = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-events")
    queried = [querier.submit(_events_query, driver, params, chunk) for chunk in chunks]
    try:
        for chunk, future in zip(chunks, queried, strict=True):
            events = _events_of(future.result(), chunk)
            yield from ((c, events[c.id]) for c in chunk)
    finally:
        querier.shutdown(wait=True, cancel_futures=True)
        for future in queried:  # the results not read (the caller stopped early)
            if future.done() and not future.cancelled() and future.exception() is None:
                future.result().close()


def _events_params(wf: Workflow, end: datetime) -> dict:
    """The events query's parameters but the cases' ids, the same for every chunk: the month's
    end, the actions whose data is read and the quiet ones left out."""
    read = deadlines.read_actions(wf)
    with_data = {a for a, t in wf.transitions.items() if t.fields or t.optional_fields} | read
    return {"end": end, "with_data": sorted(with_data), "quiet": sorted(set(QUIET) - read)}


def _events_query(driver: psycopg.Connection, params: dict, cases: list[Any]) -> psycopg.Cursor:
    """The query of the cases' events up to the month's end (``params``: :func:`_events_params`),
    run on a cursor of its own that holds the result until it is read (:func:`_events_of`)."""
    cursor = driver.cursor()
    # the ids found by the first query, not its WHERE again: the cases' rows are not read
    # twice; joined from an array, so that the planner walks the (case_id, seq) index (a
    # literal list of thousands makes it scan the whole table). Each event's case_due row is
    # looked up by its key (OFFSET 0 keeps the subquery from being joined as a table): a hash
    # join read the whole of case_due, a row for every step of every case of the city
    try:
        return cursor.execute(
            "SELECT e.case_id, e.action, e.to_state, e.at, e.data->>'track' AS track, "
            "CASE WHEN e.action = ANY(%(with_data)s) THEN nullif(e.data, '{}') END AS data, "
            "d.seq IS NOT NULL, d.pending_due, d.rectification_due "
            "FROM unnest(%(ids)s::bigint[]) AS k(id) JOIN case_event e ON e.case_id = k.id "
            "LEFT JOIN LATERAL (SELECT d.seq, d.pending_due, d.rectification_due "
            "FROM case_due d WHERE d.case_id = e.case_id AND d.seq = e.seq OFFSET 0) d ON true "
            "WHERE e.at < %(end)s AND e.action <> ALL(%(quiet)s) ORDER BY e.case_id, e.seq",
            {**params, "ids": [c.id for c in cases]},
            binary=True,
        )
    except BaseException:
        cursor.close()
        raise


def _events_of(cursor: psycopg.Cursor, cases: list[Any]) -> dict[int, list[tuple]]:
    """The cases' events from :func:`_events_query`'s cursor (then closed), in order, as
    (action, to_state, at, track, data, kept) — data only for the actions with fields and
    those the deadlines read; kept: (pending due, rectification due) of the ``case_due`` row
    after the event, if any."""
    events: dict[int, list[tuple]] = {c.id: [] for c in cases}
    try:
        for case_id, action, to_state, at, track, data, has_due, pending, rect in cursor.fetchall():
            kept = (pending, rect) if has_due else None
            events[case_id].append((action, to_state, at, track, data, kept))
    finally:
        cursor.close()
    return events


@dataclass
class _Past:
    """A case as it stood at the month's end, replayed from its events."""

    track: str
    state: str | None
    state_at_start: str | None = None
    changed_in_month: bool = False
    visited: datetime | None = None
    confirmed: datetime | None = None
    verified: datetime | None = None
    signed_off: datetime | None = None
    measures: dict[str, None] = field(default_factory=dict)
    facts: dict[str, str] = field(default_factory=dict)  # 当事人, 结构类型: the latest said


def _replay(wf: Workflow, c: Any, evs: list[tuple], start: datetime, labels: dict) -> _Past:
    """The track, the states, the steps' first moments and the measures of a case up to the
    month's end; ``labels`` caches the measures without fields, by action."""
    # the track and state as they were: forward through the history up to the month's end
    past = _Past(track=c.track, state=c.state if c.event_count == 0 else None)
    for action, to_state, at, report_track, data, _ in evs:
        if action == "report":
            past.track = report_track or past.track
        transition = wf.transitions.get(action)
        if transition is not None and transition.set_track:
            past.track = transition.set_track
        if at < start:
            past.state_at_start = to_state
        elif to_state != past.state:
            past.changed_in_month = True
        past.state = to_state
        if action == "reopen":  # a new round: its steps start again
            past.visited = past.confirmed = past.verified = past.signed_off = None
        elif action == "site_visit":
            past.visited = past.visited or at
        elif action in ("confirm", "determine"):
            past.confirmed = past.confirmed or at
        elif action == "verify":
            past.verified = past.verified or at
        elif action == "sign_off":
            past.signed_off = past.signed_off or at
        for code in FACTS:
            if data and data.get(code) not in (None, ""):
                past.facts[code] = str(data[code])
        if action not in NOT_MEASURES:
            if data:
                past.measures[_measure(wf, action, data)] = None
            else:
                if action not in labels:
                    labels[action] = _measure(wf, action, None)
                past.measures[labels[action]] = None
    if past.state is None:  # events exist, none before the month's end (an import)
        past.state = wf.initial(past.track) if past.track in wf.tracks else c.state
    return past


def _deadlines(
    wf: Workflow,
    calendar: WorkCalendar,
    c: Any,
    track: str,
    evs: list[tuple],
    as_of: datetime,
) -> list[dict]:
    """The deadlines of the case's stages as they stood at ``as_of``."""
    events = [{"action": e[0], "at": e[2], "data": e[4]} for e in evs]
    # the track the case had at the month's end, not its track now
    return deadlines.evaluate_case(wf, calendar, {**c._asdict(), "track": track}, events, as_of)


def _rectifying_actions(wf: Workflow) -> set[str] | None:
    """The actions that begin a period of :data:`RECTIFICATION` (None: a period may begin
    without one, at a moment of the case)."""
    actions = set()
    for rule in wf.deadlines:
        if rule.code not in RECTIFICATION:
            continue
        if rule.start is not None or not rule.start_after:
            return None
        actions.update(name.partition(":")[0] for name in rule.start_after)
    return actions


def _ledger_row(
    number: int,
    c: Any,
    past: _Past,
    wf: Workflow,
    spec: State | None,
    names: dict,
    open_at_end: bool,
    overdue: bool,
) -> dict:
    """The ledger's row of a case: the Chinese columns, then the English keys."""
    track, state = past.track, past.state
    return {
        "序号": number,
        "案件编号": c.number,
        "当事人": past.facts.get("party", ""),
        "地点": c.address or c.description,
        "经度": round(c.lon, 6),
        "纬度": round(c.lat, 6),
        "所属社区": names.get(("community", c.community_code), c.community_code or ""),
        "所属小区": names.get(("compound", c.compound_code), c.compound_code or ""),
        "来源": wf.channels.get(c.channel, c.channel),
        "类型": TRACK_LABELS.get(track) or wf.tracks.get(track, {}).get("label", track),
        "责任部门": c.department_name or "待研判",
        AREA: round(c.area_m2, 2) if c.area_m2 is not None else "",
        "结构类型": _choice(wf, "structure_type", past.facts.get("structure_type")),
        "月末状态": spec.label if spec else state,
        "发现时间": c.discovered or "",
        "上报时间": c.reported or "",
        "现场核查时间": _when(past.visited),
        "认定时间": _when(past.confirmed),
        "处置措施": "；".join(past.measures),
        "验收时间": _when(past.verified),
        "销号时间": _when(past.signed_off),
        "是否超期": "是" if overdue else "否",
        "id": c.id,
        "number": c.number,
        "track": track,
        "state": state,
        "current_state": c.state,
        "open": open_at_end,
        "channel": c.channel,
        "department_code": c.department_code,
        "community_code": c.community_code,
        "compound_code": c.compound_code,
        "overdue": overdue,
    }


def _choice(wf: Workflow, code: str, value: str | None) -> str:
    spec = wf.fields.get(code)
    if value is None:
        return ""
    return spec.choices.get(value, value) if spec and spec.choices else value


def summary_counts(rows: list[dict]) -> dict[str, int]:
    return {
        "total": len(rows),
        "new": sum(r["track"] == "new" for r in rows),
        "backlog": sum(r["track"] == "backlog" for r in rows),
        "overdue": sum(bool(r["overdue"]) for r in rows),
    }


# -- exports -------------------------------------------------------------------------------


def display_width(value: Any) -> int:
    """Columns a value takes in Excel: a CJK (wide) character counts as two."""
    s = "" if value is None else str(value)
    if s.isascii():
        return len(s)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in s)


def _column_width(header: str, values: set, decimals: int) -> int:
    """The widest of a column's header and (distinct) values, numbers as they are shown (up
    to :data:`MAX_WIDTH`: a column is never made wider)."""
    width = display_width(header)
    texts = [v for v in values if v.__class__ is str]
    if len(texts) < len(values):
        ints = [v for v in values if v.__class__ is int]
        floats = [v for v in values if v.__class__ is float]
        # the widest number is the largest or the most negative
        if ints:
            width = max(width, len(str(max(ints))), len(str(min(ints))))
        if floats:
            width = max(width, *(len(f"{v:.{decimals}f}") for v in (max(floats), min(floats))))
        for value in values:  # anything else (a date, a boolean) as it reads
            if value is not None and value.__class__ not in (str, int, float):
                width = max(width, display_width(value))
    if not texts:
        return width
    # a character is one column or two: the longest text is a lower bound, and only texts not
    # all ASCII can be wider than long; the longest of those first, until one counted all wide
    # (2) cannot pass the width found
    width = max(width, max(map(len, texts)))
    wide = sorted((v for v in texts if not v.isascii()), key=len, reverse=True)
    for value in wide:
        if width >= MAX_WIDTH or 2 * len(value) <= width:
            break
        width = max(width, display_width(value))
    return width


def _safe_column(rows: list[dict], key: str) -> list:
    """The rows' values under ``key``, its texts as a workbook cell (:func:`weijian.text.cell`:
    never a formula), each distinct text looked at once."""
    values = list(map(dict.get, rows, repeat(key)))
    changed = cell_changes([v for v in set(values) if v.__class__ is str])
    return [changed.get(v, v) for v in values] if changed else values


def export_xlsx(
    rows: list[dict], town_name: str, month: date, *, generated_at: datetime | None = None
) -> bytes:
    """The ledger as a workbook fit for filing: a sheet per track (新增违建, 存量违建; both always
    there), each with its title, a bold header frozen and repeated on every printed page, an
    auto-filter, widths that fit, rows numbered from 1, and the block the town signs and
    stamps (填报单位 / 填报人 / 审核人 / 日期 / 盖章); printed landscape, fitted to the page's
    width. A sheet 说明 gives the town, the month, the counts and the definitions."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    generated_at = generated_at or datetime.now(LOCAL)
    book = Workbook()
    rest: dict = {}  # the rows after a sheet's first, written by xlsx_rows once it is saved
    for index, (title, track) in enumerate(SHEETS):
        sheet = book.active if index == 0 else book.create_sheet()
        sheet.title = title
        chosen = [row for row in rows if row["track"] == track]
        # the table by its columns: 序号 numbered from 1 in each sheet, then the rows' values
        # made safe (never a formula: weijian.text.cell)
        columns = [list(range(1, len(chosen) + 1))]
        columns += [_safe_column(chosen, header) for header in HEADERS[1:]]
        styles = _ledger_sheet(
            sheet, f"{town_name}{title}台账（{month.year}年{month.month}月）", columns
        )
        _sign_block(sheet, town_name, HEADER_ROW + len(chosen) + 2)
        _print_setup(sheet)
        if len(chosen) > 1:
            rest[sheet] = (styles, [column[1:] for column in columns])
    counts = summary_counts(rows)
    info = book.create_sheet("说明")
    bold = Font(bold=True)
    for key, value in (
        ("镇（街道）", town_name),
        ("月份", month_text(month)),
        ("案件总数", counts["total"]),
        ("新增", counts["new"]),
        ("存量", counts["backlog"]),
        ("超期", counts["overdue"]),
        ("生成时间", generated_at.astimezone(LOCAL).strftime(TIME_FORMAT)),
        ("统计口径", "本月月底前上报、且本月初尚未办结的案件；状态与处置措施截至月末（北京时间）"),
        ("是否超期", "月末时案件当前环节的办理期限已过而仍未办理的为“是”，其余为“否”"),
        ("整改期限", "责令停止通知或拆除决定给当事人的整改（自行拆除）期限的最后一日"),
    ):
        info.append([key, safe_cell(value)])
        info.cell(info.max_row, 1).font = bold
    info.column_dimensions["A"].width = 14
    info.column_dimensions["B"].width = min(
        MAX_WIDTH, max(display_width(c.value) for c in info["B"]) + 2
    )
    buffer = io.BytesIO()
    book.save(buffer)
    first = HEADER_ROW + 1
    return xlsx_rows.insert_rows(
        buffer.getvalue(),
        {
            sheet.path.lstrip("/"): (
                first,
                xlsx_rows.columns_xml(columns, first + 1, styles),
            )
            for sheet, (styles, columns) in rest.items()
        },
    )


#: the rows of a ledger sheet: the title, the header, then the cases
TITLE_ROW, HEADER_ROW = 1, 2


def _ledger_sheet(sheet, title: str, columns: list[list]) -> dict[int, int]:
    """The title, the header and the table's first row (the others are written as XML once
    the workbook is saved: :mod:`.xlsx_rows`); the table is given by its ``columns``, in the
    order of :data:`HEADERS`. Returns the cell styles of the number columns by their index."""
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    last = get_column_letter(len(HEADERS))
    sheet.append([safe_cell(title)])
    sheet.merge_cells(f"A{TITLE_ROW}:{last}{TITLE_ROW}")
    cell = sheet.cell(TITLE_ROW, 1)
    cell.font = Font(bold=True, size=16)
    cell.alignment = Alignment(horizontal="center", vertical="center")
    sheet.row_dimensions[TITLE_ROW].height = 30
    sheet.append(list(HEADERS))
    count = len(columns[0])
    if count:
        sheet.append([None if c[0] == "" else c[0] for c in columns])
    decimals = {HEADERS.index("经度"): 6, HEADERS.index("纬度"): 6, HEADERS.index(AREA): 2}
    widths = [
        _column_width(header, set(column), decimals.get(i, 6))
        for i, (header, column) in enumerate(zip(HEADERS, columns, strict=True))
    ]
    for cell in sheet[HEADER_ROW]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    styles = {}
    if count:
        for column, places in decimals.items():
            cell = sheet.cell(HEADER_ROW + 1, column + 1)
            cell.number_format = "0." + "0" * places
            styles[column] = cell.style_id
    sheet.freeze_panes = f"A{HEADER_ROW + 1}"
    sheet.auto_filter.ref = f"A{HEADER_ROW}:{last}{HEADER_ROW + count}"
    for i, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = min(width + 2, MAX_WIDTH)
    return styles


#: the block under a ledger that the town fills in by hand, signs and stamps
SIGN_LABELS = ("填报单位（盖章）：", "填报人：", "审核人：", "填报日期：")


def _sign_block(sheet, town_name: str, start: int) -> None:
    """Two rows from ``start`` (one blank row under the table): 填报单位 with the town's name
    and room for its stamp, 填报人, 审核人 and 日期 with room to sign."""
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    span = len(HEADERS) // len(SIGN_LABELS)
    for i, label in enumerate(SIGN_LABELS):
        first = 1 + i * span
        last = len(HEADERS) if i == len(SIGN_LABELS) - 1 else first + span - 1
        text = label + (town_name if i == 0 else "　　年　　月　　日" if i == 3 else "")
        sheet.cell(start, first, text).font = Font(bold=True)
        sheet.cell(start, first).alignment = Alignment(vertical="top")
        sheet.merge_cells(f"{get_column_letter(first)}{start}:{get_column_letter(last)}{start + 1}")
    sheet.row_dimensions[start].height = 24
    sheet.row_dimensions[start + 1].height = 36  # room for a signature and the stamp


def _print_setup(sheet) -> None:
    """Landscape A3, fitted to the page's width (as many pages down as needed), the title and
    the header repeated on every page, centred, with page numbers in the footer."""
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A3
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_title_rows = f"{TITLE_ROW}:{HEADER_ROW}"
    sheet.print_options.horizontalCentered = True
    sheet.oddFooter.center.text = "第 &P 页，共 &N 页"


def export_csv(rows: list[dict]) -> bytes:
    """The ledger as CSV in UTF-8 with a byte-order mark, so Excel reads the Chinese; both
    tracks in one file (the column 类型 tells them apart)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADERS)
    for row in rows:
        writer.writerow(["" if row.get(h) is None else safe_cell(row.get(h)) for h in HEADERS])
    return buffer.getvalue().encode("utf-8-sig")
