"""Enforcement documents (执法文书) over the API on the hand-built city: each kind rendered for
a case and read back (number, party, legal basis, deadline, appeal rights, Chinese text, fonts
embedded); the period a document sets as the stage deadline, moved to run from service by its
proof of service; numbers strictly sequential under 20 parallel issues with a voided number
shown as voided and a failed issue using none; a superseded document keeping its PDF and hash;
and `weijian audit verify` catching a changed document file."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from pypdf import PdfReader
from sqlalchemy import text

from tests.casekit import COMPOUND, STREET
from weijian.cases import history
from weijian.cases.clock import LOCAL
from weijian.cases.evidence import EvidenceStore
from weijian.enforcement.documents import verify_documents

OFFICER = "ue_hj"


def pdf_of(api, who, doc) -> tuple[bytes, str]:
    r = api.get(doc["pdf"], who)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(r.content))
    return r.content, "".join(page.extract_text() for page in reader.pages).replace("\n", "")


def fonts_embedded(content: bytes) -> list[str]:
    """The fonts of the PDF, each of which must carry its font file."""
    reader = PdfReader(io.BytesIO(content))
    names = []
    for page in reader.pages:
        for font in (page["/Resources"].get("/Font") or {}).values():
            font = font.get_object()
            descendants = font.get("/DescendantFonts")
            described = descendants[0].get_object() if descendants else font
            descriptor = described["/FontDescriptor"].get_object()
            assert any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3")), font
            names.append(str(font["/BaseFont"]))
    return names


def issue(api, who, number, kind, expect=201, **body) -> dict:
    body.setdefault("version", api.case(who, number)["version"])
    r = api.post(f"/api/v1/cases/{number}/documents", who, json={"kind": kind, **body})
    assert r.status_code == expect, r.text
    return r.json()


def confirmed_case(api, spot=COMPOUND) -> str:
    number = api.report(OFFICER, spot, channel="patrol", address="江山花园5栋楼顶")["number"]
    api.act(OFFICER, number, "site_visit", evidence=[api.photo(OFFICER, number)])
    api.act(OFFICER, number, "confirm")
    return number


def stage(engine, number) -> tuple[str, datetime]:
    """The case's current stage and its deadline, as the inbox and the map read them."""
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT stage_code, stage_due FROM violation_case WHERE number = :n"),
            {"n": number},
        ).one()
    return row.stage_code, row.stage_due


