"""Bulk import of 12345 hotline exports: a real .xlsx posted to POST
/api/v1/cases/imports/hotline and given to `weijian cases import-hotline`. Good rows become
hotline cases of the right department with the file's work-order number, time and caller; bad
rows are reported with their Excel row number and a Chinese reason; importing the file again
creates nothing. Over real HTTP and the real CLI, against the hand-built city of
tests/casekit.py."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from openpyxl import Workbook

from tests import casekit
from tests.casekit import COMPOUND, FARMLAND, JIANGYUAN

SH = ZoneInfo("Asia/Shanghai")
ROUTE = "/api/v1/cases/imports/hotline"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HEADER = ["工单编号", "受理时间", "诉求内容", "事发地址", "经度", "纬度", "来电人", "联系电话"]
BEIJING = (116.397, 39.909)  # 天安门: inside China, outside the city

# (Excel row, 工单编号, 受理时间 as the file holds it, the spot, caller, phone, department code)
GOOD = [
    (2, "GD20260301001", datetime(2026, 3, 1, 8, 15), COMPOUND, "张先生", "13912345678",
     "220602-urban_enforcement"),
    (3, "GD20260301002", datetime(2026, 3, 1, 10, 30), FARMLAND, "李女士", "13698765432",
     "220602-natural_resources"),
    (4, "GD20260301003", "2026-03-01 14:20", JIANGYUAN, "赵师傅", "0439-3210000",
     "220605-county_government"),
]  # fmt: skip
GOOD_TIMES = {
    "GD20260301001": datetime(2026, 3, 1, 8, 15, tzinfo=SH),
    "GD20260301002": datetime(2026, 3, 1, 10, 30, tzinfo=SH),
    "GD20260301003": datetime(2026, 3, 1, 14, 20, tzinfo=SH),
}
NO_COORDINATES, OUTSIDE, BAD_DATE = 5, 6, 7
BAD_IDS = {NO_COORDINATES: "GD20260301004", OUTSIDE: "GD20260301005", BAD_DATE: "GD20260301006"}


def good_rows() -> list[list]:
    rows = []
    for _, number, at, spot, name, phone, _ in GOOD:
        lon, lat = casekit.lonlat(spot)
        what, where = f"{name}反映：有人私搭乱建", f"{number}号地块"
        rows.append([number, at, what, where, lon, lat, name, phone])
    return rows


def bad_rows() -> list[list]:
    return [
        [BAD_IDS[NO_COORDINATES], datetime(2026, 3, 1, 15, 0), "院内搭建", "和平街3号", None, None,
         "孙女士", "13500000001"],
        [BAD_IDS[OUTSIDE], datetime(2026, 3, 1, 16, 0), "楼顶加盖", "北京市东城区", *BEIJING,
         "周先生", "13500000002"],
        [BAD_IDS[BAD_DATE], "昨天下午", "违建", "江山花园5栋", *casekit.lonlat(COMPOUND),
         "吴女士", "13500000003"],
    ]  # fmt: skip


def xlsx(rows: list[list], header: list[str] = HEADER) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def upload(api, who: str | None, content: bytes, name: str = "12345导出.xlsx", crs="cgcs2000"):
    return api.post(
        ROUTE, who, files={"file": (name, content, XLSX)}, data={"crs": crs} if crs else {}
    )


def by_row(report: list[dict]) -> dict[int, dict]:
    rows = {entry["row"]: entry for entry in report}
    assert len(rows) == len(report), "one entry per row"
    return rows


def case_total(api) -> int:
    r = api.get("/api/v1/cases", "admin", with_total="true")
    assert r.status_code == 200, r.text
    return r.json()["total"]


def when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# -- over HTTP ---------------------------------------------------------------------------------


def test_an_export_becomes_hotline_cases_and_a_per_row_report(case_api):
    content = xlsx(good_rows() + bad_rows())
    r = upload(case_api, "admin", content)
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["rows"] == 6
    assert (result["created"], result["exists"], result["errors"]) == (3, 0, 3)
    assert result["columns"]["external_id"] == "工单编号"
    assert result["columns"]["lon"] == "经度"
    report = by_row(result["report"])
    assert sorted(report) == [2, 3, 4, 5, 6, 7]  # Excel's numbers: header 1, data from 2

    numbers = {}
    for row, external_id, _, spot, name, phone, department in GOOD:
        entry = report[row]
        assert entry["status"] == "created", entry
        assert entry["external_id"] == external_id
        assert re.fullmatch(r"[A-Z]+-2026-\d{6}", entry["case_number"]), entry
        numbers[external_id] = entry["case_number"]
        case = case_api.case("admin", entry["case_number"])
        assert case["channel"] == "hotline"
        assert case["external_id"] == external_id
        assert when(case["reported_at"]) == GOOD_TIMES[external_id]
        assert case["reporter"]["name"] == name
        assert case["reporter"]["phone"] == phone
        assert case["department"]["code"] == department
        assert case["address"] == f"{external_id}号地块"
        assert case["description"] == f"{name}反映：有人私搭乱建"
        lon, lat = casekit.lonlat(spot)
        assert abs(case["lon"] - lon) < 1e-7
        assert abs(case["lat"] - lat) < 1e-7
    assert len(set(numbers.values())) == 3
    assert numbers["GD20260301003"].startswith("JY-2026-")

    for row, external_id in BAD_IDS.items():
        entry = report[row]
        assert entry["status"] == "error", entry
        assert entry["external_id"] == external_id
        assert entry["case_number"] is None
        assert entry["message"].startswith(f"第{row}行"), entry
    assert "经纬度" in report[NO_COORDINATES]["message"]
    assert "受理时间" in report[BAD_DATE]["message"]
    assert "昨天下午" in report[BAD_DATE]["message"]
    assert case_total(case_api) == 3

    # the same file again: nothing new, the earlier cases named
    again = upload(case_api, "admin", content)
    assert again.status_code == 200, again.text
    result = again.json()
    assert (result["created"], result["exists"], result["errors"]) == (0, 3, 3)
    report = by_row(result["report"])
    for row, external_id, *_ in GOOD:
        assert report[row]["status"] == "exists", report[row]
        assert report[row]["case_number"] == numbers[external_id]
        assert report[row]["message"]
    for row in BAD_IDS:
        assert report[row]["status"] == "error"
    assert case_total(case_api) == 3


def test_rows_the_case_service_refuses_are_explained_to_the_clerk_in_chinese(
    case_api,
):
    """The report goes back to the hotline clerk, who reads Chinese (as every message of
    weijian/cases/hotline.py is): a refusal of the case service must not reach it in English."""
    future = [
        "GD20260309001", datetime(2026, 3, 9, 9, 0), "楼顶加盖", "江山花园1栋",
        *casekit.lonlat(COMPOUND), "钱先生", "13500000004",
    ]  # fmt: skip
    r = upload(case_api, "admin", xlsx([bad_rows()[1], future]))
    assert r.status_code == 200, r.text
    outside, later = r.json()["report"]
    assert (outside["row"], later["row"]) == (2, 3)
    assert outside["status"] == later["status"] == "error"
    assert outside["message"].startswith("第2行：") and later["message"].startswith("第3行：")
    outside_reason = outside["message"].split("：", 1)[1]
    later_reason = later["message"].split("：", 1)[1]
    # the Beijing row: it lies outside the city
    assert re.search(r"[\u4e00-\u9fff]", outside_reason), outside["message"]
    assert any(w in outside_reason for w in ("本市", "辖区", "市域", "范围")), outside["message"]
    # a 受理时间 after now (the test's clock stands at 2026-03-02 09:00)
    assert re.search(r"[\u4e00-\u9fff]", later_reason), later["message"]
    assert "受理时间" in later_reason, later["message"]
    assert case_total(case_api) == 0


def test_who_may_import_and_which_files(case_api):
    content = xlsx(good_rows())
    refused = upload(case_api, "gridder", content)
    assert refused.status_code == 403, refused.text
    assert upload(case_api, None, content).status_code == 401
    assert case_total(case_api) == 0

    # a department imports as well as an administrator
    r = upload(case_api, "ue_hj", xlsx(good_rows()[:1]))
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 1

    no_longitude = [h for h in HEADER if h != "经度"]
    rows = [[c for h, c in zip(HEADER, row, strict=True) if h != "经度"] for row in good_rows()]
    r = upload(case_api, "admin", xlsx(rows, no_longitude))
    assert r.status_code == 422, r.text
    assert "经度" in r.json()["detail"]

    r = upload(case_api, "admin", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504, "导出.xls")
    assert r.status_code == 422, r.text
    assert ".xls" in r.json()["detail"]
    assert r.json()["code"] == "hotline.xls_unsupported"
    assert r.json()["message"].startswith("导出.xls 是旧版 Excel（.xls）文件，无法直接导入。")

    r = upload(case_api, "admin", content, crs="utm")
    assert r.status_code == 422, r.text
    assert case_total(case_api) == 1


# -- the CLI -----------------------------------------------------------------------------------


def read_report(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, encoding="utf-8-sig", newline="") as stream:
        reader = csv.DictReader(stream)
        return list(reader.fieldnames or []), list(reader)


def test_cli_imports_and_writes_the_report(case_api, cli, tmp_path):
    good = tmp_path / "12345工单.xlsx"
    good.write_bytes(xlsx(good_rows()))
    mixed = tmp_path / "12345工单（含错误）.xlsx"
    mixed.write_bytes(xlsx(good_rows() + bad_rows()))
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    args = ["cases", "import-hotline", str(good), "--crs", "cgcs2000", "--report", str(first)]
    result = cli(*args)
    assert result.exit_code == 0, result.output
    args = ["cases", "import-hotline", str(mixed), "--crs", "cgcs2000", "--report", str(second)]
    result = cli(*args)
    assert result.exit_code == 2, result.output

    headers, rows = read_report(first)
    assert headers == ["行号", "工单编号", "结果", "案件编号", "说明"]
    assert [r["行号"] for r in rows] == ["2", "3", "4"]
    assert [r["结果"] for r in rows] == ["已创建"] * 3
    assert [r["工单编号"] for r in rows] == [g[1] for g in GOOD]
    numbers = [r["案件编号"] for r in rows]
    assert all(re.fullmatch(r"[A-Z]+-2026-\d{6}", n) for n in numbers), numbers
    for (_, external_id, _, _, name, phone, department), number in zip(GOOD, numbers, strict=True):
        case = case_api.case("admin", number)
        assert case["channel"] == "hotline"
        assert case["external_id"] == external_id
        assert when(case["reported_at"]) == GOOD_TIMES[external_id]
        assert case["reporter"]["name"] == name and case["reporter"]["phone"] == phone
        assert case["department"]["code"] == department

    headers, rows = read_report(second)
    assert headers == ["行号", "工单编号", "结果", "案件编号", "说明"]
    assert [r["行号"] for r in rows] == ["2", "3", "4", "5", "6", "7"]
    assert [r["结果"] for r in rows] == ["已存在"] * 3 + ["错误"] * 3
    assert [r["案件编号"] for r in rows] == [*numbers, "", "", ""]
    assert [r["工单编号"] for r in rows[3:]] == list(BAD_IDS.values())
    assert all(r["说明"].startswith(f"第{r['行号']}行") for r in rows[3:])
    assert case_total(case_api) == 3
