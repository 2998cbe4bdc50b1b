"""12345 hotline work-order exports → case intake rows, with a per-row report.

Hotline vendors export work orders as CSV or Excel with Chinese headers that differ from one
vendor to the next (工单编号 / 受理编号, 经度 / X坐标 …). :func:`parse_export` finds the columns by
their aliases, parses every data row into a :class:`HotlineRow` and puts every row it cannot use
into ``problems`` with a message in Chinese for the hotline clerk. A problem in one row never
stops the others; only a file that cannot be used at all (unreadable, a required column
missing, no data) raises :class:`~weijian.errors.InputError`.

Plain Python: no HTTP, no database, no jurisdiction. The caller creates the cases, then
:func:`report_rows` merges its per-row outcomes with the parse problems and
:func:`write_report_csv` writes the report that goes back to the clerk.

Row numbers are the ones the clerk sees in Excel: the header is row 1 (or wherever it is) and
the first data row below it is row 2; blank rows keep their number but are neither parsed nor
counted.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
import unicodedata
import warnings
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from weijian.errors import InputError
from weijian.text import cell as spreadsheet_cell

__all__ = [
    "CRS_VALUES",
    "FIELD_ALIASES",
    "REQUIRED",
    "SHANGHAI",
    "HotlineRow",
    "ParsedExport",
    "RowProblem",
    "parse_export",
    "report_rows",
    "write_report_csv",
]

SHANGHAI = ZoneInfo("Asia/Shanghai")

REQUIRED = ("external_id", "reported_at", "lon", "lat")  # and description or title: one at least

# Field → accepted header names, in order of preference when a file has several of them.
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "external_id": ("工单编号", "工单号", "编号", "受理编号", "诉求编号"),
    "reported_at": ("受理时间", "来电时间", "登记时间", "派单时间", "创建时间"),
    "description": ("诉求内容", "问题描述", "反映内容", "内容", "事项描述"),
    "address": ("地址", "事发地址", "问题地址", "发生地点"),
    "lon": ("经度", "X坐标", "lng", "lon", "longitude"),
    "lat": ("纬度", "Y坐标", "lat", "latitude"),
    "crs": ("坐标系",),
    "reporter_name": ("来电人", "诉求人", "反映人", "姓名", "联系人"),
    "reporter_phone": ("联系电话", "来电号码", "电话", "手机"),
    "title": ("标题", "诉求标题"),
    "discovered_at": ("发现时间",),
    "track": ("违建类型", "类型"),
}

# How a field is named to the clerk.
FIELD_LABELS: dict[str, str] = {
    "external_id": "工单编号",
    "reported_at": "受理时间",
    "description": "诉求内容",
    "address": "地址",
    "lon": "经度",
    "lat": "纬度",
    "crs": "坐标系",
    "reporter_name": "来电人",
    "reporter_phone": "联系电话",
    "title": "标题",
    "discovered_at": "发现时间",
    "track": "违建类型",
}

CRS_VALUES = ("wgs84", "gcj02", "bd09", "cgcs2000")
TRACKS = ("new", "backlog")

LON_RANGE = (73.0, 136.0)
LAT_RANGE = (3.0, 54.0)

EXCEL_SUFFIXES = (".xlsx", ".xlsm")
CSV_SUFFIXES = (".csv", ".txt")
CSV_DELIMITERS = (",", ";", "\t")
HEADER_SEARCH_ROWS = 10  # a title line or two may sit above the header
EARLIEST_YEAR = 1990  # anything older is a wrong cell, not a work order

STATUS_LABELS = {"created": "已创建", "exists": "已存在", "error": "错误"}
REPORT_HEADERS = ("行号", "工单编号", "结果", "案件编号", "说明")


@dataclass
class HotlineRow:
    row: int  # as the clerk sees it in Excel: header row 1 → first data row 2
    external_id: str
    reported_at: datetime  # timezone-aware; naive values are taken as Asia/Shanghai
    discovered_at: datetime | None
    description: str
    address: str | None
    lon: float
    lat: float
    crs: str  # "wgs84" | "gcj02" | "bd09" | "cgcs2000"
    reporter_name: str | None
    reporter_phone: str | None
    track: str  # "new" | "backlog"


@dataclass
class RowProblem:
    row: int
    external_id: str | None
    message: str  # Chinese, for the hotline clerk


@dataclass
class ParsedExport:
    rows: list[HotlineRow]
    problems: list[RowProblem]
    columns: dict[str, str]  # field → the header it was read from
    total: int  # data rows seen (blank rows are skipped and not counted)


class _Bad(Exception):
    """One unusable value in a row; the message is a Chinese fragment for the clerk."""


# -- text helpers -----------------------------------------------------------------------------

_INVISIBLE = "\ufeff\u200b\u200c\u200d\u2060"


def _strip(text: str) -> str:
    return text.strip().strip(_INVISIBLE).strip()


def _nfkc(text: str) -> str:
    """Full-width digits, letters and punctuation → ASCII (１１４．３ → 114.3)."""
    return unicodedata.normalize("NFKC", text)


def _cell_text(value: Any) -> str:
    """A cell as stripped text; integral floats lose their '.0' (Excel stores numbers so)."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return _strip(str(value))


