"""Text encoding of a shapefile's DBF: from ``--encoding``, the ``.cpg``, the DBF language byte,
or — with none of them — detected (UTF-8 versus GBK/GB18030), never silently mojibake."""

from __future__ import annotations

import codecs
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from weijian.errors import InputError
from weijian.gis.integrity import nul_error

# DBF language driver IDs (byte 29 of the header) that name a code page without doubt.
# 0x57 ("ANSI", the writer's Windows code page) and 0x00 say nothing: we detect.
LDID_CODEPAGES = {
    0x01: "cp437",
    0x02: "cp850",
    0x03: "cp1252",
    0x4D: "gbk",  # 936 Chinese (PRC, Singapore)
    0x4E: "cp949",
    0x4F: "big5",  # 950 Chinese (Hong Kong, Taiwan)
    0x7A: "gbk",  # 936 PRC GBK (ESRI)
    0x7B: "cp932",
    0xC8: "cp1250",
    0xC9: "cp1251",
}
CPG_ALIASES = {
    "936": "gbk",
    "cp936": "gbk",
    "gbk": "gbk",
    "gb2312": "gbk",
    "gb18030": "gb18030",
    "54936": "gb18030",
    "utf8": "utf-8",
    "utf-8": "utf-8",
    "65001": "utf-8",
    "950": "big5",
    "big5": "big5",
    "1252": "cp1252",
    "ansi1252": "cp1252",
    "88591": "latin-1",
    "iso88591": "latin-1",
}


@dataclass(frozen=True)
class EncodingChoice:
    encoding: str  # a Python codec name that GDAL/iconv also knows
    source: str  # "option" | "cpg" | "ldid" | "detected" | "format"
    detail: str

    def as_dict(self) -> dict:
        return {"encoding": self.encoding, "source": self.source, "detail": self.detail}


@dataclass(frozen=True)
class DbfText:
    """The bytes of a DBF that hold text: field names and character fields."""

    field_names: list[bytes]
    values: list[tuple[int, bytes, bytes]]  # (record number, field name, raw value)
    language_byte: int


def normalise_codec(name: str) -> str:
    key = name.strip().lower().replace(" ", "").replace("_", "").replace("-", "")
    key = {"utf8": "utf8"}.get(key, key)
    if key in CPG_ALIASES:
        return CPG_ALIASES[key]
    alias = name.strip().lower()
    if alias in CPG_ALIASES:
        return CPG_ALIASES[alias]
    try:
        return codecs.lookup(name.strip()).name
    except LookupError as exc:
        raise InputError(
            f"无法识别文字编码“{name.strip()}”，请使用 gbk、gb18030、utf-8 或 big5 之一",
            code="import.encoding_unknown",
            detail=f"unknown text encoding {name!r}.",
            hint="use one of gbk, gb18030, utf-8, big5",
        ) from exc


def read_dbf_text(path: Path) -> DbfText:
    data = path.read_bytes()
    if len(data) < 32:
        raise InputError(
            f"{path.name} 不是有效的 DBF 属性表文件（只有 {len(data)} 字节），请重新导出图层",
            code="import.dbf_invalid",
            detail=f"{path.name} is not a DBF file (only {len(data)} bytes).",
        )
    records, header_len, record_len = struct.unpack("<IHH", data[4:12])
    language_byte = data[29]
    fields: list[tuple[bytes, bytes, int]] = []
    pos = 32
    while pos + 32 <= header_len and data[pos] != 0x0D:
        name = data[pos : pos + 11].split(b"\x00", 1)[0]
        ftype = data[pos + 11 : pos + 12]
        length = data[pos + 16]
        fields.append((name, ftype, length))
        pos += 32
    text_fields = []
    offset = 1  # deletion flag
    for name, ftype, length in fields:
        if ftype in (b"C", b"M"):
            text_fields.append((name, offset, length))
        offset += length
    values = _text_values(path.name, data, header_len, record_len, records, text_fields)
    return DbfText(field_names=[f[0] for f in fields], values=values, language_byte=language_byte)


