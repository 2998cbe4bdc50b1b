"""12345 hotline exports: real .xlsx and .csv files from different vendors parsed into intake
rows, each unusable row reported with its Excel row number, and the report written back."""

from __future__ import annotations

import csv
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import Workbook

from weijian.cases.hotline import (
    HotlineRow,
    ParsedExport,
    RowProblem,
    parse_export,
    report_rows,
    write_report_csv,
)
from weijian.errors import InputError

SH = ZoneInfo("Asia/Shanghai")


def write_xlsx(path: Path, rows: list[list]) -> Path:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def write_csv(path: Path, rows: list[list], encoding: str, delimiter: str = ",") -> Path:
    with open(path, "w", encoding=encoding, newline="") as stream:
        csv.writer(stream, delimiter=delimiter).writerows(rows)
    return path


# -- vendor A: xlsx ---------------------------------------------------------------------------

VENDOR_A_HEADER = [
    "工单编号",
    "受理时间",
    "诉求内容",
    "事发地址",
    "经度",
    "纬度",
    "来电人",
    "联系电话",
]


@pytest.fixture
def vendor_a(tmp_path: Path) -> Path:
    return write_xlsx(
        tmp_path / "工单A.xlsx",
        [
            VENDOR_A_HEADER,
            # row 2: good
            [
                "GD20260305001",
                datetime(2026, 3, 5, 9, 30),
                "  某小区楼顶加盖彩钢板房 ",
                "幸福路12号",
                114.305123,
                30.592456,
                "张先生",
                13912345678.0,
            ],
            # row 3: no coordinates
            ["GD20260305002", datetime(2026, 3, 5, 10, 0), "院内搭建", "和平街3号", None, None],
            # row 4: blank, skipped and not counted
            [None] * 8,
            # row 5: longitude and latitude swapped
            ["GD20260305003", datetime(2026, 3, 5, 11, 0), "违建", "江汉路1号", 30.59, 114.3],
            # row 6: a date nobody can read
            ["GD20260305004", "昨天下午", "违建", "江汉路2号", 114.3, 30.59],
            # row 7: the same work order as row 2
            ["GD20260305001", datetime(2026, 3, 5, 12, 0), "重复派单", None, 114.3, 30.59],
            # row 8: good; the time as an Excel serial number, the phone as text
            [
                " GD20260305005 ",
                46086.597222222,
                "阳台外扩",
                None,
                "114.28",
                "30.61",
                None,
                " 027-88886666 ",
            ],
        ],
    )


def test_vendor_a_xlsx(vendor_a: Path) -> None:
    parsed = parse_export(vendor_a)

    assert parsed.total == 6
    assert parsed.columns == {
        "external_id": "工单编号",
        "reported_at": "受理时间",
        "description": "诉求内容",
        "address": "事发地址",
        "lon": "经度",
        "lat": "纬度",
        "reporter_name": "来电人",
        "reporter_phone": "联系电话",
    }
    assert parsed.rows == [
        HotlineRow(
            row=2,
            external_id="GD20260305001",
            reported_at=datetime(2026, 3, 5, 9, 30, tzinfo=SH),
            discovered_at=None,
            description="某小区楼顶加盖彩钢板房",
            address="幸福路12号",
            lon=114.305123,
            lat=30.592456,
            crs="gcj02",
            reporter_name="张先生",
            reporter_phone="13912345678",
            track="new",
        ),
        HotlineRow(
            row=8,
            external_id="GD20260305005",
            reported_at=datetime(2026, 3, 5, 14, 20, tzinfo=SH),
            discovered_at=None,
            description="阳台外扩",
            address=None,
            lon=114.28,
            lat=30.61,
            crs="gcj02",
            reporter_name=None,
            reporter_phone="027-88886666",
            track="new",
        ),
    ]
    first = parsed.rows[0]
    assert first.reported_at.tzinfo is SH
    assert first.reported_at.utcoffset().total_seconds() == 8 * 3600
    assert isinstance(first.reporter_phone, str)

    assert [(p.row, p.external_id) for p in parsed.problems] == [
        (3, "GD20260305002"),
        (5, "GD20260305003"),
        (6, "GD20260305004"),
        (7, "GD20260305001"),
    ]
    messages = {p.row: p.message for p in parsed.problems}
    assert messages[3] == "第3行：缺少经纬度（经度、纬度列为空），无法定位，请补充坐标后重新导入"
    assert messages[5].startswith("第5行：经纬度可能填反了（经度为 30.59，纬度为 114.3）")
    assert messages[6].startswith("第6行：受理时间“昨天下午”无法识别")
    assert messages[7] == "第7行：与第2行工单编号重复（GD20260305001）"