def _quote(text: str, limit: int = 30) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _header_key(header: str) -> str:
    """Headers compare without spaces, colons, asterisks or width and case differences."""
    key = _nfkc(_strip(header)).casefold()
    return re.sub(r"[\s:*]+", "", key)


def _header_key_bare(key: str) -> str:
    """The key without a trailing bracketed note: 经度(GCJ02) → 经度."""
    return re.sub(r"[(\[【][^()\[\]【】]*[)\]】]$", "", key)


_ALIAS_KEYS: dict[str, tuple[str, ...]] = {
    field: tuple(_header_key(alias) for alias in aliases)
    for field, aliases in FIELD_ALIASES.items()
}
_ALL_ALIAS_KEYS = frozenset(key for keys in _ALIAS_KEYS.values() for key in keys)


def _known_headers(cells: Sequence[Any]) -> int:
    count = 0
    for cell in cells:
        key = _header_key(_cell_text(cell))
        if key in _ALL_ALIAS_KEYS or _header_key_bare(key) in _ALL_ALIAS_KEYS:
            count += 1
    return count


# -- reading the file -------------------------------------------------------------------------

Rows = list[tuple[int, Sequence[Any]]]  # (row number as in Excel, cells)


def _decode(path: Path, raw: bytes, encoding: str | None) -> str:
    if encoding:
        try:
            codec = codecs.lookup(encoding.strip()).name
        except LookupError as exc:
            raise InputError(
                f"不认识的文字编码“{encoding}”，请使用 utf-8、gb18030 或 gbk",
                code="import.encoding_unknown",
                detail=f"unknown text encoding {encoding!r}",
                hint="use utf-8, gb18030 or gbk",
            ) from exc
        try:
            return raw.decode(codec).lstrip("\ufeff")
        except UnicodeDecodeError as exc:
            raise InputError(
                f"{path.name} 不是 {encoding} 编码（第 {exc.start + 1} 字节处无法解码）。"
                "请不指定编码，让系统自动识别，或把文件另存为 CSV UTF-8",
                code="import.encoding_mismatch",
                detail=f"{path.name} is not {encoding} text (byte {exc.start + 1} cannot be "
                "decoded)",
                hint="leave the encoding out to have it detected, or save the file as CSV UTF-8",
            ) from exc
    if raw.startswith(codecs.BOM_UTF8):
        candidates = ("utf-8-sig",)
    elif raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ("utf-16",)  # Excel's "Unicode text" (.txt, tab-delimited)
    else:
        candidates = ("utf-8", "gb18030")
    for codec in candidates:
        try:
            return raw.decode(codec)
        except UnicodeDecodeError:
            continue
    raise InputError(
        f"{path.name} 的文字编码无法识别（既不是 UTF-8，也不是 GBK/GB18030）。"
        "请在 Excel 中另存为“CSV UTF-8（逗号分隔）”或 .xlsx 后重新导入",
        code="import.encoding_undetected",
        detail=f"{path.name} is neither UTF-8 nor GBK/GB18030 text",
        hint="save it from Excel as “CSV UTF-8 (comma delimited)” or as .xlsx, then import it "
        "again",
    )


