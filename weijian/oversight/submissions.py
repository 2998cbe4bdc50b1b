"""A town's monthly ledger sent to the district and the district's decision on it (台账报送与审核).

A submission names the person who filled the ledger in (填报人) and, if the town says so, who
checked it (审核人), and carries the signed and stamped scan (a PDF or a photo, checked by its
bytes and kept as evidence is kept, by its sha256). Sending a month's ledger again supersedes
the earlier submission, which stays as history. The district's city-management enforcement
department (or a supervisor) accepts the latest submission (接收) or returns it with a reason
(退回); the town then sends it again. Nothing is updated or deleted (both tables are
append-only): the state of a town's month is derived from its latest submission and that
submission's review.

The state of a town's month: 未报送 (nothing sent, the due day not passed), 逾期未报送 (nothing
sent after it), 待审核, 已退回, 已接收; whether the first submission was late is kept
apart (``status``: 按时报送 / 逾期报送 / 待报送 / 未报送（已逾期）, as before).
:func:`ledger_counts` gives the assessment its 台账报送率. Plain functions over a SQLAlchemy
connection: no HTTP, no CLI.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from typing import BinaryIO

from sqlalchemy import Connection, Row, text

from weijian.cases.clock import LOCAL
from weijian.cases.evidence import JPEG, PDF, PNG, EvidenceStore, Inspected, inspect, read_limited
from weijian.cases.scope import Principal
from weijian.errors import ConflictError, InputError, NotFoundError, PermissionDenied
from weijian.oversight import leaves
from weijian.oversight.ledger import can_read, check_read, town_info
from weijian.oversight.periods import (
    due_date,
    due_moment,
    month_bounds,
    month_text,
    next_month,
)
from weijian.text import clean

#: who may send a town's ledger for it besides the town itself
SUBMITTERS = ("admin", "supervisor")
#: whether the first submission came in time (the list's ``status``)
STATUS_LABELS = {
    "on_time": "按时报送",
    "late": "逾期报送",
    "missing": "未报送（已逾期）",
    "pending": "待报送",
}
#: where a town's month stands (the list's ``state``)
STATE_LABELS = {
    "not_submitted": "未报送",
    "overdue": "逾期未报送",
    "pending_review": "待审核",
    "returned": "已退回",
    "accepted": "已接收",
}
DECISIONS = {"accept": "accepted", "return": "returned"}
DECISION_LABELS = {"accepted": "接收", "returned": "退回"}
#: what a signed scan may be: a scanned PDF or a photo of the signed sheets
SCAN_TYPES = {PDF: "PDF", JPEG: "JPG", PNG: "PNG"}
MAX_NAME = 30
#: a person's name: letters (Chinese or not), the middle dot of minority and foreign names,
#: spaces; no digits, no account-like signs
PERSON_NAME = re.compile(r"[^\W\d_]+(?:[ ·・.][^\W\d_]+)*")


@dataclass(frozen=True)
class Scan:
    """A signed scan read from an upload, checked by its bytes."""

    inspected: Inspected
    content: bytes


def read_scan(stream: BinaryIO, filename: str, max_bytes: int) -> Scan:
    """The upload read (at most ``max_bytes``) and checked: a PDF, JPEG or PNG by its bytes."""
    content = read_limited(stream, max_bytes, filename=filename)
    inspected = inspect(content, filename, "document")
    if inspected.media_type not in SCAN_TYPES:
        raise InputError(
            f"签字盖章的台账扫描件应为 PDF 文件或 JPG、PNG 照片，“{inspected.filename}”不是；"
            "请扫描（或拍照）签字盖章后的纸质台账再上传",
            code="ledger.scan_type",
            detail=f"the signed scan must be a PDF, JPEG or PNG, not {inspected.media_type}",
            hint="scan or photograph the signed and stamped ledger, upload the PDF or photo",
        )
    return Scan(inspected, content)


def person_name(
    value: str | None, label: str, principal: Principal, *, required: bool
) -> str | None:
    """A person's name as given (填报人, 审核人): a real name, not the login account."""
    name = re.sub(r"\s+", " ", value or "").strip()
    if not name:
        if not required:
            return None
        raise InputError(
            f"请填写{label}的姓名（本人真实姓名）",
            code="ledger.person_required",
            detail=f"the {label} (a person's name) is required",
            hint="give the name of the person who filled in the ledger",
        )
    if len(name) > MAX_NAME or not PERSON_NAME.fullmatch(name):
        raise InputError(
            f"{label}“{name}”不像一个人的姓名：请填写本人真实姓名（不超过 {MAX_NAME} 个字，"
            "不含数字和符号）",
            code="ledger.person_invalid",
            detail=f"{name!r} is not a person's name",
            hint="a person's name: letters only, at most 30 characters",
        )
    if principal.id is not None and name.casefold() == principal.username.casefold():
        raise InputError(
            f"{label}应填写本人真实姓名，而不是登录账号“{name}”",
            code="ledger.person_is_account",
            detail="give the person's name, not the account's",
            hint="the person who filled in (or checked) the ledger, by name",
        )
    return name