def test_report_csv_round_trip(vendor_a: Path, tmp_path: Path) -> None:
    parsed = parse_export(vendor_a)
    outcomes = {
        2: {"status": "created", "case_number": "WJ-2026-0001", "message": None},
        8: {"status": "exists", "case_number": "WJ-2026-0000", "message": None},
    }
    report = report_rows(parsed, outcomes)

    assert [(r["row"], r["status"], r["case_number"]) for r in report] == [
        (2, "created", "WJ-2026-0001"),
        (3, "error", None),
        (5, "error", None),
        (6, "error", None),
        (7, "error", None),
        (8, "exists", "WJ-2026-0000"),
    ]
    assert report[0] == {
        "row": 2,
        "external_id": "GD20260305001",
        "status": "created",
        "case_number": "WJ-2026-0001",
        "message": None,
    }

    out = tmp_path / "导入结果.csv"
    write_report_csv(report, out)
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    with open(out, encoding="utf-8-sig", newline="") as stream:
        lines = list(csv.reader(stream))
    assert lines[0] == ["行号", "工单编号", "结果", "案件编号", "说明"]
    assert lines[1] == ["2", "GD20260305001", "已创建", "WJ-2026-0001", ""]
    assert lines[2] == [
        "3",
        "GD20260305002",
        "错误",
        "",
        "第3行：缺少经纬度（经度、纬度列为空），无法定位，请补充坐标后重新导入",
    ]
    assert [line[0] for line in lines[1:]] == ["2", "3", "5", "6", "7", "8"]
    assert [line[2] for line in lines[1:]] == ["已创建", "错误", "错误", "错误", "错误", "已存在"]
    assert lines[6][4] == "该工单已导入过，未重复立案"


def test_report_rows_checks_outcomes() -> None:
    parsed = ParsedExport(
        rows=[
            HotlineRow(
                2,
                "A1",
                datetime(2026, 3, 5, tzinfo=SH),
                None,
                "违建",
                None,
                114.3,
                30.5,
                "gcj02",
                None,
                None,
                "new",
            )
        ],
        problems=[RowProblem(3, None, "第3行：缺少工单编号（工单编号列为空），请补充后重新导入")],
        columns={},
        total=2,
    )
    report = report_rows(parsed, {})
    assert [(r["row"], r["status"]) for r in report] == [(2, "error"), (3, "error")]
    assert report[0]["message"] == "第2行未处理，请重新导入该工单"
    with pytest.raises(ValueError):
        report_rows(parsed, {3: {"status": "created", "case_number": "X", "message": None}})
    with pytest.raises(ValueError):
        report_rows(parsed, {2: {"status": "done", "case_number": "X", "message": None}})


# -- vendor B: GB18030 CSV --------------------------------------------------------------------


def test_vendor_b_gb18030_csv(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "工单B.csv",
        [
            ["受理编号", "来电时间", "问题描述", "地址", "X坐标", "Y坐标", "坐标系"],
            [
                "SL-0001",
                "2026年3月5日 14时20分",
                "河边搭建鸡棚",
                "东湖路8号",
                "114.41",
                "30.55",
                "百度",
            ],
            ["SL-0002", "2026年3月6日 8:05", "屋顶加层", "", "114.42", "30.56", ""],
            ["SL-0003", "2026年3月7日", "围墙外扩", "沙湖路", "114.43", "30.57", "火星坐标"],
            ["SL-0004", "2026年3月8日 9时", "围墙外扩", "沙湖路", "114.43", "30.57", "北京54"],
        ],
        encoding="gb18030",
    )
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")

    parsed = parse_export(path, default_crs="wgs84")

    assert parsed.total == 4
    assert parsed.columns["external_id"] == "受理编号"
    assert parsed.columns["lon"] == "X坐标"
    assert parsed.columns["crs"] == "坐标系"
    first = parsed.rows[0]
    assert first == HotlineRow(
        row=2,
        external_id="SL-0001",
        reported_at=datetime(2026, 3, 5, 14, 20, tzinfo=SH),
        discovered_at=None,
        description="河边搭建鸡棚",
        address="东湖路8号",
        lon=114.41,
        lat=30.55,
        crs="bd09",
        reporter_name=None,
        reporter_phone=None,
        track="new",
    )
    assert [(r.row, r.crs, r.address) for r in parsed.rows] == [
        (2, "bd09", "东湖路8号"),
        (3, "wgs84", None),
        (4, "gcj02", "沙湖路"),
    ]
    assert parsed.rows[1].reported_at == datetime(2026, 3, 6, 8, 5, tzinfo=SH)
    assert parsed.rows[2].reported_at == datetime(2026, 3, 7, 0, 0, tzinfo=SH)
    assert [(p.row, p.external_id) for p in parsed.problems] == [(5, "SL-0004")]
    assert "坐标系“北京54”无法识别" in parsed.problems[0].message


