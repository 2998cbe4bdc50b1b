"""The workbench's inbox (工作台): the cases waiting for a user, as the 数字城管 desk has them.

- 待办 ``todo``: cases whose next step is the user's — the department's cases where its role
  has a step, unassigned or assigned to the user (a department leader sees the unassigned ones
  to dispatch and his own); a step the workflow gives the role on another department's case
  in the user's district (natural resources' nature determination of a backlog case); for a
  town or a community, the steps the workflow gives it in its grid. Supervisors and
  administrators have no 待办: their desk is 督办 and 关注.
- 已办 ``done``: the cases the user acted on, the latest first.
- 督办 ``urged``: the cases with an urge not yet answered, addressed to the user or his unit.
- 关注 ``followed``: the cases the user follows.

Every tab lies within the user's scope, is sorted by urgency (the current stage's deadline)
and paged by a cursor; the counts of all tabs come with each page. Plain SQL over the
indexed columns the case service keeps (``stage_code``, ``stage_due``, ``last_event_at``).
The 待办's indexes carry the words a search looks in, so that a search for a word most cases
hold (a year) is counted from them, not from every case's row."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from sqlalchemy import Connection, text

from weijian.cases.deadlines import missed
from weijian.cases.detail import summary
from weijian.cases.rows import CASE_COLUMNS, overdue_sql, words_sql
from weijian.cases.scope import Principal, scope_sql
from weijian.cases.workflow import Workflow
from weijian.errors import InputError

TABS = ("todo", "done", "urged", "followed")
TAB_LABELS = {"todo": "待办", "done": "已办", "urged": "督办", "followed": "关注"}
#: steps that are an option on every case rather than its next step (a property company's or
#: grid worker's 劝阻记录 is no case waiting for them)
NOT_NEXT_STEPS = ("transfer", "reopen", "dissuade")
DESKS_WITHOUT_TODO = ("admin", "supervisor")
MAX_LIMIT = 200
#: the longest description (bytes) the inbox's indexes carry with the number and the address
#: (migration 0025: a B-tree entry holds about 2,700 bytes): a 待办 counted under a search is
#: read from them alone; the open cases of a longer description have an index of their own
INDEXED_DESCRIPTION_BYTES = 1200
#: each branch of a 待办 is read twice, once from each of these: the conditions as the
#: indexes' predicates are written, which is how PostgreSQL takes those indexes
DESCRIPTION_SPLIT = (
    f"octet_length(c.description) <= {INDEXED_DESCRIPTION_BYTES}",
    f"octet_length(c.description) > {INDEXED_DESCRIPTION_BYTES}",
)


@dataclass(frozen=True)
class InboxFilter:
    state: str | None = None
    q: str | None = None
    overdue: bool | None = None
    stalled: bool | None = None
    mine: bool = False  # only the cases assigned to the user (我的案件)
    grid: str | None = None  # only the cases in this grid, at any level (from the dashboard)


def next_step_states(wf: Workflow, role: str) -> tuple[list[str], list[str]]:
    """The states in which ``role`` has a next step on the cases its department holds, and
    those in which it has one on any case in its scope (a step not reserved to the holder).
    A step taken elsewhere (``via``: a document, the joint meeting) is no next step here: the
    meeting's decision waits as the case's stage instead."""
    holder: set[str] = set()
    anyone: set[str] = set()
    for t in wf.transitions.values():
        if t.action in NOT_NEXT_STEPS or t.via is not None or role not in t.roles:
            continue
        holder.update(t.sources)
        if not t.holder_only or role not in wf.department_roles:
            anyone.update(t.sources)
    return sorted(holder), sorted(anyone)


def _todo(principal: Principal, wf: Workflow) -> tuple[list[str], dict]:
    """The 待办 of a user as disjoint branches, each of which an index hands over in the order
    of urgency: the department's own cases (``violation_case_inbox_department``), and per
    state the cases of the district or grid where the role has a step on any case (the
    ``_inbox_district`` / ``_inbox_town`` … indexes, whose order holds for one state). Every
    branch lies inside the user's scope: a department user's scope is its district and its
    department's cases, a grid user's its grid."""
    if principal.role in DESKS_WITHOUT_TODO or principal.api_client_id is not None:
        return [], {}
    holder, anyone = next_step_states(wf, principal.acts_as)
    params: dict = {"todo_holder": holder, "todo_me": principal.id}
    params.update({f"todo_s{i}": state for i, state in enumerate(anyone)})
    if principal.role in wf.department_roles and principal.department_code:
        params.update(todo_dept=principal.department_code, todo_district=principal.district_code)
        own = (
            "c.department_code = :todo_dept AND c.state = ANY(:todo_holder) "
            "AND (c.assignee_user_id IS NULL OR c.assignee_user_id = :todo_me)"
        )
        others = [
            f"c.district_code = :todo_district AND c.state = :todo_s{i} "
            "AND c.department_code IS DISTINCT FROM :todo_dept"
            for i in range(len(anyone))
        ]
        return [own, *others], params
    if principal.grid_level and principal.grid_code:
        params["todo_grid"] = principal.grid_code
        column = f"c.{principal.grid_level}_code"
        return [f"{column} = :todo_grid AND c.state = :todo_s{i}" for i in range(len(anyone))], (
            params
        )
    return [], {}


def _urged(principal: Principal) -> tuple[str, dict]:
    """Cases with an urge not yet answered, addressed to the user or to his department."""
    return (
        "EXISTS (SELECT 1 FROM case_urge u WHERE u.case_id = c.id AND u.answered_at IS NULL "
        "AND (u.to_user_id = :urged_me OR u.to_department_code = :urged_dept))",
        {"urged_me": principal.id, "urged_dept": principal.department_code or ""},
    )


@dataclass(frozen=True)
class Tab:
    """A tab as SQL: FROM, the disjoint branches of its WHERE (rows of one branch come out of
    an index in the tab's order), the order's name, the parameters; ``scoped``: every branch
    lies inside the user's scope already."""

    source: str
    branches: list[str]
    order: str
    params: dict
    scoped: bool = False


def _tab(principal: Principal, wf: Workflow, tab: str) -> Tab:
    if tab == "todo":
        branches, params = _todo(principal, wf)
        split = [f"c.is_open AND {b} AND {d}" for b in branches for d in DESCRIPTION_SPLIT]
        return Tab("violation_case c", split, "urgency", params, scoped=True)
    if tab == "done":
        return Tab(
            "(SELECT case_id, max(at) AS mine_at FROM case_event WHERE actor_user_id = :done_me "
            "GROUP BY case_id) d JOIN violation_case c ON c.id = d.case_id",
            ["true"],
            "latest",
            {"done_me": principal.id},
        )
    if tab == "urged":
        where, params = _urged(principal)
        return Tab("violation_case c", [f"c.is_open AND {where}"], "urgency", params)
    return Tab(
        "case_follow f JOIN violation_case c ON c.id = f.case_id",
        ["f.user_id = :follow_me"],
        "latest_follow",
        {"follow_me": principal.id},
    )


def _filters(
    conn: Connection, f: InboxFilter, principal: Principal, now: datetime, stalled_days: int
) -> tuple:
    parts, params = [], {}
    if f.state:
        parts.append("c.state = ANY(:f_states)")
        params["f_states"] = [s.strip() for s in f.state.split(",") if s.strip()]
    if f.q:
        found, words = words_sql(conn, f.q, ("number", "address", "description"), name="f_q")
        parts.append(found)
        params.update(words)
    if f.overdue is not None:
        parts.append(("" if f.overdue else "NOT ") + overdue_sql("c"))
        params["now"] = now
    if f.stalled:
        # as written, so that the open cases' index of their last step answers it
        parts.append("(c.is_open AND c.last_event_at < :f_stalled)")
        params["f_stalled"] = now - timedelta(days=stalled_days)
    elif f.stalled is not None:
        parts.append("NOT coalesce(c.is_open AND c.last_event_at < :f_stalled, false)")
        params["f_stalled"] = now - timedelta(days=stalled_days)
    if f.grid:
        parts.append(":f_grid IN (c.district_code, c.town_code, c.community_code, c.compound_code)")
        params["f_grid"] = f.grid
    if f.mine:
        parts.append("c.assignee_user_id = :f_me")
        params["f_me"] = principal.id
    return " AND ".join(parts) or "true", params


#: order → (ORDER BY of a branch, its sort key, the id column, ORDER BY of the merged branches)
ORDERS = {
    "urgency": (
        "c.stage_due ASC NULLS LAST, c.id ASC",
        "c.stage_due",
        "c.id",
        "p.sort_key ASC NULLS LAST, p.id ASC",
    ),
    "latest": ("d.mine_at DESC, c.id DESC", "d.mine_at", "c.id", "p.sort_key DESC, p.id DESC"),
    "latest_follow": ("f.since DESC, c.id DESC", "f.since", "c.id", "p.sort_key DESC, p.id DESC"),
}


def _cursor(key: datetime | None, case_id: int) -> str:
    raw = orjson.dumps({"k": key.isoformat() if key else None, "i": case_id})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after(order: str, cursor: str | None) -> tuple[str, dict]:
    """The keyset condition for the rows after ``cursor`` in ``order``."""
    if not cursor:
        return "true", {}
    try:
        raw = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        key = datetime.fromisoformat(raw["k"]) if raw["k"] else None
        case_id = int(raw["i"])
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        raise InputError(
            "翻页标记无效，请从第一页重新打开",
            code="inbox.cursor_invalid",
            detail=f"{cursor!r} is not a cursor of this list",
            hint="use the next_cursor of the previous page",
        ) from None
    _, column, id_column, _ = ORDERS[order]
    params = {"c_key": key, "c_id": case_id}
    if order == "urgency":  # ascending, NULLs last
        if key is None:
            return f"({column} IS NULL AND {id_column} > :c_id)", params
        return (
            f"({column} > :c_key OR ({column} = :c_key AND {id_column} > :c_id) "
            f"OR {column} IS NULL)",
            params,
        )
    return f"({column} < :c_key OR ({column} = :c_key AND {id_column} < :c_id))", params


def inbox(
    conn: Connection,
    principal: Principal,
    wf: Workflow,
    now: datetime,
    *,
    tab: str = "todo",
    filters: InboxFilter | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> dict:
    """One page of a tab, with the counts of every tab under the same filters."""
    if tab not in TABS:
        raise InputError(
            f"没有“{tab}”这个分页，可选：待办 todo、已办 done、督办 urged、关注 followed",
            code="inbox.tab_unknown",
            detail=f"unknown tab {tab!r}",
            hint="tab is one of todo, done, urged, followed",
        )
    if not 1 <= limit <= MAX_LIMIT:
        raise InputError(
            f"每页条数应在 1～{MAX_LIMIT} 之间",
            code="inbox.limit_invalid",
            detail=f"limit must be 1…{MAX_LIMIT}",
        )
    filters = filters or InboxFilter()
    stalled_days = wf.stalled_days
    scope, scope_params = scope_sql(principal)
    filter_sql, filter_params = _filters(conn, filters, principal, now, stalled_days)
    shared = {**scope_params, **filter_params}
    counts = {}
    for name in TABS:
        t = _tab(principal, wf, name)
        counts[name] = _count(conn, t, _conditions(t, scope, filter_sql), shared)
    t = _tab(principal, wf, tab)
    after, after_params = _after(t.order, cursor)
    conditions = _conditions(t, scope, f"{filter_sql} AND {after}")
    # a tab counted empty has no rows to look for: a search that finds nothing would walk the
    # whole tab in its order, as long again as counting it
    if not counts[tab]:
        conditions = []
    rows = _rows(conn, t, conditions, {**shared, **after_params, "me": principal.id}, limit + 1)
    page = [dict(r) for r in rows[:limit]]
    last = page[-1] if len(rows) > limit else None
    return {
        "tab": tab,
        "tab_label": TAB_LABELS[tab],
        "as_of": now,  # the server's clock, that countdowns run from
        "counts": counts,
        "items": [item(r, wf, now, stalled_days) for r in page],
        "next_cursor": _cursor(last["sort_key"], last["id"]) if last else None,
    }


def _conditions(t: Tab, scope: str, extra: str) -> list[str]:
    """The WHERE of each branch of a tab, within the scope and the filters."""
    return [f"{b} AND {extra}" + ("" if t.scoped else f" AND {scope}") for b in t.branches]


def _count(conn: Connection, t: Tab, conditions: list[str], params: dict) -> int:
    if not conditions:
        return 0
    counted = " + ".join(f"(SELECT count(*) FROM {t.source} WHERE {w})" for w in conditions)
    return conn.execute(text(f"SELECT {counted}"), {**t.params, **params}).scalar_one()


def _rows(conn: Connection, t: Tab, conditions: list[str], params: dict, limit: int) -> list:
    """The first ``limit`` rows of the tab in its order: the first of each branch, each read
    from an index in that order, then merged."""
    if not conditions:
        return []
    order_sql, key_column, _, merged = ORDERS[t.order]
    picked = " UNION ALL ".join(
        f"(SELECT c.id, {key_column} AS sort_key FROM {t.source} WHERE {w} "
        f"ORDER BY {order_sql} LIMIT :limit)"
        for w in conditions
    )
    return (
        conn.execute(
            text(
                f"SELECT {CASE_COLUMNS}, p.sort_key, u.display_name AS assignee_name, "
                "(SELECT row_to_json(o) FROM (SELECT id, note, urged_at, reply_due, urged_by_name "
                "FROM case_urge WHERE case_id = c.id AND answered_at IS NULL "
                "ORDER BY reply_due LIMIT 1) o) AS open_urge, "
                "EXISTS (SELECT 1 FROM case_follow cf WHERE cf.case_id = c.id "
                "AND cf.user_id = :me) AS followed "
                f"FROM ({picked}) p JOIN violation_case c ON c.id = p.id "
                "LEFT JOIN app_user u ON u.id = c.assignee_user_id "
                f"ORDER BY {merged} LIMIT :limit"
            ),
            {**t.params, **params, "limit": limit},
        )
        .mappings()
        .all()
    )


def stage_of(wf: Workflow, row: dict, now: datetime, stalled_days: int) -> dict | None:
    """The current stage of a case: its deadline, overdue, stalled."""
    stalled = bool(
        row["is_open"]
        and row["last_event_at"] is not None
        and row["last_event_at"] < now - timedelta(days=stalled_days)
    )
    if not row["is_open"] or not row["stage_code"]:
        return {"code": None, "label": None, "due": None, "overdue": False, "stalled": stalled}
    label = next((d.label for d in wf.deadlines if d.code == row["stage_code"]), row["stage_code"])
    return {
        "code": row["stage_code"],
        "label": label,
        "due": row["stage_due"],
        "overdue": missed(row["stage_due"], None, now),
        "stalled": stalled,
    }


def item(row: dict, wf: Workflow, now: datetime, stalled_days: int) -> dict:
    """One row of the inbox: the case's summary, its stage, its last step, who has it."""
    out = summary(row, now, wf)
    out["stage"] = stage_of(wf, row, now, stalled_days)
    out["last_event"] = (
        {
            "action": row["last_action"],
            "label": wf.label_of(row["last_action"]),
            "at": row["last_event_at"],
        }
        if row["last_action"]
        else None
    )
    out["assignee"] = (
        {"id": row["assignee_user_id"], "name": row["assignee_name"]}
        if row["assignee_user_id"]
        else None
    )
    out["urge"] = row["open_urge"]
    out["followed"] = bool(row["followed"])
    return out