#: what the csv module's complaints mean, in Chinese
_CSV_WORDS = {"field limit": "某一格的内容过长"}


def _sniff_delimiter(text: str) -> str:
    """Among , ; and tab: the one that splits the first lines into the most known headers
    (then into the most columns)."""
    sample = "\n".join(text.splitlines()[: HEADER_SEARCH_ROWS * 2])
    best, best_score = ",", (-1, -1)
    for delimiter in CSV_DELIMITERS:
        try:
            records = [r for r in csv.reader(io.StringIO(sample), delimiter=delimiter) if r]
        except csv.Error:
            continue
        records = records[:HEADER_SEARCH_ROWS]
        if not records:
            continue
        known = max(_known_headers(record) for record in records)
        score = (known, len(records[0]))
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _read_csv(path: Path, encoding: str | None) -> Rows:
    text = _decode(path, path.read_bytes(), encoding)
    # Excel's "sep=;" hint line: Excel does not show it as a row.
    hint = re.match(r"\s*sep=(.)\r?\n", text)
    if hint:
        delimiter = hint.group(1)
        text = text[hint.end() :]
    else:
        delimiter = _sniff_delimiter(text)
    try:
        return list(enumerate(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), 1))
    except csv.Error as exc:
        why = next((zh for en, zh in _CSV_WORDS.items() if en in str(exc)), "无法按行读取")
        raise InputError(
            f"{path.name} 不是有效的 CSV 文件（{why}）。"
            "请在 Excel 中打开后另存为 .xlsx 或 CSV UTF-8 再导入",
            code="hotline.csv_invalid",
            detail=f"{path.name} is not a valid CSV file: {exc}",
            hint="open it in Excel and save it as .xlsx or CSV UTF-8, then import it again",
        ) from exc


def _read_excel(path: Path) -> tuple[Rows, datetime]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            book = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError) as exc:
        raise InputError(
            f"{path.name} 无法作为 Excel 文件打开（文件损坏，或并非真正的 .xlsx）。"
            "请在 Excel 中打开后另存为 .xlsx 或 CSV 再导入",
            code="hotline.excel_unreadable",
            detail=f"{path.name} cannot be opened as an Excel workbook (damaged, or not really "
            ".xlsx)",
            hint="open it in Excel and save it as .xlsx or CSV, then import it again",
        ) from exc
    try:
        if not book.worksheets:
            raise InputError(
                f"{path.name} 中没有工作表，请重新导出含工单的文件后再导入",
                code="hotline.no_sheet",
                detail=f"{path.name} has no worksheet",
            )
        sheet = book.worksheets[0]
        sheet.reset_dimensions()  # some exporters write a wrong <dimension>; read every cell
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rows = list(enumerate(sheet.iter_rows(min_row=1, values_only=True), 1))
        return rows, book.epoch
    finally:
        book.close()


