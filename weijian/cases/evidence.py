"""Inspecting an uploaded evidence file (a site photo or a document) before it joins a case.

Everything about the file is decided from its bytes, never from what the client claims: the type
is sniffed from magic bytes (``filetype``; the Office 97–2003 container read with ``olefile``, a
zip by its members), a photo must be an image Pillow can open, verify and decode, and a
document must be one of the formats a case file may hold (PDF, Word/Excel old and new, OFD, or a
scanned image). Executables, scripts, HTML/SVG and unknown binaries are refused with a message
that says what the file looks like and what to upload instead.

From a photo's EXIF come the time it was taken and where (WGS84 longitude/latitude), so that
:func:`gps_check` can flag a photo taken far from the case location. :class:`EvidenceStore`
keeps the bytes content-addressed on disk (or leaves them to a ``bytea`` column).

Plain Python: no HTTP, no database. Errors are :mod:`weijian.errors` exceptions.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import io
import math
import os
import re
import tempfile
import time
import unicodedata
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import filetype
import olefile
from PIL import ExifTags, Image, ImageOps
from pyproj import Geod

from weijian.cases.clock import made_at_checked
from weijian.cases.workflow import EVIDENCE_KINDS
from weijian.errors import InputError, NotFoundError, TooLarge
from weijian.gis.points import point_to_cgcs2000

CHUNK = 1 << 20
MAX_FILENAME_CHARS = 200
STORAGES = ("disk", "database")
#: the store's folder of files still arriving (streamed uploads), beside the stored ones so
#: that the final rename never crosses a file system; a dot-folder, left out of backups
INCOMING = ".incoming"
#: a file left arriving this long (a server stopped mid-upload) is swept away
STALE_INCOMING_S = 24 * 3600

JPEG = "image/jpeg"
PNG = "image/png"
WEBP = "image/webp"
TIFF = "image/tiff"
PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOC = "application/msword"
XLS = "application/vnd.ms-excel"
OFD = "application/ofd"
MACROS_OLE = "application/x-office-macros"  # a .doc/.xls carrying VBA macros

#: what a phone or camera writes and every browser shows. HEIC (iPhone, Huawei) is left out:
#: Pillow cannot open it without the pillow-heif plugin; AVIF only opens in recent Pillow builds.
PHOTO_TYPES: frozenset[str] = frozenset({JPEG, PNG, WEBP})
#: images a scanner produces, accepted as documents (scanned notices, 扫描件)
DOCUMENT_IMAGE_TYPES: frozenset[str] = PHOTO_TYPES | {TIFF}
DOCUMENT_TYPES: frozenset[str] = frozenset({PDF, DOCX, XLSX, DOC, XLS, OFD}) | DOCUMENT_IMAGE_TYPES

#: Pillow's format name for each image type we decode
PIL_FORMATS = {JPEG: "JPEG", PNG: "PNG", WEBP: "WEBP", TIFF: "TIFF"}

#: how a sniffed type is named to users ("… it looks like a PDF document")
DESCRIPTIONS = {
    JPEG: "a JPEG image",
    PNG: "a PNG image",
    WEBP: "a WebP image",
    TIFF: "a TIFF image",
    "image/heic": "an HEIC/HEIF photo (the iPhone/Huawei default format)",
    "image/avif": "an AVIF image",
    "image/gif": "a GIF image",
    "image/bmp": "a BMP image",
    "image/svg+xml": "an SVG drawing (it can carry scripts)",
    "video/mp4": "a video",
    "video/quicktime": "a video",
    PDF: "a PDF document",
    DOCX: "a Word document (.docx)",
    XLSX: "an Excel workbook (.xlsx)",
    DOC: "a Word document (.doc)",
    XLS: "an Excel workbook (.xls)",
    OFD: "an OFD document (版式文件)",
    "application/vnd.ms-word.document.macroEnabled.12": "a Word document with macros (.docm)",
    "application/vnd.ms-excel.sheet.macroEnabled.12": "an Excel workbook with macros (.xlsm)",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": (
        "a PowerPoint presentation"
    ),
    "application/vnd.ms-powerpoint": "a PowerPoint presentation",
    "application/x-encrypted-office": "a password-protected Office file",
    MACROS_OLE: "an Office file with VBA macros (宏)",
    "application/x-ole-storage": "an OLE compound file that is neither Word nor Excel "
    "(e.g. an .msi installer or an Outlook .msg)",
    "application/vnd.android.package-archive": "an Android app (.apk)",
    "application/java-archive": "a Java archive (.jar)",
    "application/zip": "a zip archive (not a Word, Excel or OFD file, or a damaged one)",
    "application/x-rar-compressed": "a RAR archive",
    "application/x-7z-compressed": "a 7-Zip archive",
    "application/gzip": "a gzip archive",
    "application/x-msdownload": "a Windows program (.exe/.dll)",
    "application/x-executable": "a Linux program (ELF)",
    "text/x-script": "a script",
    "text/html": "a web page (HTML)",
    "application/xml": "an XML file",
    "text/plain": "a plain text file",
}
#: the same, in Chinese (“……看起来是 PDF 文档”)
DESCRIPTIONS_ZH = {
    JPEG: "JPEG 图片",
    PNG: "PNG 图片",
    WEBP: "WebP 图片",
    TIFF: "TIFF 图片",
    "image/heic": "HEIC/HEIF 照片（苹果、华为手机的默认格式）",
    "image/avif": "AVIF 图片",
    "image/gif": "GIF 图片",
    "image/bmp": "BMP 图片",
    "image/svg+xml": "SVG 矢量图（可能含有脚本）",
    "video/mp4": "视频",
    "video/quicktime": "视频",
    PDF: "PDF 文档",
    DOCX: "Word 文档（.docx）",
    XLSX: "Excel 工作簿（.xlsx）",
    DOC: "Word 文档（.doc）",
    XLS: "Excel 工作簿（.xls）",
    OFD: "OFD 版式文件",
    "application/vnd.ms-word.document.macroEnabled.12": "带宏的 Word 文档（.docm）",
    "application/vnd.ms-excel.sheet.macroEnabled.12": "带宏的 Excel 工作簿（.xlsm）",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": (
        "PowerPoint 演示文稿"
    ),
    "application/vnd.ms-powerpoint": "PowerPoint 演示文稿",
    "application/x-encrypted-office": "设有密码的 Office 文件",
    MACROS_OLE: "带 VBA 宏的 Office 文件",
    "application/x-ole-storage": "既不是 Word 也不是 Excel 的 OLE 复合文件"
    "（如 .msi 安装包或 Outlook .msg 邮件）",
    "application/vnd.android.package-archive": "安卓应用安装包（.apk）",
    "application/java-archive": "Java 程序包（.jar）",
    "application/zip": "zip 压缩包（不是 Word、Excel 或 OFD 文件，或文件已损坏）",
    "application/x-rar-compressed": "RAR 压缩包",
    "application/x-7z-compressed": "7-Zip 压缩包",
    "application/gzip": "gzip 压缩包",
    "application/x-msdownload": "Windows 程序（.exe/.dll）",
    "application/x-executable": "Linux 程序（ELF）",
    "text/x-script": "脚本",
    "text/html": "网页（HTML）",
    "application/xml": "XML 文件",
    "text/plain": "纯文本文件",
}

#: what ``filetype`` reports for a zip: the members decide what it really is (OOXML with or
#: without macros, OFD, an app)
ZIP_CONTAINERS = frozenset(
    {
        "application/zip",
        "application/epub+zip",
        DOCX,
        XLSX,
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/vnd.oasis.opendocument.presentation",
    }
)
#: what ``filetype`` reports for an OLE compound file: its streams decide (``olefile``)
OLE_CONTAINERS = frozenset({DOC, XLS, "application/vnd.ms-powerpoint"})
#: ``filetype``'s names for formats Pillow reads as one we accept
SAME_AS = {"image/apng": PNG}
HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<script", b"<iframe", b"<meta")
EXIF_DATE_FORMATS = ("%Y:%m:%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y:%m:%d %H:%M")
ROTATED_ORIENTATIONS = {5, 6, 7, 8}
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
WINDOWS_RESERVED = re.compile(r'[<>:"|?*]')

_GEOD = Geod(ellps="GRS80")


@dataclass(frozen=True)
class Inspected:
    """What :func:`inspect` learnt of an uploaded file."""

    sha256: str  # hex digest of the whole content
    size: int  # bytes
    media_type: str  # sniffed from the bytes, never taken from the client
    kind: str  # "photo" | "document"
    filename: str  # sanitised basename, Chinese characters kept
    width: int | None  # as displayed (EXIF orientation applied); None for non-images
    height: int | None
    taken_at: datetime | None  # EXIF DateTimeOriginal, naive local time as the camera wrote it
    gps: tuple[float, float] | None  # (lon, lat) WGS84 decimal degrees from EXIF


@dataclass(frozen=True)
class Device:
    """When and where the phone says a photo was taken: the field app compresses photos on
    the device, which drops their EXIF, and sends these beside them. A time with its zone (a
    naive one is Beijing time); a point in ``crs`` (CGCS2000 once :meth:`checked`)."""

    taken_at: datetime | None = None
    lon: float | None = None
    lat: float | None = None
    crs: str = "wgs84"

    def checked(self, now: datetime) -> Device:
        """Not taken in the future (beyond the clock skew); the point in China, in CGCS2000."""
        taken = (
            made_at_checked(self.taken_at, now, timedelta(days=36500)) if self.taken_at else None
        )
        if (self.lon is None) != (self.lat is None):
            raise InputError(
                "拍摄位置须同时提供经度（lon）和纬度（lat）",
                code="evidence.device_point_incomplete",
                detail="give both lon and lat of where the photo was taken, or neither",
            )
        if self.lon is None or self.lat is None:
            return Device(taken)
        lon, lat, _ = point_to_cgcs2000(float(self.lon), float(self.lat), self.crs)
        return Device(taken, lon, lat, "cgcs2000")

    def located(self, inspected: Inspected) -> Inspected:
        """The photo with the device's point where its EXIF has none (for the distance check)."""
        if inspected.gps is None and self.lon is not None and self.lat is not None:
            return replace(inspected, gps=(self.lon, self.lat))
        return inspected

    def as_json(self) -> dict | None:
        if self.taken_at is None and self.lon is None:
            return None
        return {"taken_at": self.taken_at, "lon": self.lon, "lat": self.lat}


