"""Coordinate reference systems: naming them, reading ``.prj``, guessing only when the coordinates
leave no doubt, and moving geometries to and from storage (CGCS2000 geographic, EPSG:4490).

GCJ-02 and BD-09 are not real datums PROJ knows: they are handled by
:mod:`weijian.gis.chinese_datums` and appear here as a :class:`SourceCRS` with ``web_datum`` set.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyproj
import shapely

from weijian.errors import InputError

STORAGE_EPSG = 4490
WEB_DATUMS = ("gcj02", "bd09")
# rough extent of China (incl. the South China Sea islands' latitudes) in degrees
CHINA_LON = (73.0, 136.0)
CHINA_LAT = (3.0, 54.0)
CHINA_BOX = (CHINA_LON[0], CHINA_LAT[0], CHINA_LON[1], CHINA_LAT[1])
# EPSG code ranges of the CGCS2000 Gauss-Krüger families
GK3_PREFIXED = range(4513, 4534)  # zones 25…45, x carries the zone number
GK3_PLAIN = range(4534, 4555)  # CM 75E…135E
GK6_PREFIXED = range(4491, 4502)  # zones 13…23
GK6_PLAIN = range(4502, 4513)  # CM 75E…135E
LEGACY_DATUMS = {4610: "Xian 1980 (西安80)", 4214: "Beijing 1954 (北京54)"}

ALIASES = {
    "wgs84": 4326,
    "wgs-84": 4326,
    "cgcs2000": 4490,
    "cgcs-2000": 4490,
    "xian80": 4610,
    "beijing54": 4214,
}


@dataclass(frozen=True)
class SourceCRS:
    """The CRS a file's coordinates are in, and how we know it."""

    label: str
    origin: str  # "option" | "prj" | "file" | "assumed"
    crs: pyproj.CRS | None = None  # None for a web datum
    web_datum: str | None = None  # "gcj02" | "bd09"
    note: str | None = None
    epsg: int | None = None

    @property
    def is_geographic(self) -> bool:
        return self.web_datum is not None or bool(self.crs and self.crs.is_geographic)

    def as_dict(self) -> dict:
        out = {"crs": self.label, "origin": self.origin}
        if self.note:
            out["note"] = self.note
        return out


def describe(crs: pyproj.CRS) -> str:
    epsg = crs.to_epsg(min_confidence=70)
    return f"EPSG:{epsg} {crs.name}" if epsg else crs.name


def _datum_note(crs: pyproj.CRS) -> str | None:
    geodetic = crs.geodetic_crs
    epsg = geodetic.to_epsg(min_confidence=70) if geodetic else None
    if epsg in LEGACY_DATUMS:
        return (
            f"datum {LEGACY_DATUMS[epsg]}: PROJ has no published shift to CGCS2000, so none "
            "was applied (errors of tens of metres possible); if the city has its 7-parameter "
            "transformation, pass --crs as a PROJ string with +towgs84=…"
        )
    return None


def from_pyproj(crs: pyproj.CRS, origin: str) -> SourceCRS:
    epsg = crs.to_epsg(min_confidence=70)
    if epsg:
        crs = pyproj.CRS.from_epsg(epsg)
    return SourceCRS(label=describe(crs), origin=origin, crs=crs, note=_datum_note(crs), epsg=epsg)


@lru_cache(maxsize=256)
def parse_crs_option(text: str) -> SourceCRS:
    """``--crs`` / ``crs=``: wgs84, cgcs2000, gcj02, bd09, EPSG:n (or n), or a PROJ/WKT string."""
    value = text.strip()
    key = value.lower().replace("_", "").replace(" ", "")
    if key in WEB_DATUMS:
        label = {"gcj02": "GCJ-02 (火星坐标, AMap/Tencent)", "bd09": "BD-09 (Baidu)"}[key]
        return SourceCRS(label=label, origin="option", web_datum=key)
    if key in ALIASES:
        return from_pyproj(pyproj.CRS.from_epsg(ALIASES[key]), "option")
    match = re.fullmatch(r"(?:epsg:)?(\d{4,6})", key)
    is_definition = value.startswith("+proj") or re.match(
        r"^(PROJCS|GEOGCS|PROJCRS|GEOGCRS|GEODCRS|BOUNDCRS|COMPOUNDCRS)\[", value
    )
    try:
        if not (match or is_definition):
            raise pyproj.exceptions.CRSError(value)
        crs = (
            pyproj.CRS.from_epsg(int(match.group(1)))
            if match
            else pyproj.CRS.from_user_input(value)
        )
        if not (crs.is_geographic or crs.is_projected) or crs.is_vertical:
            raise pyproj.exceptions.CRSError(f"{crs.name} is not a horizontal system")
    except pyproj.exceptions.CRSError as exc:
        raise InputError(
            f"无法识别坐标系“{text}”（或它不是经纬度、平面坐标系）。请使用 wgs84、cgcs2000、"
            "gcj02、bd09、EPSG:编号（如 CGCS2000 高斯-克吕格中央经线 126°E 为 EPSG:4551，"
            "带 42 带号为 EPSG:4530）、PROJ 字符串（+proj=…）或 WKT",
            code="crs.unknown",
            detail=f"unknown coordinate system {text!r} (or not one of longitude/latitude or "
            "easting/northing).",
            hint="use wgs84, cgcs2000, gcj02, bd09, EPSG:n (e.g. EPSG:4551 for CGCS2000 "
            "Gauss-Krüger CM 126E, EPSG:4530 for the same with the zone prefix 42), "
            "a PROJ string (+proj=…) or WKT",
        ) from exc
    return from_pyproj(crs, "option")