# -- vendor C: utf-8-sig CSV with semicolons --------------------------------------------------


def test_semicolon_utf8_sig_csv(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "工单C.csv",
        [
            [
                "工单号：",
                " 登记时间 ",
                "标题",
                "内容",
                "经度",
                "纬度",
                "违建类型",
                "发现时间",
                "手机",
            ],
            [
                "C-1",
                "2026/03/05 14:20",
                "私搭乱建",
                "小区内加建; 已多次反映",
                " １１４．３０５ ",
                "30. 592",
                "存量",
                "2026-03-01",
                "1.3912345678E+10",
            ],
            ["C-2", "2026-03-05 14:20:33", "", "在建厂房", "114.3", "30.5", "在建", "", ""],
            [],
            ["C-3", "2026年3月5日 14:20", "仅有标题", "", "114.3", "30.5", "", "", ""],
            ["C-4", "2026-03-05 14:20", "", "", "114.3", "", "", "上周", ""],
        ],
        encoding="utf-8-sig",
        delimiter=";",
    )
    parsed = parse_export(path)

    assert parsed.total == 4
    assert parsed.columns["external_id"] == "工单号："
    assert parsed.columns["reported_at"] == "登记时间"
    assert parsed.rows[0] == HotlineRow(
        row=2,
        external_id="C-1",
        reported_at=datetime(2026, 3, 5, 14, 20, tzinfo=SH),
        discovered_at=datetime(2026, 3, 1, tzinfo=SH),
        description="私搭乱建：小区内加建; 已多次反映",
        address=None,
        lon=114.305,
        lat=30.592,
        crs="gcj02",
        reporter_name=None,
        reporter_phone="13912345678",
        track="backlog",
    )
    second, third = parsed.rows[1], parsed.rows[2]
    assert (second.row, second.description, second.track) == (3, "在建厂房", "new")
    assert second.reported_at == datetime(2026, 3, 5, 14, 20, 33, tzinfo=SH)
    assert (third.row, third.description) == (5, "仅有标题")
    # row 6: several problems in one message
    assert [p.row for p in parsed.problems] == [6]
    message = parsed.problems[0].message
    assert message.startswith("第6行：")
    assert "发现时间“上周”无法识别" in message
    assert "缺少诉求内容（内容、标题列为空）" in message
    assert "缺少纬度（纬度列为空）" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-05 14:20", datetime(2026, 3, 5, 14, 20)),
        ("2026-03-05 14:20:05", datetime(2026, 3, 5, 14, 20, 5)),
        ("2026/3/5 14:20", datetime(2026, 3, 5, 14, 20)),
        ("2026年3月5日 14时20分", datetime(2026, 3, 5, 14, 20)),
        ("2026年3月5日 14:20", datetime(2026, 3, 5, 14, 20)),
        ("2026-03-05", datetime(2026, 3, 5)),
        ("2026年3月5日", datetime(2026, 3, 5)),
        ("46086.5", datetime(2026, 3, 5, 12, 0)),
        ("２０２６－０３－０５　１４：２０", datetime(2026, 3, 5, 14, 20)),
    ],
)
def test_date_spellings(tmp_path: Path, text: str, expected: datetime) -> None:
    path = write_csv(
        tmp_path / "dates.csv",
        [["编号", "受理时间", "内容", "lng", "lat"], ["D1", text, "违建", "114.3", "30.5"]],
        encoding="utf-8",
    )
    parsed = parse_export(path)
    assert parsed.problems == []
    assert parsed.rows[0].reported_at == expected.replace(tzinfo=SH)