def test_every_document_from_inspection_to_forced_demolition(case_api, engine):
    api = case_api
    number = confirmed_case(api)
    kinds = api.get("/api/v1/documents/kinds", OFFICER, case=number).json()["kinds"]
    by_kind = {k["kind"]: k for k in kinds}
    assert len(by_kind) == 7
    assert by_kind["stop_order"]["available"] and not by_kind["sealing"]["available"]
    fields = {f["name"]: f for f in by_kind["stop_order"]["fields"]}
    assert "城乡规划法" in fields["legal_basis"]["default"]
    assert fields["compliance_days"]["default"] == 3
    # the gridder may not issue, and is told why in Chinese
    r = api.post(f"/api/v1/cases/{number}/documents", "gridder", json={"kind": "stop_order"})
    assert r.status_code in (403, 404) and "message" in r.json()

    record = issue(
        api, OFFICER, number, "site_inspection_record",
        fields={"inspectors": "王伟（执法证号 22060001）、李强（22060002）", "party": "张三",
                "findings": "楼顶新建彩钢板房一处，约 40 平方米，正在施工"},
    )  # fmt: skip
    assert record["number"].endswith("勘〔2026〕1号") and record["status"] == "issued"

    # what the form lacks or gets wrong is named, in Chinese, and issues nothing
    r = issue(api, OFFICER, number, "stop_order", expect=422, fields={"compliance_days": "三天"})
    assert r["code"] == "document.field_invalid" and "期限" in r["message"]
    r = issue(api, OFFICER, number, "proof_of_service", expect=422, fields={})
    assert r["code"] == "document.field_missing" and "送达的文书" in r["message"]

    stop = issue(
        api, OFFICER, number, "stop_order",
        fields={"party": "张三", "party_address": "江山花园5栋2单元501",
                "facts": "未取得建设工程规划许可证，在楼顶搭建彩钢板房", "compliance_days": 3,
                "legal_basis": "《中华人民共和国城乡规划法》第六十四条",
                "violated": "《中华人民共和国城乡规划法》第四十条第一款"},
    )  # fmt: skip
    assert stop["number"].endswith("停〔2026〕1号")
    case = api.case(OFFICER, number)
    assert case["state"] == "stop_ordered"
    code, due = stage(engine, number)
    issued_at = api.clock.now()
    assert code == "compliance" and due == issued_at + timedelta(days=3)
    content, words = pdf_of(api, OFFICER, stop)
    for expected in (stop["number"], "张三", "城乡规划法》第六十四条", "3日内", "行政复议",
                     "行政诉讼", "责令停止违法建设通知书", "江山花园5栋楼顶", "现场位置示意图",
                     "二〇二六年三月二日"):  # fmt: skip
        assert expected in words, expected
    assert any("CJK" in name for name in fonts_embedded(content))
    events = case["events"]
    assert events[-1]["action"] == "stop_order"
    assert events[-1]["data"]["document"]["number"] == stop["number"]

    # only a document served on the party can be served: not the inspection record
    wrong = {"serves": record["id"], "served_on": "2026-03-03", "service_method": "direct"}
    r = issue(api, OFFICER, number, "proof_of_service", expect=422, fields=wrong)
    assert r["code"] == "document.field_invalid" and "责令停止违法建设通知书" in r["message"]

    # served two days later: the period runs from service
    api.clock.advance(days=2)
    served_on = api.clock.now().astimezone(LOCAL).date()
    proof = issue(
        api, OFFICER, number, "proof_of_service",
        fields={"serves": stop["id"], "recipient": "张三", "place": "江山花园5栋2单元501",
                "served_on": served_on.isoformat(), "service_method": "direct", "server": "王伟"},
    )  # fmt: skip
    content, words = pdf_of(api, OFFICER, proof)
    assert stop["number"] in words and "直接送达" in words and "送达回证" in words
    code, due = stage(engine, number)
    start = datetime.combine(served_on, datetime.min.time(), tzinfo=LOCAL)
    assert code == "compliance" and due == start + timedelta(days=3)
    listed = api.get(f"/api/v1/cases/{number}/documents", OFFICER).json()["documents"]
    assert next(d for d in listed if d["id"] == stop["id"])["served_on"] == served_on.isoformat()

    # not stopped: sealed (with a photo), then a demolition decision and the notice
    photo = api.photo(OFFICER, number)
    seal = issue(
        api, OFFICER, number, "sealing", photos=[photo],
        fields={"party": "张三", "facts": "责令停止后仍继续施工"},
    )  # fmt: skip
    assert api.case(OFFICER, number)["state"] == "sealed"
    content, words = pdf_of(api, OFFICER, seal)
    assert stop["number"] in words and "查封期限为30日" in words and "行政强制法" in words

    decision = issue(
        api, OFFICER, number, "demolition_decision",
        fields={"party": "张三", "demolition_days": 15},
    )  # fmt: skip
    content, words = pdf_of(api, OFFICER, decision)
    assert "15日内自行拆除" in words and "行政复议" in words and "土地管理法" in words
    code, due = stage(engine, number)
    assert code == "self_demolition" and due == api.clock.now() + timedelta(days=15)

    notice = issue(api, OFFICER, number, "forced_demolition_notice", fields={"notice_days": 10})
    content, words = pdf_of(api, OFFICER, notice)
    assert decision["number"] in words and "10日内自行拆除" in words and "特此公告" in words

    # a transfer letter on another case, to the natural-resources bureau
    other = api.report(OFFICER, STREET, channel="patrol")["number"]
    api.act(OFFICER, other, "site_visit", evidence=[api.photo(OFFICER, other)])
    form = api.get("/api/v1/documents/kinds", OFFICER, case=other).json()["kinds"]
    choices = next(f for f in next(k for k in form if k["kind"] == "transfer_letter")["fields"]
                   if f["name"] == "to_department")["choices"]  # fmt: skip
    target = next(code for code, name in choices.items() if "自然资源" in name)
    letter = issue(
        api, OFFICER, other, "transfer_letter",
        fields={"to_department": target, "reason": "outside_remit", "contact": "王伟 0439-1234567"},
    )  # fmt: skip
    content, words = pdf_of(api, OFFICER, letter)
    assert choices[target] in words and "不属本部门管辖" in words and "案件移交函" in words
    assert api.case(OFFICER, other)["state"] == "transferred"
    assert any("CJK" in name for name in fonts_embedded(content))


