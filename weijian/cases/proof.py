"""Evidence that proves a step: a site photo is new, and the acting department took it.

A step whose transition asks for a site photo (``site_photo`` in the workflow; by default the
site visit and the verification) counts a photo only when

- the acting user uploaded it, or a user of the department holding the case;
- it was uploaded after the report — and, when its EXIF says when it was taken, taken after
  the report too (a camera's clock may be :data:`CAMERA_CLOCK_SKEW` off);
- its bytes were never attached to another case before (the same SHA-256: a photo of another
  case, a picture passed around) and it is not the evidence of an earlier step of this case.

The grid worker's report photo, uploaded again by the officer, is therefore no proof of a site
visit. A refusal names each photo, why it does not count and what to do: take a photo on site.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Connection, text

from weijian.cases.clock import LOCAL, beijing
from weijian.cases.scope import Principal
from weijian.cases.workflow import Transition, Workflow
from weijian.errors import InputError

#: how far a camera's clock may be behind without its photo counting as taken before the report
CAMERA_CLOCK_SKEW = timedelta(minutes=10)


def _photos(conn: Connection, case_id: int, hashes: list[str]) -> list[dict]:
    rows = conn.execute(
        text(
            "SELECT e.sha256, e.filename, e.uploaded_at, e.taken_at, e.uploaded_by, "
            "u.display_name, u.role, u.department_code, "
            "EXISTS (SELECT 1 FROM case_evidence o WHERE o.sha256 = e.sha256 "
            "        AND o.case_id <> e.case_id AND o.id < e.id) AS seen_elsewhere "
            "FROM case_evidence e LEFT JOIN app_user u ON u.id = e.uploaded_by "
            "WHERE e.case_id = :c AND e.sha256 = ANY(:h) AND e.kind = 'photo' ORDER BY e.id"
        ),
        {"c": case_id, "h": hashes},
    )
    return [dict(r._mapping) for r in rows]


def _cited_before(conn: Connection, case_id: int, hashes: list[str]) -> dict[str, str]:
    """The photos among ``hashes`` that earlier steps of the case gave as evidence: sha → the
    step's action."""
    rows = conn.execute(
        text(
            "SELECT DISTINCT ON (h.sha) h.sha, ev.action FROM case_event ev "
            "CROSS JOIN LATERAL jsonb_array_elements_text(ev.evidence) AS h(sha) "
            "WHERE ev.case_id = :c AND ev.action <> 'add_evidence' AND h.sha = ANY(:h) "
            "ORDER BY h.sha, ev.seq"
        ),
        {"c": case_id, "h": hashes},
    )
    return {r.sha: r.action for r in rows}


def _why_not(
    photo: dict, case: dict, principal: Principal, wf: Workflow, cited: dict[str, str]
) -> tuple[str, str] | None:
    """Why a photo does not prove the step, in Chinese and in English; None when it does."""
    by_actor = photo["uploaded_by"] is not None and photo["uploaded_by"] == principal.id
    by_holder = (
        bool(photo["department_code"]) and photo["department_code"] == case["department_code"]
    )
    reported = case["reported_at"]
    if not (by_actor or by_holder):
        who = photo["display_name"] or "其他用户"
        role = wf.roles.get(photo["role"] or "", "")
        return (
            f"由{who}{'（' + role + '）' if role else ''}上传，不是办理部门拍摄的照片",
            f"uploaded by {who} ({photo['role']}), not by the acting department",
        )
    if photo["uploaded_at"] < reported:
        return (
            f"上传于{beijing(photo['uploaded_at'])}，早于案件上报时间{beijing(reported)}",
            "uploaded before the case was reported",
        )
    taken = photo["taken_at"]
    if taken is not None and taken < (reported - CAMERA_CLOCK_SKEW).astimezone(LOCAL).replace(
        tzinfo=None
    ):
        return (
            f"照片记录的拍摄时间为{beijing(taken)}，早于案件上报时间{beijing(reported)}",
            f"taken (EXIF) at {taken:%Y-%m-%d %H:%M}, before the case was reported",
        )
    if photo["seen_elsewhere"]:
        return (
            "同一照片此前已作为其他案件的证据上传，不是新拍摄的照片",
            "the same file was attached to another case before",
        )
    if photo["sha256"] in cited:
        label = wf.label_of(cited[photo["sha256"]])
        return (
            f"已作为本案“{label}”的证据使用过",
            f"already the evidence of an earlier step ({cited[photo['sha256']]})",
        )
    return None


def check_site_photos(
    conn: Connection,
    case: dict,
    principal: Principal,
    wf: Workflow,
    transition: Transition,
    hashes: list[str],
) -> None:
    """Refuse (422) a step needing a site photo whose photos are not all new photos taken by
    the acting department after the report. ``case`` is the locked case row."""
    if not transition.site_photo or not hashes:
        return
    photos = _photos(conn, case["id"], hashes)
    cited = _cited_before(conn, case["id"], [p["sha256"] for p in photos])
    refused = []
    for photo in photos:
        why = _why_not(photo, case, principal, wf, cited)
        if why is not None:
            refused.append((photo, why))
    if not refused:
        return
    zh = "；".join(f"照片“{p['filename']}”{why[0]}" for p, why in refused)
    en = "; ".join(f"{p['filename']} ({p['sha256'][:12]}…): {why[1]}" for p, why in refused)
    raise InputError(
        f"“{transition.label}”需要办理部门在上报后到现场新拍摄的照片：{zh}。"
        "请到现场拍摄照片并上传后重新提交（上报时的照片已保存在案件中，无需再次附上）。",
        code="case.site_photo_not_new",
        detail=f"“{transition.action}” needs photos the acting department took on site after "
        f"the report: {en}",
        hint="take a photo on site, upload it (kind=photo) and send its sha256 instead",
    )