def _read_rows(path: Path, encoding: str | None) -> tuple[Rows, datetime | None]:
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise InputError(
            f"{path.name} 是旧版 Excel（.xls）文件，无法直接导入。"
            "请在 Excel 中“另存为” .xlsx（Excel 工作簿）或 CSV UTF-8 后重新导入",
            code="hotline.xls_unsupported",
            detail=f"{path.name} is an old Excel (.xls) file, which cannot be imported directly",
            hint="save it from Excel as .xlsx (Excel workbook) or CSV UTF-8, then import it again",
        )
    if suffix not in EXCEL_SUFFIXES + CSV_SUFFIXES:
        raise InputError(
            f"{path.name}：不支持的文件类型“{suffix or '无扩展名'}”，"
            "请导入 12345 热线导出的 .xlsx 或 .csv 文件",
            code="import.format_unsupported",
            detail=f"{path.name}: {suffix or 'no extension'} is not a file type the hotline "
            "import reads",
            hint="import the .xlsx or .csv export of the 12345 hotline",
        )
    if not path.is_file():
        raise InputError(
            f"找不到文件 {path}，请核对路径",
            code="import.file_not_found",
            detail=f"{path} does not exist",
        )
    if suffix in EXCEL_SUFFIXES:
        return _read_excel(path)
    return _read_csv(path, encoding), None


def _is_blank(cells: Sequence[Any]) -> bool:
    return all(_cell_text(cell) == "" for cell in cells)


def _find_header(path: Path, rows: Rows) -> int:
    """Index in ``rows`` of the header: the first non-empty row, unless one of the next few
    has more known headers (a title line such as “12345 工单明细” above the real header)."""
    candidates = [i for i, (_, cells) in enumerate(rows) if not _is_blank(cells)]
    if not candidates:
        raise InputError(
            f"{path.name} 是空文件，请导入包含表头和工单数据的文件",
            code="import.file_empty",
            detail=f"{path.name} is empty",
            hint="import a file with a header row and work orders",
        )
    first = candidates[0]
    for index in candidates[:HEADER_SEARCH_ROWS]:
        if _known_headers(rows[index][1]) >= 2:
            return index
    return first


def _map_columns(path: Path, headers: Sequence[Any]) -> tuple[dict[str, int], dict[str, str]]:
    texts = [_cell_text(h) for h in headers]
    keys = [_header_key(t) for t in texts]
    bare = [_header_key_bare(k) for k in keys]
    index: dict[str, int] = {}
    for field, aliases in _ALIAS_KEYS.items():
        for alias in aliases:
            hit = next((i for i, k in enumerate(keys) if k == alias), None)
            if hit is None:
                hit = next((i for i, k in enumerate(bare) if k == alias), None)
            if hit is not None and hit not in index.values():
                index[field] = hit
                break
    missing = [f for f in REQUIRED if f not in index]
    if "description" not in index and "title" not in index:
        missing.append("description")
    if missing:
        found = "、".join(t for t in texts if t) or "（无）"
        needs = "；".join(
            f"{FIELD_LABELS[f]}（可用列名：{'、'.join(FIELD_ALIASES[f])}）" for f in missing
        )
        needs_en = "; ".join(f"{f} (headers: {'、'.join(FIELD_ALIASES[f])})" for f in missing)
        found_en = ", ".join(t for t in texts if t) or "(none)"
        raise InputError(
            f"{path.name} 缺少必需的列：{needs}。文件中的列名为：{found}。"
            "请把对应列的表头改成上面任一可用列名后重新导入",
            code="hotline.columns_missing",
            detail=f"{path.name} lacks required columns: {needs_en}; its columns are: {found_en}",
            hint="rename the header of each such column to one of the names accepted, then "
            "import the file again",
        )
    return index, {field: texts[i] for field, i in index.items()}


# -- values -----------------------------------------------------------------------------------

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_SCIENTIFIC = re.compile(r"[+-]?\d+(?:\.\d+)?[eE][+-]?\d+")
_DATETIME = re.compile(
    r"(?P<y>\d{4})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*日?"
    r"(?:\s*T?\s*(?P<ap>上午|下午|晚上|凌晨|中午)?\s*"
    r"(?P<H>\d{1,2})\s*[:时点]\s*"
    r"(?:(?P<M>\d{1,2})\s*分?\s*(?::?\s*(?P<S>\d{1,2})(?:\.(?P<f>\d+))?\s*秒?)?)?"
    r"\s*(?P<ampm>AM|PM)?)?"
    r"\s*(?P<tz>Z|[+-]\d{2}:?\d{2})?"
)
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?)?")