def crs_from_prj(wkt: str) -> SourceCRS:
    try:
        crs = pyproj.CRS.from_wkt(wkt)
    except pyproj.exceptions.CRSError as exc:
        raise InputError(
            "坐标系文件 .prj 无法识别为坐标系。请修正或删除该 .prj 文件，并用 --crs 指定坐标系"
            "（如 --crs EPSG:4551）",
            code="import.prj_unreadable",
            detail="the .prj file cannot be read as a coordinate system.",
            hint="fix or delete the .prj and pass --crs (e.g. --crs EPSG:4551)",
        ) from exc
    return from_pyproj(crs, "prj")


def guess_crs(bounds: tuple[float, float, float, float]) -> SourceCRS | None:
    """A CRS when the coordinate values leave no doubt, else None.

    Degrees inside China → CGCS2000 geographic (within centimetres of WGS84). Gauss-Krüger with
    the zone number in front of x (8 digits) → that zone, 3° (zones 25–45) or 6° (13–23).
    Plain 6-digit Gauss-Krüger eastings say nothing of the central meridian: no guess."""
    minx, miny, maxx, maxy = bounds
    if (
        CHINA_LON[0] <= minx <= maxx <= CHINA_LON[1]
        and CHINA_LAT[0] <= miny <= maxy <= CHINA_LAT[1]
    ):
        return SourceCRS(
            label=describe(pyproj.CRS.from_epsg(STORAGE_EPSG)),
            origin="assumed",
            crs=pyproj.CRS.from_epsg(STORAGE_EPSG),
            note="no .prj and no --crs: the coordinates are degrees inside China, assumed "
            "CGCS2000 geographic; if they came from a Chinese web map pass --crs gcj02 or bd09",
        )
    zone_min, zone_max = math.floor(minx / 1e6), math.floor(maxx / 1e6)
    if zone_min == zone_max and 3e5 <= miny <= maxy <= 6.2e6:
        for zones, first_epsg, family in (
            (range(25, 46), GK3_PREFIXED.start, "3°"),
            (range(13, 24), GK6_PREFIXED.start, "6°"),
        ):
            if zone_min in zones:
                crs = pyproj.CRS.from_epsg(first_epsg + zone_min - zones.start)
                return SourceCRS(
                    label=describe(crs),
                    origin="assumed",
                    crs=crs,
                    note=f"no .prj and no --crs: the eastings carry the Gauss-Krüger {family} "
                    f"zone prefix {zone_min}; assumed CGCS2000 (pass --crs if the datum is "
                    "Xian 80 or Beijing 54)",
                )
    return None


def is_gauss_kruger(source: SourceCRS) -> bool:
    """True for the CGCS2000 Gauss-Krüger zones (3° and 6°, with or without prefix)."""
    if source.crs is None or not source.crs.is_projected:
        return False
    epsg = source.crs.to_epsg(min_confidence=70)
    return epsg is not None and any(
        epsg in family for family in (GK3_PREFIXED, GK3_PLAIN, GK6_PREFIXED, GK6_PLAIN)
    )


def gk3_epsg_for_lon(lon: float) -> int:
    """The CGCS2000 3° Gauss-Krüger zone (no prefix) for metric work at ``lon``."""
    central = 3 * round(lon / 3)
    central = min(max(central, 75), 135)
    return GK3_PLAIN.start + (central - 75) // 3


@lru_cache(maxsize=64)
def _transformer(source_wkt: str, target_epsg: int, inverse: bool) -> pyproj.Transformer:
    source = pyproj.CRS.from_wkt(source_wkt)
    target = pyproj.CRS.from_epsg(target_epsg)
    if inverse:
        source, target = target, source
    return pyproj.Transformer.from_crs(source, target, always_xy=True)