def _lock(conn: Connection, town_code: str, month: date) -> None:
    """One submission or review of a town's month at a time."""
    conn.execute(
        text("SELECT pg_advisory_xact_lock(hashtext('ledger:' || :t || ':' || :m))"),
        {"t": town_code, "m": month.isoformat()},
    )


SUBMISSION_FIELDS = (
    "s.id, s.town_code, s.month, s.submitted_by, s.submitter_name, s.reviewer_name, "
    "s.submitted_at, s.case_count, s.sha256, s.note, s.supersedes, s.scan_sha256, "
    "s.scan_media_type, s.scan_filename, s.scan_size"
)
#: each submission with its latest review and the one that superseded it
WITH_REVIEW = (
    f"SELECT {SUBMISSION_FIELDS}, r.decision, r.reason, r.reviewer_name AS decided_by, "
    "r.reviewed_at, n.id AS superseded_by FROM ledger_submission s "
    "LEFT JOIN LATERAL (SELECT decision, reason, reviewer_name, reviewed_at FROM ledger_review "
    "WHERE submission_id = s.id ORDER BY reviewed_at DESC, id DESC LIMIT 1) r ON true "
    "LEFT JOIN ledger_submission n ON n.supersedes = s.id"
)


def _latest(conn: Connection, town_code: str, month: date) -> Row | None:
    return conn.execute(
        text(
            f"{WITH_REVIEW} WHERE s.town_code = :t AND s.month = :m "
            "ORDER BY s.submitted_at DESC, s.id DESC LIMIT 1"
        ),
        {"t": town_code, "m": month},
    ).first()


def _check_submitter(principal: Principal, town_code: str) -> None:
    if principal.role == "town":
        if principal.grid_code != town_code:
            raise NotFoundError(
                f"未找到镇（街道）{town_code}（或不在您的权限范围内）；镇（街道）只能报送本级台账",
                code="town.not_found",
                detail=f"no town {town_code} within your scope",
                hint="a town submits its own ledger",
            )
    elif principal.role not in SUBMITTERS:
        raise PermissionDenied(
            f"角色 {principal.role} 无权报送镇（街道）台账；台账由街道办/镇政府报送，"
            "或由系统管理员、督导人员代为报送",
            code="ledger.role_not_allowed",
            detail=f"the role {principal.role} may not submit a town's ledger",
            hint="the town (街道办/镇政府) submits its ledger; or an administrator or supervisor",
        )


def _store_scan(store: EvidenceStore | None, scan: Scan | None) -> dict:
    if scan is None:
        return dict.fromkeys(("sha", "media", "filename", "size", "storage", "path", "content"))
    storage = store.storage if store is not None else "database"
    path = store.put(scan.inspected, scan.content) if store is not None else None
    return {
        "sha": scan.inspected.sha256,
        "media": scan.inspected.media_type,
        "filename": scan.inspected.filename,
        "size": scan.inspected.size,
        "storage": storage,
        "path": path,
        "content": scan.content if storage == "database" else None,
    }