def _round_second(value: datetime) -> datetime:
    if value.microsecond >= 500_000:
        value += timedelta(seconds=1)
    return value.replace(microsecond=0)


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=SHANGHAI)
    return value.astimezone(SHANGHAI)


def _checked(value: datetime, header: str, raw: str) -> datetime:
    if value.year < EARLIEST_YEAR:
        raise _Bad(f"{header}“{_quote(raw)}”不是有效日期，请核对")
    return _aware(_round_second(value))


def _from_serial(number: float, epoch: datetime | None) -> datetime:
    from openpyxl.utils.datetime import WINDOWS_EPOCH, from_excel

    return from_excel(number, epoch or WINDOWS_EPOCH)


def _parse_datetime(value: Any, header: str, epoch: datetime | None) -> datetime | None:
    """A datetime cell, an Excel serial number or one of the usual Chinese spellings."""
    if isinstance(value, datetime):
        return _checked(value, header, _cell_text(value))
    if isinstance(value, date):
        return _checked(datetime.combine(value, time()), header, value.isoformat())
    if isinstance(value, time):
        raise _Bad(f"{header}只有时刻“{value.isoformat()}”没有日期，请填写完整的日期和时间")
    raw = _cell_text(value)
    if not raw:
        return None
    text = re.sub(r"\s+", " ", _nfkc(raw)).strip()
    bad = _Bad(f"{header}“{_quote(raw)}”无法识别，请写成“2026-03-05 14:20”这样的日期时间")
    invalid = _Bad(f"{header}“{_quote(raw)}”不是有效的日期时间（月、日或时刻超出范围），请核对")
    compact = _COMPACT.fullmatch(text)
    if compact:
        parts = [int(p) if p else 0 for p in compact.groups()]
        try:
            return _checked(datetime(*parts), header, raw)
        except ValueError:
            raise invalid from None
    if _NUMBER.fullmatch(text):  # an Excel serial number, as a number cell or as text
        number = float(text)
        if not 1 <= number < 2_958_466:  # Excel's serial range (up to 9999-12-31)
            raise bad
        try:
            serial = _from_serial(number, epoch)
        except (OverflowError, ValueError):
            raise invalid from None
        return _checked(serial, header, raw)
    match = _DATETIME.fullmatch(text)
    if not match:
        raise bad
    hour = int(match["H"] or 0)
    if match["ap"] in ("下午", "晚上") or match["ampm"] == "PM":
        hour = hour + 12 if hour < 12 else hour
    elif (match["ap"] in ("上午", "凌晨") or match["ampm"] == "AM") and hour == 12:
        hour = 0
    micro = int((match["f"] or "0")[:6].ljust(6, "0"))
    try:
        parsed = datetime(
            int(match["y"]),
            int(match["m"]),
            int(match["d"]),
            hour,
            int(match["M"] or 0),
            int(match["S"] or 0),
            micro,
        )
    except ValueError:
        raise invalid from None
    tz = match["tz"]
    if tz == "Z":
        parsed = parsed.replace(tzinfo=UTC)
    elif tz:
        offset = timedelta(hours=int(tz[1:3]), minutes=int(tz[-2:]))
        parsed = parsed.replace(tzinfo=timezone(-offset if tz[0] == "-" else offset))
    return _checked(parsed, header, raw)


def _parse_number(value: Any, header: str) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
        if not math.isfinite(number):
            raise _Bad(f"{header}不是有效数字，请填写十进制度数（如 114.30512）")
        return number
    raw = _cell_text(value)
    if not raw:
        return None
    text = re.sub(r"\s+", "", _nfkc(raw)).rstrip("°")
    if not _NUMBER.fullmatch(text):
        raise _Bad(f"{header}“{_quote(raw)}”不是数字，请填写十进制度数（如 114.30512）")
    return float(text)