def transformer_to_storage(source: pyproj.CRS) -> pyproj.Transformer:
    """lon/lat-ordered transformer from ``source`` to CGCS2000 geographic (cached)."""
    return _transformer(source.to_wkt(), STORAGE_EPSG, False)


def _apply(geoms: np.ndarray, transformer: pyproj.Transformer) -> np.ndarray:
    return shapely.transform(geoms, _coordinates(transformer))


def _coordinates(transformer: pyproj.Transformer) -> Callable[[np.ndarray], np.ndarray]:
    def fn(coords: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return fn


def storage_coordinates(source: SourceCRS) -> Callable[[np.ndarray], np.ndarray] | None:
    """The function :func:`to_storage` applies to every vertex (an (n, 2) array of
    coordinates in ``source``, the same in CGCS2000 geographic), None where it keeps them."""
    if source.web_datum:
        from weijian.gis.chinese_datums import vertex_converter

        return vertex_converter(source.web_datum, "wgs84")
    assert source.crs is not None
    if source.crs.to_epsg(min_confidence=70) in (STORAGE_EPSG, 4326):
        return None  # WGS84 and CGCS2000 agree to centimetres; PROJ's ballpark is the identity
    return _coordinates(_transformer(source.crs.to_wkt(), STORAGE_EPSG, False))


def to_storage(geoms: np.ndarray, source: SourceCRS) -> np.ndarray:
    """Geometries (2D) from ``source`` to CGCS2000 geographic (EPSG:4490)."""
    reproject = storage_coordinates(source)
    return geoms if reproject is None else shapely.transform(geoms, reproject, include_z=False)


def from_storage(geoms: np.ndarray, target: SourceCRS) -> np.ndarray:
    """The inverse of :func:`to_storage`."""
    if target.web_datum:
        from weijian.gis.chinese_datums import transform_geometry

        return transform_geometry(geoms, "wgs84", target.web_datum)
    assert target.crs is not None
    if target.crs.to_epsg(min_confidence=70) in (STORAGE_EPSG, 4326):
        return geoms
    return _apply(geoms, _transformer(target.crs.to_wkt(), STORAGE_EPSG, True))


def to_metric(geoms: np.ndarray, epsg: int | None = None) -> np.ndarray:
    """Stored geometries to Gauss-Krüger metres (zone chosen from their centre by default)."""
    if epsg is None:
        minx, _, maxx, _ = shapely.total_bounds(geoms)
        epsg = gk3_epsg_for_lon((minx + maxx) / 2 if np.isfinite(minx) else 126.0)
    return _apply(geoms, _transformer(pyproj.CRS.from_epsg(STORAGE_EPSG).to_wkt(), epsg, False))


def check_in_china(bounds: tuple[float, float, float, float], source: SourceCRS) -> None:
    """Refuse stored coordinates that fall outside China, saying what probably went wrong."""
    minx, miny, maxx, maxy = bounds
    if (
        all(map(np.isfinite, bounds))
        and CHINA_LON[0] <= minx <= maxx <= CHINA_LON[1]
        and CHINA_LAT[0] <= miny <= maxy <= CHINA_LAT[1]
    ):
        return
    hint = "check the .prj or pass the right --crs"
    advice = "请核对 .prj 文件，或用 --crs 指定正确的坐标系"
    if source.crs is not None and source.crs.is_projected:
        hint = (
            "the eastings may carry a Gauss-Krüger zone prefix the .prj does not declare (or the "
            "reverse): try --crs EPSG:4530 (3° zone 42, with prefix) or EPSG:4551 (CM 126E, "
            "without); see the coordinates with ogrinfo"
        )
        advice = (
            "横坐标可能带有 .prj 未声明的高斯-克吕格带号（或相反）："
            "请试用 --crs EPSG:4530（3° 分带第 42 带，带带号）"
            "或 EPSG:4551（中央经线 126°E，不带带号），可用 ogrinfo 查看坐标"
        )
    elif source.is_geographic:
        hint = "longitude and latitude may be swapped, or the file is projected: pass --crs"
        advice = "经度和纬度可能写反了，或该文件是平面坐标：请用 --crs 指定坐标系"
    raise InputError(
        f"数据从 {source.label} 转换后位于中国境外（范围：经度 {minx:.4f}…{maxx:.4f}，"
        f"纬度 {miny:.4f}…{maxy:.4f}）。{advice}",
        code="import.outside_china",
        detail=f"after conversion from {source.label} the data lie outside China "
        f"(bbox lon {minx:.4f}…{maxx:.4f}, lat {miny:.4f}…{maxy:.4f}).",
        hint=hint,
    )
