"""A town's ledger sent to the district with the signed scan, returned with a reason, sent again
(superseding the first, kept as history) and accepted, over real HTTP on the hand-built city;
who may see, send and review; bad input answered in Chinese; a missing or returned ledger in
the assessment."""

from __future__ import annotations

import io
from datetime import datetime

import pytest
from PIL import Image
from sqlalchemy import text

from tests.casekit import HJ, TOWN1, TOWN2, Api
from tests.test_evidence import EXE
from tests.test_ledger import SCAN, send
from weijian.cases.clock import LOCAL

FEB = f"/api/v1/ledger/{TOWN1}/2026-02"


def beijing(month: int, day: int, hour: int = 9) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=LOCAL)


def photo_scan() -> bytes:
    """The signed sheets photographed: a PNG."""
    out = io.BytesIO()
    Image.new("RGB", (60, 80), (250, 250, 245)).save(out, "PNG")
    return out.getvalue()


def refused(r, status: int, code: str, words: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["code"] == code, r.text
    assert words in r.json()["message"], r.json()["message"]


def district(api: Api, who: str = "ue_hj") -> dict[str, dict]:
    r = api.get("/api/v1/ledger/submissions", who, district=HJ, month="2026-02")
    assert r.status_code == 200, r.text
    return {i["town_code"]: i for i in r.json()["items"]}


def test_submit_return_resubmit_accept(case_api, engine):
    api = case_api  # 2 March 09:00: February's ledger is due by 5 March
    assert district(api)[TOWN1]["state_label"] == "未报送"

    # bad input: no form and scan, no name, a name that is no one's, not a scan
    refused(api.post(f"{FEB}/submission", "town1", json={"note": "2月"}), 422,
            "ledger.scan_required", "签字盖章的台账扫描件")  # fmt: skip
    refused(send(api, f"{FEB}/submission", "town1", submitter="  "), 422,
            "ledger.person_required", "请填写填报人的姓名")  # fmt: skip
    refused(send(api, f"{FEB}/submission", "town1", submitter="town1"), 422,
            "ledger.person_invalid", "不像一个人的姓名")  # fmt: skip
    workbook = api.get(FEB, "town1", format="xlsx").content  # the unsigned workbook itself
    scan = ("台账.xlsx", workbook, "application/pdf")  # whatever the browser claims
    refused(send(api, f"{FEB}/submission", "town1", scan=scan), 422, "ledger.scan_type",
            "应为 PDF 文件或 JPG、PNG 照片")  # fmt: skip
    r = send(api, f"{FEB}/submission", "town1", scan=("台账.pdf", EXE, "application/pdf"))
    assert r.status_code == 422 and r.json()["message"], r.text
    assert api.get(f"{FEB}/submissions", "town1").json()["count"] == 0

    # the clerk sends it: named, checked by her chief, with the scan
    r = send(api, f"{FEB}/submission", "town1", submitter="张建国", reviewer="李 明", note="2月")
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["submitter"] == "张建国" and first["reviewer"] == "李 明"
    assert first["state_label"] == "待审核" and first["status_label"] == "按时报送"
    assert first["supersedes"] is None and first["late"] is False
    assert first["scan"]["media_type"] == "application/pdf"
    scan_url = first["scan"]["url"]
    got = api.get(scan_url, "ue_hj")
    assert got.status_code == 200 and got.content == SCAN
    assert got.headers["content-type"] == "application/pdf"

    # who sees and who decides: another town sees nothing, nor another district; the town does
    # not review its own ledger, nor does another department of the district
    for who in ("town2", "ue_jy", "community"):
        refused(api.get(f"{FEB}/submissions", who), 404, "town.not_found", "不在您的权限范围内")
        assert api.get(scan_url, who).status_code == 404
        r = api.post(f"/api/v1/ledger/submissions/{first['id']}/review", who,
                     json={"decision": "accept"})  # fmt: skip
        refused(r, 404, "ledger.submission_not_found", "不在您的权限范围内")
    assert send(api, f"{FEB}/submission", "town2").status_code == 404  # not its town
    review = f"/api/v1/ledger/submissions/{first['id']}/review"
    for who in ("town1", "nr_hj"):
        refused(api.post(review, who, json={"decision": "accept"}), 403,
                "ledger.review_not_allowed", "镇（街道）不能审核本级台账")  # fmt: skip
    assert [i["town_code"] for i in district(api, "town1").values()] == [TOWN1]

    # the district returns it: a reason is required
    api.clock.set(beijing(3, 4))
    refused(api.post(review, "ue_hj", json={"decision": "return", "reason": " "}), 422,
            "ledger.reason_required", "须填写退回理由")  # fmt: skip
    r = api.post(review, "ue_hj", json={"decision": "return", "reason": "缺少审核人签字"})
    assert r.status_code == 200, r.text
    assert r.json()["decision"] == "returned" and r.json()["decided_by"] == "ue_hj-姓名"
    row = district(api)[TOWN1]
    assert row["state_label"] == "已退回" and row["reason"] == "缺少审核人签字"
    refused(api.post(review, "ue_hj", json={"decision": "accept"}), 409,
            "ledger.already_reviewed", "不能重复审核")  # fmt: skip

    # sent again after the due day, with a photo of the signed sheets: it supersedes the first
    api.clock.set(beijing(3, 7))
    assert district(api)[TOWN2]["state_label"] == "逾期未报送"
    again = send(api, f"{FEB}/submission", "town1", submitter="张建国", reviewer="李明",
                 scan=("签字页.png", photo_scan(), "image/png"))  # fmt: skip
    assert again.status_code == 201, again.text
    second = again.json()
    assert second["supersedes"] == first["id"] and second["late"] is True
    assert second["status_label"] == "按时报送"  # the first submission decides
    history = api.get(f"{FEB}/submissions", "town1").json()
    assert history["count"] == 2 and history["state_label"] == "待审核"
    assert [i["id"] for i in history["items"]] == [second["id"], first["id"]]
    assert history["items"][1]["superseded_by"] == second["id"]
    assert history["items"][1]["reason"] == "缺少审核人签字"
    assert history["can_review"] is False and history["can_submit"] is True

    # the superseded one cannot be decided any more; the latest is accepted
    refused(api.post(review, "ue_hj", json={"decision": "accept"}), 409,
            "ledger.submission_superseded", "已被重新报送的台账取代")  # fmt: skip
    r = api.post(f"/api/v1/ledger/submissions/{second['id']}/review", "ue_hj",
                 json={"decision": "accept"})  # fmt: skip
    assert r.status_code == 200 and r.json()["decision_label"] == "接收", r.text
    row = district(api, "supervisor")[TOWN1]
    assert row["state_label"] == "已接收" and row["late"] is True and row["times"] == 2
    assert row["submitter"] == "张建国" and row["scan"]["media_type"] == "image/png"
    refused(send(api, f"{FEB}/submission", "town1"), 409, "ledger.already_accepted", "已于")

    # nothing was changed or removed: both submissions and both decisions are there, for good
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM ledger_review")).scalar() == 2
    with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
        conn.execute(text("UPDATE ledger_review SET reason = 'x'"))

    # the assessment: February's ledger fell due in March; 新建街道's, sent on time, was
    # returned (its resubmission came late) and 红旗街道 never sent one — neither counts
    api.clock.set(beijing(4, 1))
    march = {"from": "2026-03-01", "to": "2026-03-31"}
    r = api.get("/api/v1/assessment", "supervisor", level="town", **march)
    assert r.status_code == 200, r.text
    units = {u["code"]: u for u in r.json()["units"]}
    for town in (TOWN1, TOWN2):
        assert units[town]["counts"]["ledgers_due"] == 1
        assert units[town]["counts"]["ledgers_on_time"] == 0
        item = next(i for i in units[town]["indicators"] if i["code"] == "ledger_on_time")
        assert item["value"] == 0 and item["score"] == 0
    formula = r.json()["formulas"]["ledger_on_time"]
    assert formula.startswith("（按时报送且未被退回的台账数）÷（应报送台账数（月））")