def _parse_crs(raw: str) -> str | None:
    """WGS84 / GCJ02 / 国测局 / 火星坐标 / 百度 / BD09 / CGCS2000 / 2000 → a CRS_VALUES name."""
    key = re.sub(r"[\s\-_]+", "", _nfkc(raw)).casefold()
    if not key:
        return None
    if "百度" in key or "bd" in key or "baidu" in key:
        return "bd09"
    if any(word in key for word in ("gcj", "火星", "国测局", "高德", "腾讯")):
        return "gcj02"
    if "wgs" in key or key in ("gps", "4326", "epsg:4326"):
        return "wgs84"
    if "cgcs" in key or "2000" in key or key in ("4490", "epsg:4490"):
        return "cgcs2000"
    return None


def _parse_track(raw: str) -> str:
    key = _nfkc(raw).casefold()
    if any(word in key for word in ("存量", "已建", "backlog")):
        return "backlog"
    return "new"  # 在建 / 新增 / empty / anything else


def _parse_phone(value: Any) -> str | None:
    text = _cell_text(value)
    if _SCIENTIFIC.fullmatch(text):  # 1.3912345678E+10 after a round trip through Excel
        number = float(text)
        if number.is_integer():
            text = str(int(number))
    return _nfkc(text) or None


def _fmt(number: float) -> str:
    return f"{number:g}" if abs(number) < 1e6 else f"{number:.0f}"


def _check_coordinates(lon: float, lat: float, lon_header: str, lat_header: str) -> None:
    lon_ok = LON_RANGE[0] <= lon <= LON_RANGE[1]
    lat_ok = LAT_RANGE[0] <= lat <= LAT_RANGE[1]
    if lon_ok and lat_ok:
        return
    if LON_RANGE[0] <= lat <= LON_RANGE[1] and LAT_RANGE[0] <= lon <= LAT_RANGE[1]:
        raise _Bad(
            f"经纬度可能填反了（{lon_header}为 {_fmt(lon)}，{lat_header}为 {_fmt(lat)}），"
            "请交换两列的值后重新导入"
        )
    if abs(lon) > 1000 or abs(lat) > 1000:
        raise _Bad(
            f"坐标（{_fmt(lon)}，{_fmt(lat)}）像是平面坐标（米），请换算为经纬度（度）后重新导入"
        )
    wrong = []
    if not lon_ok:
        wrong.append(f"{lon_header} {_fmt(lon)} 不在中国范围（73～136）内")
    if not lat_ok:
        wrong.append(f"{lat_header} {_fmt(lat)} 不在中国范围（3～54）内")
    raise _Bad("，".join(wrong) + "，请核对坐标后重新导入")


# -- rows -------------------------------------------------------------------------------------


@dataclass
class _Context:
    index: dict[str, int]
    headers: dict[str, str]
    default_crs: str
    epoch: datetime | None
    seen: dict[str, int]  # external_id → first row that had it