def _text_values(
    file_name: str,
    data: bytes,
    header_len: int,
    record_len: int,
    records: int,
    text_fields: list[tuple[bytes, int, int]],
) -> list[tuple[int, bytes, bytes]]:
    """Every non-ASCII text value of the whole records, (record number, field, raw bytes with
    trailing blanks and NULs cut), record by record and field by field in each; a NUL left inside
    a value is refused (GDAL would cut the text there), the first one in that order. The records
    are read as one array, column by column: only the non-ASCII values become bytes objects."""
    whole = max(0, min(records, (len(data) - header_len) // record_len)) if record_len else 0
    if not whole or not text_fields:
        return []
    table = np.frombuffer(data, np.uint8, whole * record_len, header_len).reshape(whole, -1)
    found: list[tuple[np.ndarray, int, bytes, list[bytes]]] = []
    first_nul: tuple[int, int] | None = None
    for index, (name, start, length) in enumerate(text_fields):
        column = table[:, start : start + length]
        length = column.shape[1]  # a field past the record's end is cut, as slicing a record is
        if not length:
            continue
        kept = (column != 0x20) & (column != 0)
        # the length once trailing blanks and NULs are cut: after the last byte kept
        ends = np.where(kept.any(axis=1), length - np.argmax(kept[:, ::-1], axis=1), 0)
        inside = np.arange(length) < ends[:, None]
        nul = ((column == 0) & inside).any(axis=1)
        if nul.any():
            first = (int(np.argmax(nul)), index)
            first_nul = first if first_nul is None else min(first_nul, first)
        rows = np.flatnonzero(((column >= 0x80) & inside).any(axis=1))
        raw = np.ascontiguousarray(column).tobytes()
        cut = ends[rows].tolist()
        found.append(
            (
                rows,
                index,
                name,
                [raw[r * length : r * length + e] for r, e in zip(rows.tolist(), cut, strict=True)],
            )
        )
    if first_nul is not None:
        record, index = first_nul
        name = text_fields[index][0].decode("gb18030", errors="replace")
        raise nul_error(file_name, name, record + 1)
    if not found:
        return []
    numbers = np.concatenate([rows for rows, *_ in found])
    fields_of = np.concatenate([np.full(len(rows), index) for rows, index, *_ in found])
    names = [name for _, _, name, _ in found]
    raws = [value for *_, values in found for value in values]
    order = np.lexsort((fields_of, numbers)).tolist()
    numbers_list, fields_list = numbers.tolist(), fields_of.tolist()
    return [(numbers_list[i], names[fields_list[i]], raws[i]) for i in order]


def first_failure(text: DbfText, encoding: str) -> str | None:
    """Where ``encoding`` fails on the DBF text, as a sentence, or None."""
    failure = _first_failure(text, encoding)
    return failure[0] if failure else None


#: codecs in which a value decodes alone exactly when it decodes followed by a line break
_JOINABLE = frozenset({"utf-8", "gbk", "gb18030", "big5", "cp936", "cp950"})


def _first_failure(text: DbfText, encoding: str) -> tuple[str, str] | None:
    """Where ``encoding`` fails on the DBF text, in English and Chinese, or None."""
    for name in text.field_names:
        try:
            name.decode(encoding)
        except UnicodeDecodeError:
            return f"field name {name!r}", f"字段名 {name!r}"
    if codecs.lookup(encoding).name in _JOINABLE:
        try:  # all values at once: a line break ends a character in these codecs
            b"\n".join([raw for _, _, raw in text.values]).decode(encoding)
            return None
        except UnicodeDecodeError:
            pass  # which value, and whether it is only cut by its field's width: one by one
    for number, field, raw in text.values:
        try:
            raw.decode(encoding)
        except UnicodeDecodeError as exc:
            # a multi-byte character cut by the field width is not the codec's fault
            if exc.start >= len(raw) - 3 and ("end" in exc.reason or "incomplete" in exc.reason):
                continue
            field_name = field.decode("latin-1")
            return (
                f"record {number + 1}, field {field_name} ({raw[:24]!r}…)",
                f"第 {number + 1} 条记录的字段 {field_name}（{raw[:24]!r}…）",
            )
    return None


def detect(text: DbfText) -> EncodingChoice:
    if not text.values and all(n.isascii() for n in text.field_names):
        return EncodingChoice("utf-8", "detected", "all text is ASCII")
    if first_failure(text, "utf-8") is None:
        return EncodingChoice("utf-8", "detected", "every text value is valid UTF-8")
    if first_failure(text, "gb18030") is None:
        return EncodingChoice(
            "gb18030", "detected", "not valid UTF-8; every text value is valid GBK/GB18030"
        )
    raise InputError(
        "DBF 属性表的文字既不是 UTF-8 也不是 GBK/GB18030，且没有 .cpg 文件说明其编码。"
        "请用 --encoding 指定正确的编码（如 big5、cp1252）",
        code="import.encoding_undetected",
        detail="the DBF text is neither UTF-8 nor GBK/GB18030, and no .cpg names its encoding.",
        hint="pass --encoding with the right code page (e.g. big5, cp1252)",
    )


def choose_encoding(dbf: Path, cpg: Path | None, option: str | None) -> EncodingChoice:
    """The encoding to read ``dbf`` with, checked against its bytes."""
    text = read_dbf_text(dbf)
    if option:
        choice = EncodingChoice(normalise_codec(option), "option", f"--encoding {option}")
        said = f"由 --encoding {option} 指定"
    elif cpg is not None and cpg.exists() and cpg.read_text("latin-1").strip():
        declared = cpg.read_text("latin-1").strip()
        choice = EncodingChoice(normalise_codec(declared), "cpg", f".cpg says {declared!r}")
        said = f".cpg 文件声明为“{declared}”"
    elif text.language_byte in LDID_CODEPAGES:
        choice = EncodingChoice(
            LDID_CODEPAGES[text.language_byte],
            "ldid",
            f"DBF language byte 0x{text.language_byte:02X}",
        )
        said = f"DBF 语言标识字节为 0x{text.language_byte:02X}"
    else:
        return detect(text)
    failure = _first_failure(text, choice.encoding)
    if failure:
        other = "utf-8" if choice.encoding != "utf-8" else "gbk"
        where, where_zh = failure
        detect_zh = "，或不指定 --encoding 由系统自动识别" if choice.source == "option" else ""
        raise InputError(
            f"DBF 属性表的文字不是有效的 {choice.encoding} 编码（{said}）：{where_zh}。"
            f"请用 --encoding 指定正确的编码（如 --encoding {other}）{detect_zh}",
            code="import.encoding_mismatch",
            detail=f"the DBF text is not valid {choice.encoding} ({choice.detail}): {where}.",
            hint=f"pass the right --encoding (e.g. --encoding {other})"
            + (", or leave --encoding out to detect it" if choice.source == "option" else ""),
        )
    return choice


def text_file_encoding(path: Path) -> str:
    """The encoding of a text file (a CSV): UTF-8 (with or without BOM), else GBK/GB18030 —
    what Excel on Chinese Windows writes — checked over the whole file in slices."""
    for encoding in ("utf-8-sig", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with open(path, "rb") as handle:
                while piece := handle.read(1 << 20):
                    decoder.decode(piece)
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return encoding
    raise InputError(
        f"文件 {path.name} 的文字既不是 UTF-8 也不是 GBK/GB18030 编码，无法读取。"
        "请在 Excel 中“另存为”“CSV UTF-8（逗号分隔）”后重新提交",
        code="file.encoding_unknown",
        detail=f"{path.name} is neither UTF-8 nor GBK/GB18030 text.",
        hint="save it from Excel as 'CSV UTF-8 (comma delimited)' and send it again",
    )