def submit(
    conn: Connection,
    principal: Principal,
    town_code: str,
    month: date,
    rows: list[dict],
    content_sha256: str,
    now: datetime,
    note: str | None = None,
    *,
    due_day: int,
    submitter: str | None,
    reviewer: str | None = None,
    scan: Scan | None = None,
    store: EvidenceStore | None = None,
) -> dict:
    """Record that the town sent ``month``'s ledger (the workbook the server generated, by its
    sha256) to the district, filled in by ``submitter`` (a person's name) with the signed scan.
    A town sends its own ledger; administrators and supervisors may send one for it. A month's
    ledger is sent once the month is over; sending it again supersedes the earlier submission
    (kept as history) — unless the district has accepted it. The first submission decides
    whether it was on time."""
    month = month.replace(day=1)
    town = town_info(conn, town_code)
    _check_submitter(principal, town_code)
    submitter = person_name(submitter, "填报人", principal, required=True)
    reviewer = person_name(reviewer, "审核人", principal, required=False)
    _, end = month_bounds(month)
    if now < end:
        raise ConflictError(
            f"{month_text(month)} 的台账须在当月结束后报送，请于 {end:%Y-%m-%d} 起报送",
            code="ledger.month_not_over",
            detail=f"the ledger of {month_text(month)} is sent once the month is over",
            hint=f"submit it from {end:%Y-%m-%d} on",
        )
    _lock(conn, town_code, month)
    latest = _latest(conn, town_code, month)
    if latest is not None and latest.decision == "accepted":
        raise ConflictError(
            f"{town['name']} {month_text(month)} 的台账已于 {latest.reviewed_at:%Y-%m-%d} 被区县"
            "接收，无需再次报送；如需更正，请联系区县城管执法部门",
            code="ledger.already_accepted",
            detail="the district has accepted this month's ledger",
            hint="ask the district to return it first",
        )
    stored = _store_scan(store, scan)
    note = clean(note, "备注", "note", multiline=True, field="note")
    row = conn.execute(
        text(
            "INSERT INTO ledger_submission (town_code, month, submitted_by, submitter_name, "
            "reviewer_name, submitted_at, case_count, sha256, note, supersedes, scan_sha256, "
            "scan_media_type, scan_filename, scan_size, scan_storage, scan_path, scan_content) "
            "VALUES (:t, :m, :by, :name, :reviewer, :at, :n, :sha256, :note, :supersedes, :sha, "
            ":media, :filename, :size, :storage, :path, :content) RETURNING id"
        ),
        {
            "t": town_code,
            "m": month,
            "by": principal.id,
            "name": submitter,
            "reviewer": reviewer,
            "at": now,
            "n": len(rows),
            "sha256": content_sha256,
            "note": note,
            "supersedes": latest.id if latest is not None else None,
            **stored,
        },
    ).one()
    due = due_moment(month, due_day)
    first = conn.execute(
        text("SELECT min(submitted_at) FROM ledger_submission WHERE town_code = :t AND month = :m"),
        {"t": town_code, "m": month},
    ).scalar()
    status = _status(first, due, now)
    return {
        "id": row.id,
        "town_code": town_code,
        "town_name": town["name"],
        "district_code": town["district_code"],
        "month": month_text(month),
        "submitted_by": principal.id,
        "submitter": submitter,
        "reviewer": reviewer,
        "submitted_at": now,
        "case_count": len(rows),
        "sha256": content_sha256,
        "note": note,
        "supersedes": latest.id if latest is not None else None,
        "scan": _scan_json(row.id, stored["filename"], stored["media"], stored["size"]),
        "due_date": due_date(month, due_day).isoformat(),
        "status": status,
        "status_label": STATUS_LABELS[status],
        "state": "pending_review",
        "state_label": STATE_LABELS["pending_review"],
        "late": now >= due,
    }


def _scan_json(submission_id: int, filename, media_type, size) -> dict | None:
    if filename is None:
        return None
    return {
        "filename": filename,
        "media_type": media_type,
        "size": size,
        "url": f"/api/v1/ledger/submissions/{submission_id}/scan",
    }


def _status(first: datetime | None, due: datetime, now: datetime) -> str:
    if first is not None:
        return "on_time" if first < due else "late"
    return "pending" if now < due else "missing"


def _state(latest, due: datetime, now: datetime) -> str:
    if latest is None:
        return "not_submitted" if now < due else "overdue"
    if latest.decision == "accepted":
        return "accepted"
    if latest.decision == "returned":
        return "returned"
    return "pending_review"