def _parse_row(number: int, cells: Sequence[Any], ctx: _Context) -> HotlineRow | RowProblem:
    def cell(field: str) -> Any:
        i = ctx.index.get(field)
        return cells[i] if i is not None and i < len(cells) else None

    def header(field: str) -> str:
        return ctx.headers.get(field, FIELD_LABELS[field])

    errors: list[str] = []

    def attempt(parse: Callable[..., Any], *args: Any) -> Any:
        try:
            return parse(*args)
        except _Bad as exc:
            errors.append(str(exc))
            return None

    external_id = _nfkc(_cell_text(cell("external_id"))) or None
    if external_id is None:
        errors.append(f"缺少工单编号（{header('external_id')}列为空），请补充后重新导入")
    elif external_id in ctx.seen:
        errors.append(f"与第{ctx.seen[external_id]}行工单编号重复（{_quote(external_id)}）")
    else:
        ctx.seen[external_id] = number

    reported_at = None
    if _cell_text(cell("reported_at")):
        reported_at = attempt(
            _parse_datetime, cell("reported_at"), header("reported_at"), ctx.epoch
        )
    else:
        errors.append(f"缺少受理时间（{header('reported_at')}列为空），请补充后重新导入")
    discovered_at = None
    if "discovered_at" in ctx.index:
        discovered_at = attempt(
            _parse_datetime, cell("discovered_at"), header("discovered_at"), ctx.epoch
        )

    title = _cell_text(cell("title"))
    description = _cell_text(cell("description"))
    if title and description and not description.startswith(title):
        description = f"{title}：{description}"
    elif not description:
        description = title
    if not description:
        columns = "、".join(header(f) for f in ("description", "title") if f in ctx.index)
        errors.append(f"缺少诉求内容（{columns}列为空），请补充后重新导入")

    lon_header, lat_header = header("lon"), header("lat")
    lon = attempt(_parse_number, cell("lon"), lon_header)
    lat = attempt(_parse_number, cell("lat"), lat_header)
    lon_blank = lon is None and not _cell_text(cell("lon"))
    lat_blank = lat is None and not _cell_text(cell("lat"))
    if lon_blank and lat_blank:
        errors.append(
            f"缺少经纬度（{lon_header}、{lat_header}列为空），无法定位，请补充坐标后重新导入"
        )
    elif lon_blank or lat_blank:
        field = "lon" if lon_blank else "lat"
        errors.append(
            f"缺少{FIELD_LABELS[field]}（{header(field)}列为空），无法定位，请补充坐标后重新导入"
        )
    elif lon is not None and lat is not None:
        attempt(_check_coordinates, lon, lat, lon_header, lat_header)

    crs = ctx.default_crs
    raw_crs = _cell_text(cell("crs"))
    if raw_crs:
        parsed_crs = _parse_crs(raw_crs)
        if parsed_crs is None:
            errors.append(
                f"{header('crs')}“{_quote(raw_crs)}”无法识别，"
                "请填写 WGS84、GCJ02（火星坐标）、BD09（百度）或 CGCS2000"
            )
        else:
            crs = parsed_crs

    if errors:
        return RowProblem(number, external_id, f"第{number}行：" + "；".join(errors))
    assert external_id is not None and reported_at is not None
    assert lon is not None and lat is not None
    return HotlineRow(
        row=number,
        external_id=external_id,
        reported_at=reported_at,
        discovered_at=discovered_at,
        description=description,
        address=_cell_text(cell("address")) or None,
        lon=lon,
        lat=lat,
        crs=crs,
        reporter_name=_cell_text(cell("reporter_name")) or None,
        reporter_phone=_parse_phone(cell("reporter_phone")),
        track=_parse_track(_cell_text(cell("track"))),
    )