# ----------------------------------------------------------------------------------- reading


def _megabytes(n: int) -> str:
    value = n / (1 << 20)
    return f"{value:.0f}" if value == round(value) else f"{value:.1f}"


def read_limited(stream: BinaryIO, max_bytes: int, *, filename: str | None = None) -> bytes:
    """Read a binary file-like object to its end, in 1 MiB chunks; raise :class:`TooLarge` as
    soon as more than ``max_bytes`` have arrived. Never holds more than ``max_bytes + 1`` bytes:
    the last read asks for just enough to tell "exactly at the limit" from "over it"."""
    if max_bytes < 0:
        raise ValueError(f"max_bytes must be ≥ 0, got {max_bytes}")
    buffer = bytearray()
    while True:
        chunk = stream.read(min(CHUNK, max_bytes + 1 - len(buffer)))
        if not chunk:
            return bytes(buffer)
        buffer += chunk
        if len(buffer) > max_bytes:
            limit = _megabytes(max_bytes)
            name = filename or "the file"
            raise TooLarge(
                f"{_zh_name(filename)}超过 {limit} MB 上限，请压缩照片（降低分辨率）后重新上传，"
                "文书可分成多个文件上传",
                code="evidence.too_large",
                detail=f"{name} is larger than the {limit} MB limit (文件超过 {limit} MB 上限).",
                hint="compress the photo (send it at a lower resolution, 压缩照片) or split the "
                "document into several files (分成多个文件上传)",
            )


