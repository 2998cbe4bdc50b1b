"""Evidence inspection on real files: JPEGs written by Pillow with EXIF GPS and time, a PNG, PDF,
Office and OFD containers, executables, HTML, truncated and empty files — and the on-disk store."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import math
import os
import zipfile
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest
from PIL import ExifTags, Image
from pyproj import Geod

from weijian.cases.evidence import (
    DESCRIPTIONS,
    DESCRIPTIONS_ZH,
    DOCUMENT_TYPES,
    PHOTO_TYPES,
    EvidenceStore,
    Inspected,
    clean_filename,
    distance_m,
    exif_gps,
    gps_check,
    inspect,
    read_limited,
    sniff,
)
from weijian.errors import InputError, NotFoundError, TooLarge

GEOD = Geod(ellps="GRS80")
BAISHAN = (126.4215, 41.939861)  # lon, lat
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# ------------------------------------------------------------------------------------ makers


def dms(value: float) -> tuple[float, float, float]:
    value = abs(value)
    degrees = math.floor(value)
    minutes = math.floor((value - degrees) * 60)
    seconds = round((value - degrees - minutes / 60) * 3600, 4)
    return (float(degrees), float(minutes), seconds)


def jpeg(
    gps: dict | None = None,
    taken: str | None = None,
    orientation: int | None = None,
    size: tuple[int, int] = (64, 48),
    noise: bool = False,
) -> bytes:
    if noise:
        image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    else:
        image = Image.new("RGB", size, (180, 120, 60))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "TestPhone"
    if orientation:
        exif[ExifTags.Base.Orientation] = orientation
    if taken:
        exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = taken
    if gps:
        exif.get_ifd(ExifTags.IFD.GPSInfo).update(gps)
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=90)
    return out.getvalue()


def jpeg_at(lon: float, lat: float) -> bytes:
    return jpeg(
        gps={
            ExifTags.GPS.GPSLatitudeRef: "N" if lat >= 0 else "S",
            ExifTags.GPS.GPSLatitude: dms(lat),
            ExifTags.GPS.GPSLongitudeRef: "E" if lon >= 0 else "W",
            ExifTags.GPS.GPSLongitude: dms(lon),
        }
    )


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (30, 20), (0, 128, 255)).save(out, "PNG")
    return out.getvalue()


def zipped(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def docx(macros: bool = False) -> bytes:
    members = {
        "[Content_Types].xml": b'<?xml version="1.0"?><Types/>',
        "_rels/.rels": b'<?xml version="1.0"?><Relationships/>',
        "word/document.xml": "<w:document>责令限期拆除通知书</w:document>".encode(),
    }
    if macros:
        members["word/vbaProject.bin"] = b"\x00" * 64
    return zipped(members)


def xlsx() -> bytes:
    book = openpyxl.Workbook()
    book.active.append(["案件编号", "面积"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def ofd() -> bytes:
    return zipped({"OFD.xml": b"<ofd:OFD/>", "Doc_0/Document.xml": b"<ofd:Document/>"})


OLE_FREE, OLE_END, OLE_FAT, OLE_NONE = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
OLE_STORAGES = {"Macros", "_VBA_PROJECT_CUR"}  # what Office writes as storages, not streams


def ole(*streams: str) -> bytes:
    """A well-formed compound file (version 3, 512-byte sectors): the header, one FAT sector,
    then the directory — a root whose children, chained as right siblings, are the named
    (empty) streams and storages."""

    def u16(value: int) -> bytes:
        return value.to_bytes(2, "little")

    def u32(value: int) -> bytes:
        return value.to_bytes(4, "little")

    entries = [(5, "Root Entry")] + [(1 if s in OLE_STORAGES else 2, s) for s in streams]
    directory = bytearray()
    for number, (kind, name) in enumerate(entries):
        entry = bytearray(128)
        encoded = name.encode("utf-16-le") + b"\x00\x00"
        entry[: len(encoded)] = encoded
        entry[64:66] = u16(len(encoded))
        entry[66] = kind
        entry[67] = 1  # black, in the red-black tree of siblings
        right = number + 1 if 0 < number < len(entries) - 1 else OLE_NONE
        child = 1 if number == 0 and len(entries) > 1 else OLE_NONE
        entry[68:80] = u32(OLE_NONE) + u32(right) + u32(child)
        entry[116:120] = u32(OLE_END)  # no data
        directory += entry
    directory += bytes(-len(directory) % 512)
    sectors = len(directory) // 512  # the directory's, from sector 1 on
    fat = [OLE_FAT] + [2 + k if k < sectors - 1 else OLE_END for k in range(sectors)]
    fat += [OLE_FREE] * (128 - len(fat))
    header = bytearray(512)
    header[:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    header[0x18:0x22] = u16(0x3E) + u16(3) + u16(0xFFFE) + u16(9) + u16(6)  # 512-byte sectors
    header[0x2C:0x34] = u32(1) + u32(1)  # one FAT sector; the directory starts at sector 1
    header[0x38:0x48] = u32(4096) + u32(OLE_END) + u32(0) + u32(OLE_END)  # no mini FAT, DIFAT
    header[0x4C:0x200] = u32(0) + u32(OLE_FREE) * 108  # the FAT is sector 0
    return bytes(header) + b"".join(u32(v) for v in fat) + bytes(directory)


PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + bytes(54) + b"This program cannot be run in DOS mode"
HTML = b"\xef\xbb\xbf  <!DOCTYPE html><html><script>alert(1)</script></html>"


# ---------------------------------------------------------------------------------- inspect


def test_photo_with_gps_time_and_hash():
    content = jpeg(
        gps={1: "S", 2: (41.0, 56.0, 23.5), 3: "W", 4: (126.0, 25.0, 17.4)},
        taken="2024:05:06 14:03:22",
    )
    found = inspect(content, "现场照片.jpg", "photo")
    assert found.sha256 == hashlib.sha256(content).hexdigest()
    assert found.size == len(content)
    assert (found.media_type, found.kind, found.filename) == ("image/jpeg", "photo", "现场照片.jpg")
    assert (found.width, found.height) == (64, 48)
    assert found.taken_at == datetime(2024, 5, 6, 14, 3, 22)
    lon, lat = found.gps
    assert lat == pytest.approx(-(41 + 56 / 60 + 23.5 / 3600), abs=1e-9)
    assert lon == pytest.approx(-(126 + 25 / 60 + 17.4 / 3600), abs=1e-9)


def test_northern_eastern_gps_and_rotated_photo():
    content = jpeg(
        gps={1: "N", 2: (41.0, 56.0, 23.5), 3: "E", 4: (126.0, 25.0, 17.4)}, orientation=6
    )
    found = inspect(content, "IMG_0001.JPG", "photo")
    assert found.gps == pytest.approx((126.4215, 41.9398611), abs=1e-6)
    assert (found.width, found.height) == (48, 64)  # as displayed: portrait
    assert found.taken_at is None


def test_unusable_gps_is_none():
    def read(gps: dict) -> tuple[float, float] | None:
        return exif_gps(Image.open(io.BytesIO(jpeg(gps=gps))))

    assert read({1: "N", 2: (0.0, 0.0, 0.0), 3: "E", 4: (0.0, 0.0, 0.0)}) is None
    assert read({1: "N", 2: (95.0, 0.0, 0.0), 3: "E", 4: (126.0, 0.0, 0.0)}) is None
    assert read({1: "N", 2: (41.0, 56.0, 23.5)}) is None  # no longitude
    void = {1: "N", 2: (41.0, 56.0, 0.0), 3: "E", 4: (126.0, 25.0, 0.0), 9: "V"}
    assert read(void) is None
    assert read({}) is None
    assert exif_gps(Image.open(io.BytesIO(png()))) is None


def test_png_without_exif():
    found = inspect(png(), "screenshot.png", "photo")
    assert (found.media_type, found.width, found.height) == ("image/png", 30, 20)
    assert found.gps is None and found.taken_at is None


def test_media_type_comes_from_the_bytes_not_the_name():
    assert inspect(png(), "notice.pdf", "photo").media_type == "image/png"
    assert inspect(jpeg(), "scan.docx", "document").media_type == "image/jpeg"
    assert inspect(PDF, "photo.jpg", "document").media_type == "application/pdf"
    assert inspect(docx(), "决定书.pdf", "document").media_type == DOCX


@pytest.mark.parametrize(
    ("maker", "media_type"),
    [
        (lambda: PDF, "application/pdf"),
        (docx, DOCX),
        (xlsx, XLSX),
        (ofd, "application/ofd"),
        (lambda: ole("WordDocument", "1Table"), "application/msword"),
        (lambda: ole("Workbook"), "application/vnd.ms-excel"),
        (png, "image/png"),
    ],
)
def test_accepted_documents(maker, media_type):
    found = inspect(maker(), "文件", "document")
    assert found.media_type == media_type
    assert found.kind == "document"
    assert media_type in DOCUMENT_TYPES


@pytest.mark.parametrize(
    ("content", "looks"),
    [
        (PDF, "looks like a PDF document"),
        (docx(), "looks like a Word document"),
        (HTML, "looks like a web page"),
        (b"\x00\x01binary\xff" * 20, "not recognised"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(40), "HEIC"),
    ],
)
def test_photo_must_be_an_image(content, looks):
    with pytest.raises(InputError) as caught:
        inspect(content, "a.jpg", "photo")
    assert "is not a readable photo" in caught.value.en
    assert looks in caught.value.en
    assert "JPEG" in caught.value.hint
    assert caught.value.code == "evidence.format_unsupported"
    assert caught.value.message.startswith("“a.jpg”不是可接受的照片：")


def test_truncated_jpeg_is_refused(tmp_path):
    from weijian.enforcement.pdf import render_pdf

    # a process that has made an enforcement document (WeasyPrint loaded) refuses it too
    (tmp_path / "plain.html").write_text("<p>送达回证</p>", encoding="utf-8")
    assert render_pdf("plain.html", {}, tmp_path)[0].startswith(b"%PDF")
    content = jpeg(size=(256, 256), noise=True)
    with pytest.raises(InputError) as caught:
        inspect(content[: len(content) * 2 // 3], "现场.jpg", "photo")
    assert "现场.jpg is not a readable photo" in caught.value.en
    assert "truncated or damaged" in caught.value.en
    assert caught.value.code == "evidence.damaged"
    assert caught.value.message == (
        "“现场.jpg”不是可读取的照片：其中的 JPEG 数据不完整或已损坏。请从手机或相机重新上传原图"
    )


@pytest.mark.parametrize(
    ("content", "looks"),
    [
        (EXE, "a Windows program"),
        (b"\x7fELF\x02\x01\x01" + bytes(57), "a Linux program"),
        (b"#!/bin/sh\nrm -rf /\n", "a script"),
        (HTML, "a web page"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "an SVG"),
        (zipped({"readme.txt": b"hi"}), "a zip archive"),
        (docx(macros=True), "macros"),
        (ole("WordDocument", "Macros"), "macros"),
        (ole(), "neither Word nor Excel"),
        (ole("EncryptionInfo", "EncryptedPackage"), "password-protected"),
        (ole("WordDocument")[:8] + bytes(2040), "neither Word nor Excel"),  # damaged
        (b"\x00\x01binary\xff" * 20, "not recognised"),
    ],
)
def test_documents_refused(content, looks):
    with pytest.raises(InputError) as caught:
        inspect(content, "通知.doc", "document")
    assert "is not an accepted document" in caught.value.en
    assert looks in caught.value.en
    assert caught.value.hint
    assert caught.value.code == "evidence.format_unsupported"
    assert caught.value.message.startswith("“通知.doc”的文件格式不支持：")


def test_pdf_as_a_photo_in_chinese():
    with pytest.raises(InputError) as caught:
        inspect(PDF, "现场.jpg", "photo")
    assert caught.value.message == (
        "“现场.jpg”不是可接受的照片：它看起来是PDF 文档。"
        "请作为文书（kind=document）上传；照片须为 JPEG、PNG 或 WebP 格式"
    )
    assert (
        caught.value.en == "现场.jpg is not a readable photo (照片): it looks like a PDF document."
    )


def test_every_described_type_is_described_in_chinese():
    assert set(DESCRIPTIONS_ZH) == set(DESCRIPTIONS)


def test_empty_and_unknown_kind():
    with pytest.raises(InputError, match="empty") as caught:
        inspect(b"", "a.jpg", "photo")
    assert caught.value.code == "evidence.empty"
    assert caught.value.message.startswith("“a.jpg”是空文件（0 字节）")
    with pytest.raises(InputError) as caught:
        inspect(png(), "a.png", "video")
    assert "photo" in caught.value.hint and "document" in caught.value.hint


def test_sniff_and_types():
    assert PHOTO_TYPES <= DOCUMENT_TYPES
    assert sniff(EXE) == "application/x-msdownload"
    assert sniff("整改通知\n".encode()) == "text/plain"
    assert sniff(b"") is None


def test_clean_filename():
    assert clean_filename("C:\\Users\\张三\\桌面\\现场照片1.jpg", "image/jpeg") == "现场照片1.jpg"
    assert clean_filename("../../etc/passwd", "") == "passwd"
    assert clean_filename("photo\u202egpj.exe", "") == "photogpj.exe"
    assert clean_filename('a<b>:"c".pdf\r\n', "") == "a_b___c_.pdf"
    assert clean_filename("  ..  ", "image/jpeg") == "evidence.jpg"
    long = clean_filename("长" * 300 + ".pdf", "")
    assert len(long) == 200 and long.endswith(".pdf")


# ------------------------------------------------------------------------------- read_limited


class Endless(io.RawIOBase):
    """A ``size``-byte stream generated on demand, counting what it hands out."""

    def __init__(self, size: int):
        self.left = size
        self.served = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.left)
        buffer[:n] = b"\x00" * n
        self.left -= n
        self.served += n
        return n


def test_read_limited_stops_at_the_limit():
    stream = Endless(50 << 20)
    with pytest.raises(TooLarge) as caught:
        read_limited(stream, 20 << 20)
    assert stream.served == (20 << 20) + 1
    assert "20 MB" in caught.value.en
    assert "compress" in caught.value.hint and "split" in caught.value.hint
    assert caught.value.code == "evidence.too_large"
    assert caught.value.message.startswith("该文件超过 20 MB 上限，请压缩照片")


def test_read_limited_returns_everything_up_to_the_limit():
    assert read_limited(io.BytesIO(b"x" * 1000), 1000) == b"x" * 1000
    assert read_limited(Endless(3 << 20), 3 << 20) == bytes(3 << 20)
    with pytest.raises(TooLarge):
        read_limited(io.BytesIO(b"x" * 1001), 1000)


# -------------------------------------------------------------------------------- locations


def test_distance_of_one_degree_of_latitude():
    # meridian arc of 1° centred on 42°N, from the GRS80 radius of curvature in the meridian
    a, f = 6378137.0, 1 / 298.257222101
    e2 = f * (2 - f)
    radius = a * (1 - e2) / (1 - e2 * math.sin(math.radians(42)) ** 2) ** 1.5
    expected = radius * math.radians(1)
    assert 111_000 < expected < 111_100
    assert distance_m(126.0, 41.5, 126.0, 42.5) == pytest.approx(expected, rel=1e-3)
    assert distance_m(*BAISHAN, *BAISHAN) == 0


def test_gps_check_flags_far_photos():
    lon, lat = BAISHAN
    far_lon, far_lat, _ = GEOD.fwd(lon, lat, 37.0, 150.0)
    near_lon, near_lat, _ = GEOD.fwd(lon, lat, 210.0, 50.0)

    far = gps_check(inspect(jpeg_at(far_lon, far_lat), "far.jpg", "photo"), lon, lat)
    assert far["flagged"] is True
    assert far["distance_m"] == pytest.approx(150.0, abs=0.5)
    assert far["reason"] == f"照片拍摄位置距案件位置 {far['distance_m']:.1f} 米，超过 100 米"

    near = gps_check(inspect(jpeg_at(near_lon, near_lat), "near.jpg", "photo"), lon, lat)
    assert near == {"distance_m": pytest.approx(50.0, abs=0.5), "flagged": False, "reason": None}

    # the GPS exactly as given, without the rounding of EXIF rationals
    exact = dataclasses.replace(inspect(png(), "p.png", "photo"), gps=(far_lon, far_lat))
    assert gps_check(exact, lon, lat) == {
        "distance_m": 150.0,
        "flagged": True,
        "reason": "照片拍摄位置距案件位置 150.0 米，超过 100 米",
    }
    assert gps_check(exact, lon, lat, limit_m=200)["flagged"] is False


def test_gps_check_without_gps():
    found = inspect(png(), "p.png", "photo")
    assert gps_check(found, *BAISHAN) == {
        "distance_m": None,
        "flagged": False,
        "reason": "照片无GPS信息",
    }


# ---------------------------------------------------------------------------------- storage


def test_disk_store_put_open_verify_and_tamper(tmp_path: Path):
    content = jpeg()
    found = inspect(content, "a.jpg", "photo")
    store = EvidenceStore(tmp_path)
    relative = store.put(found, content)
    assert relative == f"{found.sha256[:2]}/{found.sha256}"
    assert (tmp_path / relative).read_bytes() == content
    assert store.put(found, content) == relative  # idempotent
    assert [p.name for p in (tmp_path / found.sha256[:2]).iterdir()] == [found.sha256]
    assert store.open_bytes(found.sha256) == content
    assert store.verify(found.sha256) is None

    tampered = content[:-10] + b"0123456789"
    (tmp_path / relative).write_bytes(tampered)
    assert store.verify(found.sha256) == (
        f"content changed: now {hashlib.sha256(tampered).hexdigest()}"
    )
    assert store.put(found, content) == relative  # the good bytes come back
    assert store.verify(found.sha256) is None

    (tmp_path / relative).unlink()
    assert store.verify(found.sha256) == "missing"
    with pytest.raises(NotFoundError):
        store.open_bytes(found.sha256)


def test_store_refuses_bad_hashes_and_mismatched_content(tmp_path: Path):
    store = EvidenceStore(tmp_path)
    with pytest.raises(InputError):
        store.open_bytes("../../etc/passwd")
    with pytest.raises(InputError):
        store.verify("A" * 64)
    found = inspect(PDF, "a.pdf", "document")
    with pytest.raises(ValueError):
        store.put(found, PDF + b"more")


def test_database_store_writes_nothing(tmp_path: Path):
    found: Inspected = inspect(PDF, "决定书.pdf", "document")
    assert EvidenceStore(tmp_path, storage="database").put(found, PDF) is None
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(InputError):
        EvidenceStore(tmp_path, storage="s3")
