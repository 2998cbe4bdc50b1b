"""The public's part of a case (随手拍 · 大家评 · 政府查): what the holder of a receipt reads —
the state, the steps in plain words (``public_steps.json``, data a city edits, or its own file
through the setting ``public_steps_file``) and the outcome text an officer writes for the
public — and the reporter's rating of the handling once the case is closed.

Nothing else of the case reaches the public: no internal note, no name of a person, no evidence.
The outcome text is written by the staff who may act on the case (its department, a department
leader, a supervisor or administrator of its scope) and kept as a step of the case's
hash-chained history. A rating is given once, 1 to 5 with an optional comment, and never changed.
Plain Python over SQL: no HTTP here.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from sqlalchemy import text

from weijian.cases import history
from weijian.cases.evidence import Device
from weijian.cases.links import PUBLIC
from weijian.cases.rows import case_row
from weijian.cases.scope import Principal
from weijian.cases.users import sha256
from weijian.errors import ConflictError, InputError, NotFoundError, PermissionDenied
from weijian.text import clean

DEFAULT_STEPS = Path(__file__).with_name("public_steps.json")
#: who may write the outcome the public reads, besides the case's own department
OUTCOME_WRITERS = ("supervisor", "admin", "department_leader")
OUTCOME_ACTION = "public_outcome"
MAX_OUTCOME = 1000
MAX_COMMENT = 500
#: the photos a reporter may add to his report, and for how long after sending it
MAX_PHOTOS = 3
PHOTO_HOURS = 24


@lru_cache(maxsize=4)
def public_steps(path: Path | None = None) -> dict[str, str]:
    """Each action's words for the public, from ``path`` (default :data:`DEFAULT_STEPS`)."""
    source = path or DEFAULT_STEPS
    try:
        steps = json.loads(Path(source).read_text(encoding="utf-8"))["steps"]
        return {str(action): str(words) for action, words in steps.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise InputError(
            f"公开进度文字文件 {source} 无法读取或格式有误，请检查 WEIJIAN_PUBLIC_STEPS_FILE",
            code="public.steps_invalid",
            detail=f"the public steps file {source} cannot be read: {e}",
            hint='give {"steps": {"<action>": "<Chinese words>"}}',
        ) from None


def _not_found() -> NotFoundError:
    return NotFoundError(
        "没有与该回执码对应的举报，请核对回执码",
        code="case.receipt_not_found",
        detail="no report has this receipt",
        hint="check the receipt code",
    )


class PublicFollowUp:
    """The receipt's view, the outcome text and the rating, over a :class:`CaseService`."""

    def __init__(self, cases):
        self.cases = cases

    @property
    def steps(self) -> dict[str, str]:
        return public_steps(self.cases.settings.public_steps_file)

    def _by_receipt(self, conn, code: str, lock: bool = False):
        row = conn.execute(
            text(
                "SELECT id, number, state, reported_at, created_at, updated_at, closed_at, "
                "public_outcome, public_outcome_at, ST_X(geom) AS lon, ST_Y(geom) AS lat "
                "FROM violation_case WHERE receipt_sha256 = :r" + (" FOR UPDATE" if lock else "")
            ),
            {"r": sha256(code or "")},
        ).first()
        if row is None:
            raise _not_found()
        return row

    def receipt(self, code: str) -> dict:
        """What the holder of a receipt reads: the state, the public timeline, the outcome text,
        and the rating (given, or whether it may be given now)."""
        with self.cases.engine.connect() as conn:
            row = self._by_receipt(conn, code)
            events = conn.execute(
                text("SELECT action, at FROM case_event WHERE case_id = :c ORDER BY seq"),
                {"c": row.id},
            ).all()
            rating = conn.execute(
                text("SELECT score, comment, rated_at FROM case_rating WHERE case_id = :c"),
                {"c": row.id},
            ).first()
        state = self.cases.workflow.states.get(row.state)
        steps = self.steps
        timeline = [
            {"at": e.at, "text": steps[e.action].format(number=row.number)}
            for e in events
            if steps.get(e.action)
        ]
        return {
            "number": row.number,
            "state": row.state,
            "state_label": state.label if state else row.state,
            "category": state.category if state else None,
            "reported_at": row.reported_at,
            "updated_at": row.updated_at,
            "closed_at": row.closed_at,
            "timeline": timeline,
            "outcome": row.public_outcome,
            "outcome_at": row.public_outcome_at,
            "rating": dict(rating._mapping) if rating else None,
            "can_rate": rating is None and row.closed_at is not None,
        }

    def add_photo(self, code: str, stream, filename: str, device: Device | None = None) -> dict:
        """A photo of the holder's own report: at most :data:`MAX_PHOTOS`, within
        :data:`PHOTO_HOURS` of sending it, a JPEG, PNG or WebP by its bytes and within the
        setting ``public_photo_max_mb``; kept by the evidence store as the staff's are."""
        cases = self.cases
        now = cases.clock.now()
        device = device.checked(now) if device else Device()
        with cases.engine.connect() as conn:
            found = self._by_receipt(conn, code)
        if (now - found.created_at).total_seconds() > PHOTO_HOURS * 3600:
            raise ConflictError(
                f"举报提交 {PHOTO_HOURS} 小时后不能再补充照片；如有新情况，请重新举报",
                code="public.photo_too_late",
                detail=f"photos are taken within {PHOTO_HOURS} hours of the report",
            )
        max_bytes = int(cases.settings.public_photo_max_mb * 1024 * 1024)
        inspected, content, check, path = cases._stored_file(
            stream, filename, "photo", max_bytes, device, found.lon, found.lat
        )
        with cases.engine.begin() as conn:
            row = case_row(conn, found.id, True)
            held = conn.execute(
                text(
                    "SELECT count(*) FROM case_evidence WHERE case_id = :c AND kind = 'photo' "
                    "AND uploaded_by IS NULL"
                ),
                {"c": row["id"]},
            ).scalar_one()
            known = conn.execute(
                text("SELECT 1 FROM case_evidence WHERE case_id = :c AND sha256 = :s"),
                {"c": row["id"], "s": inspected.sha256},
            ).first()
            if held >= MAX_PHOTOS and known is None:
                raise ConflictError(
                    f"每件举报最多附 {MAX_PHOTOS} 张照片，已有 {held} 张",
                    code="public.photos_too_many",
                    detail=f"a report takes at most {MAX_PHOTOS} photos",
                )
            inserted = cases._insert_evidence(
                conn, row, inspected, content, path, check, device, PUBLIC, now, None
            )
        return {
            "sha256": inspected.sha256,
            "media_type": inspected.media_type,
            "size": inspected.size,
            "photos": held + (inserted is not None),
            "max_photos": MAX_PHOTOS,
            "already_uploaded": inserted is None,
        }

    def rate(self, code: str, score: int, comment: str | None) -> dict:
        """The reporter's rating of a closed case: once, 1 to 5, with an optional comment."""
        if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
            raise InputError(
                "评分应为 1 至 5 的整数（1 很不满意，5 很满意）",
                code="rating.score_invalid",
                detail="score must be an integer from 1 to 5",
            )
        comment = clean(comment, "评价", MAX_COMMENT, multiline=True, field="comment") or None
        now = self.cases.clock.now()
        with self.cases.engine.begin() as conn:
            row = self._by_receipt(conn, code, lock=True)
            if row.closed_at is None:
                raise ConflictError(
                    "案件尚未办结，办结后即可评价",
                    code="rating.case_open",
                    detail="the case is not closed yet",
                )
            made = conn.execute(
                text(
                    "INSERT INTO case_rating (case_id, score, comment, rated_at) "
                    "VALUES (:c, :s, :m, :now) ON CONFLICT (case_id) DO NOTHING RETURNING case_id"
                ),
                {"c": row.id, "s": score, "m": comment, "now": now},
            ).scalar()
            if made is None:
                raise ConflictError(
                    "您已评价过该案件，评价提交后不能修改",
                    code="rating.already_given",
                    detail="this case was rated already",
                )
        return self.receipt(code)

    def set_outcome(self, principal: Principal, ref: str | int, words: str) -> dict:
        """The outcome text the public reads, written by staff who may act on the case; kept
        as a step of the case's history (a new text replaces the shown one, both kept there)."""
        words = clean(words, "办理结果", MAX_OUTCOME, multiline=True, field="text")
        if not words:
            raise InputError(
                "请填写向公众公布的办理结果",
                code="public.outcome_missing",
                detail="the outcome text is empty",
            )
        now = self.cases.clock.now()
        with self.cases.engine.begin() as conn:
            row = self.cases._visible(conn, ref, principal, lock=True)
            allowed = principal.holds(row.get("department_code"))
            if not (allowed or principal.role in OUTCOME_WRITERS):
                raise PermissionDenied(
                    "只有承办部门、部门负责人或督导人员可以公布办理结果",
                    code="public.outcome_not_allowed",
                    detail="only the case's department, a leader or a supervisor may write it",
                )
            history.record(conn, row, action=OUTCOME_ACTION, actor=principal, at=now, note=words)
            conn.execute(
                text(
                    "UPDATE violation_case SET public_outcome = :t, public_outcome_at = :now "
                    "WHERE id = :id"
                ),
                {"t": words, "now": now, "id": row["id"]},
            )
        return self.cases.get(principal, ref)