def test_tab_delimited_txt_with_explicit_encoding(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "export.txt",
        [
            ["诉求编号", "派单时间", "事项描述", "lon", "lat"],
            ["T1", "2026-03-05", "违建", "114.3", "30.5"],
        ],
        encoding="gbk",
        delimiter="\t",
    )
    parsed = parse_export(path, encoding="gbk")
    assert [(r.row, r.external_id, r.reported_at.date()) for r in parsed.rows] == [
        (2, "T1", date(2026, 3, 5))
    ]


def test_title_line_above_header(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "带标题.xlsx",
        [
            ["某市12345热线违建工单明细（2026年3月）"],
            VENDOR_A_HEADER,
            ["GD1", datetime(2026, 3, 5, 9, 30), "违建", None, 114.3, 30.5, None, None],
            ["GD2", None, "违建", None, 114.3, 30.5, None, None],
        ],
    )
    parsed = parse_export(path)
    assert [r.row for r in parsed.rows] == [3]
    assert [(p.row, p.message) for p in parsed.problems] == [
        (4, "第4行：缺少受理时间（受理时间列为空），请补充后重新导入")
    ]


def test_coordinates_out_of_range(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "range.csv",
        [
            ["工单编号", "受理时间", "内容", "经度", "纬度"],
            ["R1", "2026-03-05", "违建", "200", "30.5"],
            ["R2", "2026-03-05", "违建", "38512345.6", "3381234.5"],
            ["R3", "2026-03-05", "违建", "东经114度", "30.5"],
        ],
        encoding="utf-8",
    )
    parsed = parse_export(path)
    assert parsed.rows == []
    messages = [p.message for p in parsed.problems]
    assert messages[0] == "第2行：经度 200 不在中国范围（73～136）内，请核对坐标后重新导入"
    assert messages[1].startswith("第3行：坐标（38512346，3381234）像是平面坐标（米）")
    assert messages[2].startswith("第4行：经度“东经114度”不是数字")


# -- files that cannot be used ----------------------------------------------------------------


def test_missing_longitude_column(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "缺列.xlsx",
        [
            ["工单编号", "受理时间", "诉求内容", "纬度"],
            ["GD1", datetime(2026, 3, 5), "违建", 30.5],
        ],
    )
    with pytest.raises(InputError) as caught:
        parse_export(path)
    message = caught.value.message
    assert "经度" in message
    assert "X坐标" in message  # an accepted header name
    assert "工单编号、受理时间、诉求内容、纬度" in message  # the headers found
    assert message.endswith("请把对应列的表头改成上面任一可用列名后重新导入")
    assert caught.value.hint
    assert caught.value.code == "hotline.columns_missing"
    assert caught.value.en.startswith("缺列.xlsx lacks required columns: lon (headers: 经度、")


def test_missing_description_column(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "no-text.csv",
        [["工单编号", "受理时间", "经度", "纬度"], ["GD1", "2026-03-05", "114.3", "30.5"]],
        encoding="utf-8",
    )
    with pytest.raises(InputError, match="诉求内容"):
        parse_export(path)


def test_old_excel_and_unknown_extensions(tmp_path: Path) -> None:
    xls = tmp_path / "工单.xls"
    xls.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504)
    with pytest.raises(InputError) as caught:
        parse_export(xls)
    assert ".xlsx" in str(caught.value)
    assert "CSV" in str(caught.value)
    assert caught.value.code == "hotline.xls_unsupported"
    assert caught.value.message.startswith("工单.xls 是旧版 Excel（.xls）文件，无法直接导入。")
    assert (
        caught.value.en == "工单.xls is an old Excel (.xls) file, which cannot be imported directly"
    )

    pdf = tmp_path / "工单.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    with pytest.raises(InputError) as caught:
        parse_export(pdf)
    assert caught.value.code == "import.format_unsupported"
    assert caught.value.message == (
        "工单.pdf：不支持的文件类型“.pdf”，请导入 12345 热线导出的 .xlsx 或 .csv 文件"
    )


def test_no_data_rows(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("工单编号,受理时间,内容,经度,纬度\n\n,,,,\n", encoding="utf-8")
    with pytest.raises(InputError, match="没有工单数据") as caught:
        parse_export(path)
    assert caught.value.code == "hotline.no_rows"
    assert caught.value.en == "empty.csv has a header but no work orders"