def _item(s) -> dict:
    """One submission as the API shows it."""
    return {
        "id": s.id,
        "submitter": s.submitter_name,
        "reviewer": s.reviewer_name,
        "submitted_at": s.submitted_at,
        "case_count": s.case_count,
        "sha256": s.sha256,
        "note": s.note,
        "supersedes": s.supersedes,
        "superseded_by": s.superseded_by,
        "scan": _scan_json(s.id, s.scan_filename, s.scan_media_type, s.scan_size),
        "decision": s.decision,
        "decision_label": DECISION_LABELS.get(s.decision),
        "reason": s.reason,
        "decided_by": s.decided_by,
        "reviewed_at": s.reviewed_at,
    }


def history(
    conn: Connection, principal: Principal, town_code: str, month: date, now: datetime, due_day: int
) -> dict:
    """Every submission of the town's month, the latest first, each with its review, and where
    the month stands."""
    month = month.replace(day=1)
    town = town_info(conn, town_code)
    check_read(principal, town)
    rows = conn.execute(
        text(
            f"{WITH_REVIEW} WHERE s.town_code = :t AND s.month = :m "
            "ORDER BY s.submitted_at DESC, s.id DESC"
        ),
        {"t": town_code, "m": month},
    ).all()
    due = due_moment(month, due_day)
    state = _state(rows[0] if rows else None, due, now)
    status = _status(rows[-1].submitted_at if rows else None, due, now)
    return {
        "town_code": town_code,
        "town_name": town["name"],
        "district_code": town["district_code"],
        "month": month_text(month),
        "due_date": due_date(month, due_day).isoformat(),
        "state": state,
        "state_label": STATE_LABELS[state],
        "status": status,
        "status_label": STATUS_LABELS[status],
        "can_review": can_review(principal, town),
        "can_submit": _may_submit(principal, town_code) and state != "accepted",
        "count": len(rows),
        "items": [_item(s) for s in rows],
    }


def _may_submit(principal: Principal, town_code: str) -> bool:
    if principal.role == "town":
        return principal.grid_code == town_code
    return principal.role in SUBMITTERS


def can_review(principal: Principal, town: dict) -> bool:
    """The district's city-management enforcement users (officers and their leaders) and
    supervisors of the district or the city review a town's ledger; never the town itself."""
    if principal.role == "town" or not can_read(principal, town):
        return False
    if principal.role in ("admin", "supervisor"):
        return True
    return principal.acts_as == "urban_enforcement" and principal.grid_code == town["district_code"]


def _submission(conn: Connection, principal: Principal, submission_id: int) -> tuple[Row, dict]:
    row = conn.execute(text(f"{WITH_REVIEW} WHERE s.id = :i"), {"i": submission_id}).first()
    town = town_info(conn, row.town_code) if row is not None else None
    if row is None or town is None or not can_read(principal, town):
        raise NotFoundError(
            f"未找到台账报送记录 {submission_id}（或不在您的权限范围内）",
            code="ledger.submission_not_found",
            detail=f"no ledger submission {submission_id} within your scope",
            hint="GET /api/v1/ledger/{town}/{month}/submissions lists a month's submissions",
        )
    return row, town