def parse_export(
    path: Path, *, default_crs: str = "gcj02", encoding: str | None = None
) -> ParsedExport:
    """Parse a hotline export into intake rows and per-row problems.

    CSV (``.csv``/``.txt``; encoding from ``encoding``, else a BOM, else UTF-8, else GB18030;
    the delimiter among ``,`` ``;`` and tab is sniffed) or Excel (``.xlsx``/``.xlsm``: the first
    sheet; the header row is the first non-empty row, or a later one among the first few when
    that one holds more known headers, e.g. below a title line). ``default_crs`` applies to rows
    without a 坐标系 value.

    Raises :class:`InputError` for an old ``.xls``, an unknown extension, an unreadable file, a
    missing required column (naming it with its accepted headers and listing the headers found)
    or a file without data rows. Bad values in a row never raise: the row goes to ``problems``.
    """
    path = Path(path)
    crs = _parse_crs(default_crs)
    if crs is None:
        raise InputError(
            f"不认识的默认坐标系“{default_crs}”，请使用 wgs84、gcj02、bd09 或 cgcs2000",
            code="crs.unknown",
            detail=f"unknown default coordinate system {default_crs!r}",
            hint="use wgs84, gcj02, bd09 or cgcs2000",
        )
    rows, epoch = _read_rows(path, encoding)
    header_at = _find_header(path, rows)
    index, headers = _map_columns(path, rows[header_at][1])
    ctx = _Context(index, headers, crs, epoch, {})
    parsed: list[HotlineRow] = []
    problems: list[RowProblem] = []
    total = 0
    for number, cells in rows[header_at + 1 :]:
        if _is_blank(cells):
            continue
        total += 1
        result = _parse_row(number, cells, ctx)
        if isinstance(result, HotlineRow):
            parsed.append(result)
        else:
            problems.append(result)
    if total == 0:
        raise InputError(
            f"{path.name} 只有表头，没有工单数据。请检查导出条件，导出含工单的文件后重新导入",
            code="hotline.no_rows",
            detail=f"{path.name} has a header but no work orders",
            hint="check the export's conditions and export a file with work orders",
        )
    return ParsedExport(rows=parsed, problems=problems, columns=headers, total=total)


# -- report -----------------------------------------------------------------------------------

_DEFAULT_MESSAGES = {
    "created": None,
    "exists": "该工单已导入过，未重复立案",
    "error": "立案失败，请联系系统管理员",
}


def report_rows(parsed: ParsedExport, outcomes: dict[int, dict]) -> list[dict]:
    """One entry per data row, sorted by row: the caller's outcome for each parsed row
    (``{"status": "created"|"exists"|"error", "case_number": …, "message": …}``) and an
    ``"error"`` for each parse problem. A parsed row without an outcome is reported as an error
    (not imported); an outcome for an unknown row or with an unknown status is a ValueError."""
    by_row = {row.row: row for row in parsed.rows}
    unknown = sorted(set(outcomes) - set(by_row))
    if unknown:
        raise ValueError(f"outcomes for rows that were not parsed into intake rows: {unknown}")
    report: list[dict] = []
    for number, row in by_row.items():
        outcome = outcomes.get(number)
        if outcome is None:
            outcome = {"status": "error", "message": f"第{number}行未处理，请重新导入该工单"}
        status = outcome.get("status")
        if status not in STATUS_LABELS:
            raise ValueError(f"row {number}: unknown status {status!r}")
        report.append(
            {
                "row": number,
                "external_id": row.external_id,
                "status": status,
                "case_number": outcome.get("case_number"),
                "message": outcome.get("message") or _DEFAULT_MESSAGES[status],
            }
        )
    for problem in parsed.problems:
        report.append(
            {
                "row": problem.row,
                "external_id": problem.external_id,
                "status": "error",
                "case_number": None,
                "message": problem.message,
            }
        )
    report.sort(key=lambda entry: entry["row"])
    return report


def _safe_cell(value: Any) -> str:
    """Text for a CSV cell that Excel will not run as a formula."""
    return spreadsheet_cell("" if value is None else str(value))


def write_report_csv(rows: Iterable[dict], path: Path) -> None:
    """Write :func:`report_rows` as a CSV for the clerk (UTF-8 with BOM so Excel reads it):
    行号, 工单编号, 结果 (已创建/已存在/错误), 案件编号, 说明."""
    with open(path, "w", encoding="utf-8-sig", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(REPORT_HEADERS)
        for entry in rows:
            writer.writerow(
                [
                    entry["row"],
                    _safe_cell(entry.get("external_id")),
                    STATUS_LABELS.get(entry["status"], entry["status"]),
                    _safe_cell(entry.get("case_number")),
                    _safe_cell(entry.get("message")),
                ]
            )