# ---------------------------------------------------------------------------------- sniffing


def _sniff_zip(content: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return "application/zip"
    macros = any(name.lower().endswith("vbaproject.bin") for name in names)
    if "[Content_Types].xml" in names:
        folders = {name.split("/", 1)[0] for name in names if "/" in name}
        if "word" in folders:
            return "application/vnd.ms-word.document.macroEnabled.12" if macros else DOCX
        if "xl" in folders:
            return "application/vnd.ms-excel.sheet.macroEnabled.12" if macros else XLSX
        if "ppt" in folders:
            return "application/vnd.openxmlformats-officedocument.presentationml.presentation"
    if "OFD.xml" in names:
        return OFD
    if "AndroidManifest.xml" in names:
        return "application/vnd.android.package-archive"
    if "META-INF/MANIFEST.MF" in names:
        return "application/java-archive"
    return "application/zip"


def _sniff_ole(content: bytes) -> str:
    """What an OLE compound file (the Office 97–2003 container) holds, by the names of its
    streams and storages: Word, Excel, PowerPoint, an encrypted OOXML package, VBA macros."""
    try:
        with olefile.OleFileIO(io.BytesIO(content)) as compound:
            paths = compound.listdir(streams=True, storages=True)
    except Exception:  # olefile raises many kinds on damaged input
        return "application/x-ole-storage"
    entries = {path[-1] for path in paths}
    if "EncryptedPackage" in entries:
        return "application/x-encrypted-office"
    if entries & {"Macros", "_VBA_PROJECT_CUR"}:
        return MACROS_OLE
    if "WordDocument" in entries:
        return DOC
    if entries & {"Workbook", "Book"}:
        return XLS
    if "PowerPoint Document" in entries:
        return "application/vnd.ms-powerpoint"
    return "application/x-ole-storage"


def _sniff_text(content: bytes) -> str | None:
    head = content[:4096]
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    if text.startswith(b"<"):
        if text.startswith(HTML_STARTS) or b"<html" in text[:1024]:
            return "text/html"
        if b"<svg" in text:
            return "image/svg+xml"
        if text.startswith(b"<?xml"):
            return "application/xml"
    if head.startswith(b"#!"):
        return "text/x-script"
    if b"\x00" in head:
        return None
    for encoding in ("utf-8", "gb18030"):
        try:  # not final: a character may be cut at the 4 KiB boundary
            codecs.getincrementaldecoder(encoding)().decode(head, final=False)
        except UnicodeDecodeError:
            continue
        return "text/plain"
    return None


def sniff(content: bytes) -> str | None:
    """The media type of ``content`` by its magic bytes — also for types we refuse, so that a
    refusal can say what the file looks like; ``None`` when nothing is recognised (or the
    content is empty). ``filetype`` names the format; the containers are then opened to see
    what they hold (an OLE compound file with ``olefile``, a zip by its members); text is told
    apart by its first characters."""
    if not content:
        return None
    found = filetype.guess(content)
    if olefile.isOleFile(data=content) or (found and found.mime in OLE_CONTAINERS):
        return _sniff_ole(content)
    if found is None:
        return _sniff_text(content)
    if found.mime in ZIP_CONTAINERS:
        return _sniff_zip(content)
    return SAME_AS.get(found.mime, found.mime)


def _looks_like(media_type: str | None) -> str:
    if media_type is None:
        return "its type is not recognised (未知格式)"
    return f"it looks like {DESCRIPTIONS.get(media_type, media_type)}"


def _looks_like_zh(media_type: str | None) -> str:
    if media_type is None:
        return "无法识别其格式"
    return f"它看起来是{DESCRIPTIONS_ZH.get(media_type, media_type)}"


def _zh_name(filename: str | None) -> str:
    """A file as Chinese messages name it: “现场.jpg”, or 该文件 when it has no name."""
    return f"“{filename}”" if filename else "该文件"


# ---------------------------------------------------------------------------------- filenames


def clean_filename(filename: str | None, media_type: str) -> str:
    """The basename of a client's file name, safe to store and to show: no folders (either
    slash), no control or bidi-override characters, no characters Windows forbids, no leading
    dots; Chinese and other letters kept. Falls back to ``evidence`` when nothing is left."""
    name = unicodedata.normalize("NFC", filename or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if not unicodedata.category(ch).startswith("C"))
    name = WINDOWS_RESERVED.sub("_", name).strip(" .")
    if len(name) > MAX_FILENAME_CHARS:
        stem, dot, suffix = name.rpartition(".")
        if dot and 0 < len(suffix) <= 10:
            name = stem[: MAX_FILENAME_CHARS - len(suffix) - 1] + "." + suffix
        else:
            name = name[:MAX_FILENAME_CHARS]
    if not name:
        suffix = {JPEG: ".jpg", PNG: ".png", WEBP: ".webp", TIFF: ".tif", PDF: ".pdf"}.get(
            media_type, ""
        )
        name = f"evidence{suffix}"
    return name


# --------------------------------------------------------------------------------------- EXIF


def _exif_of(image: Image.Image | Image.Exif) -> Image.Exif | None:
    if isinstance(image, Image.Exif):
        return image
    try:
        return image.getexif()
    except Exception:
        return None


def _ref(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("ascii", "ignore")
    return str(value or "").strip("\x00 ").upper()[:1]


def _degrees(value: Any) -> float | None:
    """Degrees from EXIF's (degrees, minutes, seconds) rationals — or fewer parts, as some
    writers store decimal degrees or decimal minutes."""
    try:
        parts = [float(v) for v in value] if isinstance(value, tuple | list) else [float(value)]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if not 1 <= len(parts) <= 3 or not all(math.isfinite(p) and p >= 0 for p in parts):
        return None
    degrees, minutes, seconds = (*parts, 0.0, 0.0)[:3]
    return degrees + minutes / 60 + seconds / 3600


def exif_gps(image: Image.Image | Image.Exif) -> tuple[float, float] | None:
    """``(lon, lat)`` in WGS84 decimal degrees from the EXIF GPS IFD of a Pillow image (or of an
    ``Image.Exif``), with the S and W references applied. ``None`` when there is no GPS block or
    it is unusable: a missing or unreadable coordinate, a "void" fix (GPSStatus V), a zero
    coordinate (what phones write without a fix), or a value out of range."""
    exif = _exif_of(image)
    if exif is None:
        return None
    try:
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    except Exception:
        return None
    if not gps or _ref(gps.get(ExifTags.GPS.GPSStatus)) == "V":
        return None
    lat = _degrees(gps.get(ExifTags.GPS.GPSLatitude))
    lon = _degrees(gps.get(ExifTags.GPS.GPSLongitude))
    if lat is None or lon is None:
        return None
    lat_ref = _ref(gps.get(ExifTags.GPS.GPSLatitudeRef)) or "N"
    lon_ref = _ref(gps.get(ExifTags.GPS.GPSLongitudeRef)) or "E"
    if lat_ref not in "NS" or lon_ref not in "EW":
        return None
    lat = -lat if lat_ref == "S" else lat
    lon = -lon if lon_ref == "W" else lon
    if lat == 0 or lon == 0 or abs(lat) > 90 or abs(lon) > 180:
        return None
    return (lon, lat)


def exif_taken_at(image: Image.Image | Image.Exif) -> datetime | None:
    """EXIF DateTimeOriginal as written by the camera (naive local time), ``None`` if absent or
    not a real date (``0000:00:00 00:00:00``)."""
    exif = _exif_of(image)
    if exif is None:
        return None
    tag = ExifTags.Base.DateTimeOriginal
    try:
        value = exif.get_ifd(ExifTags.IFD.Exif).get(tag) or exif.get(tag)
    except Exception:
        return None
    if isinstance(value, bytes):
        value = value.decode("ascii", "ignore")
    if not isinstance(value, str):
        return None
    value = value.strip("\x00 ")
    for fmt in EXIF_DATE_FORMATS:
        try:
            return datetime.strptime(value[:19], fmt)
        except ValueError:
            continue
    return None


# ---------------------------------------------------------------------------------- inspecting


@dataclass(frozen=True)
class _ImageFacts:
    width: int
    height: int
    taken_at: datetime | None
    gps: tuple[float, float] | None


def _unreadable(name: str, kind: str, what: str) -> str:
    """The English account of an upload that is no usable photo or document."""
    label = "photo (照片)" if kind == "photo" else "document (文件)"
    return f"{name} is not a readable {label}: {what}."


def _read_image(content: bytes, media_type: str, name: str, kind: str, zh_name: str) -> _ImageFacts:
    """Open, verify and decode an image with Pillow, restricted to its sniffed format; read its
    size and EXIF. Verify alone misses a truncated JPEG, so the image is also decoded (at 1/8
    scale for JPEG, which still reads every byte of the stream)."""
    formats = [PIL_FORMATS[media_type]]
    hint = (
        "upload the original photo again from the phone or camera (从手机重新上传原图)"
        if kind == "photo"
        else "scan or export the document again and upload the new file"
    )
    advice = (
        "请从手机或相机重新上传原图" if kind == "photo" else "请重新扫描或导出该文书后上传新文件"
    )
    try:
        with Image.open(io.BytesIO(content), formats=formats) as probe:
            probe.verify()
        with Image.open(io.BytesIO(content), formats=formats) as image:
            width, height = image.size
            image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
            image.load()
            exif = image.getexif()
            orientation = exif.get(ExifTags.Base.Orientation)
            gps = exif_gps(exif)
            taken_at = exif_taken_at(exif)
    except Image.DecompressionBombError as exc:
        raise InputError(
            f"{zh_name}像素过多，无法安全处理，请把图片缩小（如缩到 4000 × 3000）后重新上传",
            code="evidence.too_many_pixels",
            detail=f"{name} has too many pixels to be processed safely ({exc}).",
            hint="resize the image (e.g. to 4000 × 3000) and upload it again",
        ) from exc
    except Exception as exc:  # Pillow raises many kinds on damaged input
        what = f"the {formats[0]} data is truncated or damaged ({exc})"
        label = "照片" if kind == "photo" else "文件"
        raise InputError(
            f"{zh_name}不是可读取的{label}：其中的 {formats[0]} 数据不完整或已损坏。{advice}",
            code="evidence.damaged",
            detail=_unreadable(name, kind, what),
            hint=hint,
        ) from exc
    if orientation in ROTATED_ORIENTATIONS:
        width, height = height, width
    return _ImageFacts(width, height, taken_at, gps)


def inspect(content: bytes, filename: str, kind: str) -> Inspected:
    """Inspect uploaded evidence. ``kind`` is ``"photo"`` or ``"document"``.

    The type is sniffed from the content. A photo must be a JPEG, PNG or WebP that Pillow opens,
    verifies and decodes; a document must be one of :data:`DOCUMENT_TYPES` (images among them
    are checked the same way). Anything else — empty, corrupt, an executable, a script, HTML, an
    unknown binary — raises :class:`InputError` saying what the file looks like and what to
    upload instead."""
    if kind not in EVIDENCE_KINDS:
        raise InputError(
            f"证据种类“{kind}”无效，应为 photo（照片）或 document（文书）",
            code="evidence.kind_unknown",
            detail=f"unknown evidence kind {kind!r}",
            hint=f"use one of: {', '.join(EVIDENCE_KINDS)}",
        )
    named = clean_filename(filename, "") if (filename or "").strip() else None
    shown, zh_name = named or "the file", _zh_name(named)
    if not content:
        raise InputError(
            f"{zh_name}是空文件（0 字节），可能是上传中断，请重新选择文件上传",
            code="evidence.empty",
            detail=f"{shown} is empty (0 bytes, 空文件).",
            hint="the upload was interrupted or the file is empty: choose the file again",
        )
    media_type = sniff(content)
    allowed = PHOTO_TYPES if kind == "photo" else DOCUMENT_TYPES
    if media_type not in allowed:
        raise _refusal(shown, zh_name, kind, media_type)
    facts = None
    if media_type in DOCUMENT_IMAGE_TYPES:
        facts = _read_image(content, media_type, shown, kind, zh_name)
    return Inspected(
        sha256=hashlib.sha256(content).hexdigest(),
        size=len(content),
        media_type=media_type,
        kind=kind,
        filename=clean_filename(filename, media_type),
        width=facts.width if facts else None,
        height=facts.height if facts else None,
        taken_at=facts.taken_at if facts else None,
        gps=facts.gps if facts else None,
    )


def _refusal(name: str, zh_name: str, kind: str, media_type: str | None) -> InputError:
    looks, looks_zh = _looks_like(media_type), _looks_like_zh(media_type)
    if kind == "photo":
        if media_type == "image/heic":
            hint = (
                "set the camera to “Most Compatible” (相机设置 → 格式 → 兼容性最佳) or share the "
                "photo as JPEG, then upload it again"
            )
            advice = (
                "请把相机设置为“兼容性最佳”（相机设置 → 格式 → 兼容性最佳），"
                "或以 JPEG 格式分享照片后重新上传"
            )
        elif media_type in DOCUMENT_TYPES:
            hint = "upload it as a document (kind=document); a photo must be JPEG, PNG or WebP"
            advice = "请作为文书（kind=document）上传；照片须为 JPEG、PNG 或 WebP 格式"
        else:
            hint = "upload the photo itself as JPEG, PNG or WebP (JPG/PNG/WebP 格式照片)"
            advice = "请上传 JPEG、PNG 或 WebP 格式的照片本身"
        return InputError(
            f"{zh_name}不是可接受的照片：{looks_zh}。{advice}",
            code="evidence.format_unsupported",
            detail=_unreadable(name, kind, looks),
            hint=hint,
        )
    if media_type == "application/x-encrypted-office":
        hint = "remove the password (另存为无密码文件) or print it to PDF, then upload again"
        advice = "请去掉密码（另存为无密码文件）或打印为 PDF 后重新上传"
    elif media_type and ("macroEnabled" in media_type or media_type == MACROS_OLE):
        hint = "save it without macros as .docx/.xlsx, or print it to PDF (打印为PDF)"
        advice = "请另存为不带宏的 .docx/.xlsx，或打印为 PDF 后重新上传"
    else:
        hint = (
            "upload a PDF, Word (.doc/.docx), Excel (.xls/.xlsx) or OFD file, or a scan as "
            "JPEG, PNG, WebP or TIFF (扫描件)"
        )
        advice = (
            "请上传 PDF、Word（.doc/.docx）、Excel（.xls/.xlsx）或 OFD 文件，"
            "扫描件可用 JPEG、PNG、WebP 或 TIFF 格式"
        )
    return InputError(
        f"{zh_name}的文件格式不支持：{looks_zh}。{advice}",
        code="evidence.format_unsupported",
        detail=f"{name} is not an accepted document (文件格式不支持): {looks}.",
        hint=hint,
    )


# -------------------------------------------------------------------------------- thumbnails

#: the widths a thumbnail may be asked at, in pixels
THUMB_WIDTHS = range(32, 1601)


def thumbnail(content: bytes, media_type: str, width: int) -> bytes:
    """A JPEG of an image at most ``width`` pixels wide (and as high as its proportions make
    it, at most four times the width), upright as its EXIF orientation says; an image already
    that small is re-encoded at its size. Only images (photos, scans) have one."""
    if media_type not in PIL_FORMATS:
        raise InputError(
            "该文件不是图片，没有缩略图",
            code="evidence.no_thumbnail",
            detail=f"a {DESCRIPTIONS.get(media_type, media_type)} has no thumbnail",
            hint="download the file itself, without ?thumb",
        )
    if width not in THUMB_WIDTHS:
        raise InputError(
            f"缩略图宽度应在 {THUMB_WIDTHS.start}–{THUMB_WIDTHS.stop - 1} 像素之间",
            code="evidence.thumb_width",
            detail=f"thumb={width} is outside {THUMB_WIDTHS.start}..{THUMB_WIDTHS.stop - 1}",
            hint="ask e.g. ?thumb=320",
        )
    with Image.open(io.BytesIO(content), formats=[PIL_FORMATS[media_type]]) as image:
        turned = image.getexif().get(ExifTags.Base.Orientation) in ROTATED_ORIENTATIONS
        shown = image.size[1] if turned else image.size[0]
        scale = min(1.0, width / max(1, shown))
        # a JPEG is decoded at the smallest fraction of its size still as large as needed
        image.draft("RGB", (math.ceil(image.size[0] * scale), math.ceil(image.size[1] * scale)))
        upright = ImageOps.exif_transpose(image)
        upright.thumbnail((width, width * 4), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        upright.convert("RGB").save(out, "JPEG", quality=82, optimize=True)
    return out.getvalue()


# --------------------------------------------------------------------------------- locations


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Geodesic distance in metres between two lon/lat points on the GRS80 ellipsoid (that of
    CGCS2000; WGS84 differs from it by less than a millimetre here)."""
    _, _, dist = _GEOD.inv(lon1, lat1, lon2, lat2)
    return float(dist)


def gps_check(
    inspected: Inspected, case_lon: float, case_lat: float, limit_m: float = 100.0
) -> dict[str, Any]:
    """Compare where a photo was taken with where the case is. ``flagged`` when the photo's GPS
    is farther than ``limit_m``; a photo without GPS is reported, not flagged.

    Returns ``{"distance_m": float | None (0.1 m), "flagged": bool, "reason": str | None}``."""
    if not (
        math.isfinite(case_lon)
        and math.isfinite(case_lat)
        and abs(case_lon) <= 180
        and abs(case_lat) <= 90
    ):
        raise InputError(
            f"案件位置（{case_lon}，{case_lat}）不是有效的经纬度，请以 WGS84/CGCS2000 的度数给出",
            code="case.location_invalid",
            detail=f"the case location ({case_lon}, {case_lat}) is not a longitude/latitude",
            hint="give the case location in WGS84/CGCS2000 degrees (lon, lat)",
        )
    if inspected.gps is None:
        return {"distance_m": None, "flagged": False, "reason": "照片无GPS信息"}
    distance = distance_m(*inspected.gps, case_lon, case_lat)
    flagged = distance > limit_m
    reason = f"照片拍摄位置距案件位置 {distance:.1f} 米，超过 {limit_m:g} 米" if flagged else None
    return {"distance_m": round(distance, 1), "flagged": flagged, "reason": reason}


# ------------------------------------------------------------------------------------- storage


class EvidenceStore:
    """Where evidence bytes live. With ``storage="disk"``, content-addressed files under
    ``root`` at ``<sha[:2]>/<sha>``, written atomically (temporary file, fsync, ``os.replace``)
    and private to the service user; with ``storage="database"``, nowhere on disk — the caller
    keeps the bytes in a ``bytea`` column."""

    def __init__(self, root: Path, storage: str = "disk"):
        if storage not in STORAGES:
            raise InputError(
                f"证据存储方式“{storage}”无效，应为 disk（磁盘）或 database（数据库），"
                "请修改 WEIJIAN_EVIDENCE_STORAGE 的设置",
                code="evidence.storage_unknown",
                detail=f"unknown evidence storage {storage!r}",
                hint=f"use one of: {', '.join(STORAGES)}",
            )
        self.root = Path(root)
        self.storage = storage

    @staticmethod
    def relative_path(sha256: str) -> str:
        """``<sha[:2]>/<sha>``; refuses anything but 64 lowercase hex digits (no path tricks)."""
        if not isinstance(sha256, str) or not SHA256_HEX.fullmatch(sha256):
            raise InputError(
                f"“{sha256}”不是有效的 sha256 值，请给出文件的 64 位小写十六进制摘要",
                code="evidence.sha256_invalid",
                detail=f"{sha256!r} is not a sha256",
                hint="give the 64 lowercase hex digits of the file",
            )
        return f"{sha256[:2]}/{sha256}"

    def _disk_only(self) -> None:
        if self.storage != "disk":
            raise RuntimeError("evidence is stored in the database, not on disk")

    def put(self, inspected: Inspected, content: bytes) -> str | None:
        """Store ``content``; return its path relative to ``root`` (``None`` for database
        storage). Idempotent: a file already there with the right hash is left alone; one whose
        content no longer matches is replaced with the good bytes."""
        digest = hashlib.sha256(content).hexdigest()
        if digest != inspected.sha256:
            raise ValueError(f"content hashes to {digest}, not to {inspected.sha256}")
        if self.storage == "database":
            return None
        relative = self.relative_path(digest)
        target = self.root / relative
        if target.is_file() and self.verify(digest) is None:
            return relative
        write_durably(target, content)
        return relative

    def open_bytes(self, sha256: str) -> bytes:
        """The stored bytes of ``sha256``; :class:`NotFoundError` if there is no such file."""
        self._disk_only()
        path = self.root / self.relative_path(sha256)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise self._missing(sha256) from None

    def _missing(self, sha256: str) -> NotFoundError:
        return NotFoundError(
            f"证据文件 {sha256} 在 {self.root} 中缺失，请从备份恢复证据文件夹，或重新上传该文件",
            code="evidence.file_missing",
            detail=f"evidence file {sha256} is missing from {self.root}",
            hint="restore the evidence folder from backup, or upload the file again",
        )

    def on_disk(self) -> EvidenceStore:
        """This store's folder as a store on disk: where a file too large for a ``bytea``
        (recorder footage) lives whatever ``WEIJIAN_EVIDENCE_STORAGE`` says."""
        return self if self.storage == "disk" else EvidenceStore(self.root, "disk")

    def file_path(self, sha256: str) -> Path:
        """Where the file of ``sha256`` lies, to be read in pieces (a video played back by
        ranges); :class:`NotFoundError` if there is no such file."""
        self._disk_only()
        path = self.root / self.relative_path(sha256)
        if not path.is_file():
            raise self._missing(sha256)
        return path

    def put_stream(
        self,
        chunks: Iterable[bytes],
        max_bytes: int,
        check: Callable[[Path], None] | None = None,
    ) -> Stored:
        """Store a file arriving in pieces, never holding more than one piece: written to a
        temporary file in :data:`INCOMING` while it is hashed, refused with :class:`TooLarge`
        (and deleted) as soon as more than ``max_bytes`` have arrived, synced, given to
        ``check`` (which may refuse it by raising: it is deleted then), and renamed to
        ``<sha[:2]>/<sha>``. Idempotent as :meth:`put`: a good file already there is kept."""
        self._disk_only()
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be ≥ 0, got {max_bytes}")
        incoming = self.root / INCOMING
        incoming.mkdir(parents=True, exist_ok=True)
        self._sweep(incoming)
        fd, name = tempfile.mkstemp(dir=incoming, prefix=".stream-", suffix=".tmp")
        temporary = Path(name)
        try:
            digest, size = hashlib.sha256(), 0
            with os.fdopen(fd, "wb") as handle:
                for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise _stream_too_large(max_bytes)
                    digest.update(chunk)
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            if check is not None:
                check(temporary)
            sha = digest.hexdigest()
            relative = self.relative_path(sha)
            target = self.root / relative
            if target.is_file() and self.verify(sha) is None:
                temporary.unlink()
                return Stored(sha, size, relative)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise
        _fsync_folder(target.parent)
        _fsync_folder(incoming)
        return Stored(sha, size, relative)

    @staticmethod
    def _sweep(incoming: Path) -> None:
        """Files a stopped server left arriving, untouched for :data:`STALE_INCOMING_S`."""
        stale = time.time() - STALE_INCOMING_S
        with contextlib.suppress(OSError), os.scandir(incoming) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    if entry.is_file() and entry.stat().st_mtime < stale:
                        os.unlink(entry.path)

    def verify(self, sha256: str) -> str | None:
        """``None`` when the file exists and still hashes to ``sha256``; otherwise a short
        problem text: ``"missing"`` or ``"content changed: now <hash>"``."""
        self._disk_only()
        path = self.root / self.relative_path(sha256)
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as handle:
                while chunk := handle.read(CHUNK):
                    digest.update(chunk)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return "missing"
        actual = digest.hexdigest()
        return None if actual == sha256 else f"content changed: now {actual}"


class Stored(NamedTuple):
    """A file :meth:`EvidenceStore.put_stream` stored: its hash, size and path in the store."""

    sha256: str
    size: int
    path: str


def _stream_too_large(max_bytes: int) -> TooLarge:
    limit = _megabytes(max_bytes)
    return TooLarge(
        f"文件超过 {limit} MB 上限，未予保存",
        code="evidence.too_large",
        detail=f"the file is larger than the {limit} MB limit; nothing was kept",
        hint=f"send at most {limit} MB",
    )


def write_durably(target: Path, content: bytes) -> None:
    """``content`` as the file ``target``, whole or not at all, and on disk before this returns
    (a temporary file flushed and synced, renamed over ``target``, the rename synced)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name[:8]}-", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _fsync_folder(target.parent)


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable (POSIX); a no-op where folders cannot be opened (Windows)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