def review(
    conn: Connection,
    principal: Principal,
    submission_id: int,
    decision: str,
    reason: str | None,
    now: datetime,
) -> dict:
    """The district accepts (``accept``) or returns (``return``, with a reason) the latest
    submission of a town's month; once decided, the town sends it again after a return."""
    row, town = _submission(conn, principal, submission_id)
    if not can_review(principal, town):
        raise PermissionDenied(
            "台账由所属区县城管执法部门或督导人员审核（接收或退回），镇（街道）不能审核本级台账",
            code="ledger.review_not_allowed",
            detail=f"the role {principal.role} may not review this town's ledger",
            hint="the district's city-management enforcement users or supervisors review it",
        )
    if decision not in DECISIONS:
        raise InputError(
            "审核结论应为 accept（接收）或 return（退回）",
            code="ledger.decision_invalid",
            detail=f"decision must be accept or return, not {decision!r}",
        )
    reason = clean(reason, "退回理由", "reason", multiline=True, field="reason")
    if decision == "return" and reason is None:
        raise InputError(
            "退回台账须填写退回理由，说明需要镇（街道）更正的内容",
            code="ledger.reason_required",
            detail="a returned ledger needs a reason",
            hint="say what the town must correct",
        )
    _lock(conn, row.town_code, row.month)
    row, town = _submission(conn, principal, submission_id)  # again, under the lock
    if row.superseded_by is not None:
        raise ConflictError(
            f"该次报送（{row.submitted_at:%Y-%m-%d %H:%M}，填报人 {row.submitter_name}）已被"
            "重新报送的台账取代，请审核最新一次报送",
            code="ledger.submission_superseded",
            detail=f"submission {submission_id} was superseded by {row.superseded_by}",
            hint="review the latest submission of the town's month",
        )
    if row.decision is not None:
        raise ConflictError(
            f"该次报送已于 {row.reviewed_at:%Y-%m-%d %H:%M} 被{DECISION_LABELS[row.decision]}，"
            "不能重复审核",
            code="ledger.already_reviewed",
            detail=f"submission {submission_id} was {row.decision} already",
        )
    conn.execute(
        text(
            "INSERT INTO ledger_review (submission_id, decision, reason, reviewed_by, "
            "reviewer_name, reviewed_at) VALUES (:s, :d, :r, :by, :name, :at)"
        ),
        {
            "s": submission_id,
            "d": DECISIONS[decision],
            "r": reason,
            "by": principal.id,
            "name": principal.display_name,
            "at": now,
        },
    )
    row, _ = _submission(conn, principal, submission_id)
    return {**_item(row), "town_code": row.town_code, "month": month_text(row.month)}


def scan_of(
    conn: Connection, principal: Principal, submission_id: int, store: EvidenceStore
) -> tuple[bytes, str, str]:
    """The signed scan of a submission the user may read: (bytes, media type, file name)."""
    _submission(conn, principal, submission_id)
    row = conn.execute(
        text(
            "SELECT scan_sha256, scan_media_type, scan_filename, scan_storage, scan_content "
            "FROM ledger_submission WHERE id = :i"
        ),
        {"i": submission_id},
    ).one()
    if row.scan_sha256 is None:
        raise NotFoundError(
            "该次报送没有附签字盖章的扫描件",
            code="ledger.scan_missing",
            detail=f"submission {submission_id} has no scan",
        )
    content = (
        row.scan_content if row.scan_storage == "database" else store.open_bytes(row.scan_sha256)
    )
    return bytes(content), row.scan_media_type, row.scan_filename


# -- a district's towns --------------------------------------------------------------------


def district_towns(conn: Connection, district_code: str) -> list[Row]:
    found = conn.execute(
        text("SELECT 1 FROM active_grid WHERE code = :d AND level = 'district'"),
        {"d": district_code},
    ).first()
    if found is None:
        raise NotFoundError(
            f"没有代码为“{district_code}”的在用区县网格，请填写区县网格代码",
            code="district.not_found",
            detail=f"no active district grid has the code {district_code!r}",
            hint="give a district (区县) grid's code",
        )
    return conn.execute(
        text(
            "SELECT DISTINCT t.code, t.name FROM active_grid t, active_grid d "
            "WHERE d.code = :d AND d.level = 'district' AND t.level = 'town' AND "
            "(t.parent_code = d.code OR (t.geom && d.geom AND "
            "ST_Within(ST_PointOnSurface(t.geom), d.geom))) ORDER BY t.code"
        ),
        {"d": district_code},
    ).all()