def test_numbers_are_sequential_under_parallel_issues(case_api, engine):
    api = case_api
    numbers = [api.report(OFFICER, (0.2 + i * 0.01, 0.2), channel="patrol")["number"]
               for i in range(20)]  # fmt: skip
    # a refused issue uses no number: a stop order on a case not confirmed
    issue(api, OFFICER, numbers[0], "stop_order", expect=409,
          fields={"party": "甲", "compliance_days": 3})  # fmt: skip
    body = {"fields": {"inspectors": "王伟", "findings": "现场有新建砖混结构房屋"}}

    def one(number):
        return issue(api, OFFICER, number, "site_inspection_record", **body)

    with ThreadPoolExecutor(20) as pool:
        issued = list(pool.map(one, numbers))
    serials = sorted(d["serial"] for d in issued)
    assert serials == list(range(1, 21))
    assert len({d["number"] for d in issued}) == 20

    seventh = next(d for d in issued if d["serial"] == 7)
    r = api.post(
        f"/api/v1/cases/{seventh['case']}/documents/{seventh['id']}/void", OFFICER,
        json={"reason": "勘验人填写有误"},
    )  # fmt: skip
    assert r.status_code == 200 and r.json()["status"] == "voided"
    r = api.post(
        f"/api/v1/cases/{seventh['case']}/documents/{seventh['id']}/void", OFFICER,
        json={"reason": "再次作废"},
    )  # fmt: skip
    assert r.status_code == 409 and r.json()["code"] == "document.not_current"
    again = issue(api, OFFICER, seventh["case"], "site_inspection_record", **body)
    assert again["serial"] == 21

    register = api.get(
        "/api/v1/documents", "supervisor", kind="site_inspection_record", year=2026
    ).json()["documents"]
    assert [d["serial"] for d in register] == list(range(1, 22))
    assert [d["status_label"] for d in register if d["serial"] == 7] == ["已作废"]
    counts, problems = verify_documents(engine)
    assert problems == [] and counts["documents"] == 21 and counts["voided"] == 1


def test_a_superseded_document_keeps_its_pdf_and_audit_catches_a_change(case_api, engine):
    api = case_api
    number = confirmed_case(api)
    first = issue(api, OFFICER, number, "stop_order",
                  fields={"party": "张三", "compliance_days": 3})  # fmt: skip
    old_pdf, _ = pdf_of(api, OFFICER, first)
    second = issue(
        api, OFFICER, number, "stop_order", supersedes=first["id"],
        fields={"party": "张三（身份证号已核实）", "compliance_days": 5},
    )  # fmt: skip
    assert second["supersedes"] == first["id"] and second["serial"] == 2
    docs = {d["id"]: d for d in api.get(f"/api/v1/cases/{number}/documents", OFFICER).json()[
        "documents"]}  # fmt: skip
    assert docs[first["id"]]["status"] == "superseded"
    assert docs[first["id"]]["sha256"] == first["sha256"]
    again, _ = pdf_of(api, OFFICER, first)
    assert again == old_pdf  # the old PDF is kept, byte for byte
    code, due = stage(engine, number)
    assert code == "compliance" and due == api.clock.now() + timedelta(days=5)
    # superseding a superseded one is refused; so is another kind
    issue(api, OFFICER, number, "stop_order", expect=409, supersedes=first["id"],
          fields={"party": "张三", "compliance_days": 4})  # fmt: skip
    issue(api, OFFICER, number, "demolition_decision", expect=422, supersedes=second["id"],
          fields={"party": "张三", "demolition_days": 4})  # fmt: skip
    # voiding the order stops its period
    api.post(f"/api/v1/cases/{number}/documents/{second['id']}/void", OFFICER,
             json={"reason": "文书送达前发现当事人有误"})  # fmt: skip
    assert stage(engine, number)[0] != "compliance"

    store = EvidenceStore(api.settings.evidence_root)
    assert history.verify(engine, store)["ok"]
    path = store.root / store.relative_path(first["sha256"])
    path.write_bytes(path.read_bytes().replace(b"%%EOF", b"%%EOF\n% changed"))
    result = history.verify(engine, store)
    assert not result["ok"]
    assert any(first["sha256"][:12] in p["problem"] for p in result["problems"])


def test_the_embedded_fonts_are_cut_by_harfbuzz():
    """WeasyPrint cuts a document's embedded fonts with HarfBuzz's subsetter, which `./dev setup`
    installs (libharfbuzz-subset0): without it WeasyPrint falls back to fontTools, which walks
    every glyph of the CJK fonts — some 5 s a document instead of a tenth of one."""
    from weasyprint.text.ffi import harfbuzz_subset

    assert harfbuzz_subset is not None, "libharfbuzz-subset0 is missing: run ./dev setup as root"


def test_a_server_without_the_subsetter_says_so_once(monkeypatch, caplog):
    """Where it is missing (a server set up by other means), the log names the package, once."""
    from weasyprint.text import ffi

    from weijian.enforcement import pdf

    monkeypatch.setattr(ffi, "harfbuzz_subset", None)
    pdf.check_subsetter.cache_clear()
    try:
        with caplog.at_level("WARNING", logger="weijian.enforcement.pdf"):
            assert pdf.check_subsetter() is False
            assert pdf.check_subsetter() is False
    finally:
        pdf.check_subsetter.cache_clear()
    warned = [r.getMessage() for r in caplog.records if r.name == "weijian.enforcement.pdf"]
    assert len(warned) == 1 and "apt-get install libharfbuzz-subset0" in warned[0]
