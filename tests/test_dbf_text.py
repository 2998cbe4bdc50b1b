"""The DBF's text read as one array, column by column (``encoding.read_dbf_text``), gives what
reading it record by record gives — the non-ASCII values in record order, the first NUL inside a
value refused at the same record — on the shared GBK DBFs, a GBK land-use table written here,
and hundreds of damaged copies of both; and the all-at-once decoding check agrees with decoding
each value."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest

from tests import catalogue
from weijian.errors import InputError
from weijian.gis import encoding


def record_by_record(path: Path) -> list[tuple[int, bytes, bytes]] | tuple[str, int]:
    """The plain reading: each record sliced, each text field cut of its blanks and NULs."""
    data = path.read_bytes()
    records, header_len, record_len = struct.unpack("<IHH", data[4:12])
    fields, pos = [], 32
    while pos + 32 <= header_len and data[pos] != 0x0D:
        fields.append((data[pos : pos + 11].split(b"\x00", 1)[0], data[pos + 11], data[pos + 16]))
        pos += 32
    texts, offset = [], 1
    for name, kind, length in fields:
        if kind in b"CM":
            texts.append((name, offset, length))
        offset += length
    values = []
    for number in range(records):
        record = data[header_len + number * record_len : header_len + (number + 1) * record_len]
        if len(record) < record_len:
            break
        for name, start, length in texts:
            raw = record[start : start + length].rstrip(b" \x00")
            if b"\x00" in raw:
                return ("nul", number + 1)
            if raw and not raw.isascii():
                values.append((number, name, raw))
    return values


def damaged(data: bytes, seed: int) -> bytes:
    """Bytes of the records overwritten with blanks, NULs, GBK lead bytes or letters, and the
    file perhaps cut short inside a record."""
    rnd = random.Random(seed)
    header_len = struct.unpack("<H", data[8:10])[0]
    copy = bytearray(data)
    for _ in range(rnd.randint(1, 6)):
        copy[rnd.randrange(header_len, len(copy))] = rnd.choice([0, 0x20, 0xB0, 0xD6, 0x41, 0xFF])
    if rnd.random() < 0.3:
        del copy[max(header_len, len(copy) - rnd.randrange(1, 60)) :]
    return bytes(copy)


@pytest.fixture(scope="module")
def tables(tmp_path_factory, shared_data) -> list[Path]:
    folder = tmp_path_factory.mktemp("dbf")
    written = catalogue.write_shapefile(catalogue.parcels(), folder, "landuse", encoding="GBK")
    shared = sorted((shared_data / "dbf_encoding").glob("*.dbf"))
    return [written.with_suffix(".dbf"), *shared]


def test_the_text_read_column_by_column_is_the_text_read_record_by_record(tables, tmp_path):
    refused = compared = 0
    for table in tables:
        data = table.read_bytes()
        for seed in range(150):
            path = tmp_path / f"{table.stem}_{seed}.dbf"
            path.write_bytes(data if seed == 0 else damaged(data, seed))
            want = record_by_record(path)
            if isinstance(want, tuple):
                with pytest.raises(InputError) as error:
                    encoding.read_dbf_text(path)
                assert error.value.code == "import.nul_in_text"
                assert f"第 {want[1]} 个要素" in error.value.message, error.value.message
                refused += 1
            else:
                assert encoding.read_dbf_text(path).values == want
                compared += 1
    assert refused > 20 and compared > 200  # both kinds of answer were put to the test


@pytest.mark.parametrize("codec", ["gbk", "gb18030", "utf-8", "big5", "cp1252"])
def test_the_all_at_once_check_finds_what_the_value_by_value_check_finds(
    tables, tmp_path, monkeypatch, codec
):
    answers = []
    for table in tables:
        data = table.read_bytes()
        for seed in range(40):
            path = tmp_path / f"{table.stem}_{seed}.dbf"
            path.write_bytes(data if seed == 0 else damaged(data, seed))
            if isinstance(record_by_record(path), tuple):
                continue
            text = encoding.read_dbf_text(path)
            fast = encoding.first_failure(text, codec)
            with monkeypatch.context() as patch:
                patch.setattr(encoding, "_JOINABLE", frozenset())  # value by value only
                assert encoding.first_failure(text, codec) == fast
            answers.append(fast)
    if codec in ("utf-8", "big5"):  # GBK text: some value fails, and it is the same one
        assert any(answers)
    if codec == "gbk":  # damage to a GBK lead byte fails some copies, not all
        assert None in answers and any(answers)