def submissions(
    conn: Connection, district_code: str, month: date, now: datetime, due_day: int
) -> list[dict]:
    """Every town of the district with its latest submission of ``month``'s ledger: its state
    (未报送, 逾期未报送, 待审核, 已退回, 已接收), whether it came late, and ``status`` — on_time
    按时报送, late 逾期报送, missing 未报送（已逾期）, pending 待报送 — decided by the first
    submission (a later correction does not make an on-time one late)."""
    month = month.replace(day=1)
    towns = district_towns(conn, district_code)
    latest = {
        r.town_code: r
        for r in conn.execute(
            text(
                WITH_REVIEW.replace(
                    "SELECT ",
                    "SELECT DISTINCT ON (s.town_code) min(s.submitted_at) OVER w AS first_at, "
                    "count(*) OVER w AS times, ",
                    1,
                )
                + " WHERE s.town_code = ANY(:towns) AND s.month = :m "
                "WINDOW w AS (PARTITION BY s.town_code) "
                "ORDER BY s.town_code, s.submitted_at DESC, s.id DESC"
            ),
            {"towns": [t.code for t in towns], "m": month},
        )
    }
    due = due_moment(month, due_day)
    out = []
    for t in towns:
        s = latest.get(t.code)
        status = _status(s.first_at if s else None, due, now)
        state = _state(s, due, now)
        out.append(
            {
                "town_code": t.code,
                "town_name": t.name,
                "month": month_text(month),
                "due_date": due_date(month, due_day).isoformat(),
                "status": status,
                "status_label": STATUS_LABELS[status],
                "state": state,
                "state_label": STATE_LABELS[state],
                "late": bool(s and s.submitted_at >= due),
                "submission_id": s.id if s else None,
                "submitted_at": s.submitted_at if s else None,
                "first_submitted_at": s.first_at if s else None,
                "submitter": s.submitter_name if s else None,
                "reviewer": s.reviewer_name if s else None,
                "case_count": s.case_count if s else None,
                "sha256": s.sha256 if s else None,
                "note": s.note if s else None,
                "scan": _scan_json(s.id, s.scan_filename, s.scan_media_type, s.scan_size)
                if s
                else None,
                "decision": s.decision if s else None,
                "reason": s.reason if s else None,
                "decided_by": s.decided_by if s else None,
                "reviewed_at": s.reviewed_at if s else None,
                "times": s.times if s else 0,
            }
        )
    return out


# -- the assessment's counts ---------------------------------------------------------------


def ledger_counts(
    conn: Connection,
    start: datetime,
    end: datetime,
    as_of: datetime,
    due_day: int,
    district: str | None = None,
) -> dict[tuple[str, str], dict[str, int]]:
    """{(district code, town code): {"ledgers_due": …, "ledgers_on_time": …}} for every active
    town: the months whose ledger fell due in [start, end) — by ``as_of`` — and of them those
    the town had sent by the due moment and whose latest submission by then was not returned
    (a ledger returned and sent again after the due day is not on time)."""
    months = []
    first = start.astimezone(LOCAL).date().replace(day=1)
    # a month's ledger falls due in the next month: begin a month before the period
    month = date(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1)
    while True:
        due = due_moment(month, due_day)
        if due >= end:
            break
        if start <= due <= as_of:
            months.append((month, due))
        month = next_month(month)
    counts = {
        (town_district, town): {"ledgers_due": len(months), "ledgers_on_time": 0}
        for town, town_district in _active_towns(conn)
        if town_district is not None and (district is None or town_district == district)
    }
    if months:
        # per month due, the towns whose latest submission by the due moment was not returned
        on_time = conn.execute(
            text(
                "SELECT s.town_code FROM unnest(CAST(:months AS date[]), "
                "CAST(:dues AS timestamptz[])) AS m(month, due) CROSS JOIN LATERAL ("
                "SELECT DISTINCT ON (town_code) id, town_code FROM ledger_submission "
                "WHERE month = m.month AND submitted_at < m.due "
                "ORDER BY town_code, submitted_at DESC, id DESC) s "
                "WHERE NOT EXISTS (SELECT 1 FROM ledger_review r WHERE r.submission_id = s.id "
                "AND r.decision = 'returned' AND r.reviewed_at < :as_of)"
            ),
            {"months": [m for m, _ in months], "dues": [d for _, d in months], "as_of": as_of},
        ).scalars()
        months_on_time = Counter(on_time)
        for (_, town), c in counts.items():
            c["ledgers_on_time"] = months_on_time.get(town, 0)
    return counts


def _active_towns(conn: Connection) -> list[tuple[str, str | None]]:
    """Each active town's code and its district's (its parent, or the district its area lies
    in); kept by each process while the grids are unchanged."""

    def read() -> list[tuple[str, str | None]]:
        rows = conn.execute(
            text(
                "SELECT DISTINCT t.code, coalesce(t.parent_code, (SELECT d.code FROM active_grid d "
                "WHERE d.level = 'district' AND d.geom && t.geom AND "
                "ST_Within(ST_PointOnSurface(t.geom), d.geom) ORDER BY d.code LIMIT 1)) "
                "FROM active_grid t WHERE t.level = 'town'"
            )
        )
        return [tuple(r) for r in rows]

    return leaves.stamped(conn, ("grids",), ("active towns",), read)
