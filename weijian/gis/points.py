"""Points as users and other systems give them (phones in WGS84, AMap in GCJ-02, Baidu in
BD-09, survey data in Gauss-Krüger) → CGCS2000 lon/lat, refusing what cannot be meant."""

from __future__ import annotations

import math

import numpy as np

from weijian.errors import InputError
from weijian.gis import chinese_datums
from weijian.gis.crs import SourceCRS, parse_crs_option, transformer_to_storage


def _check_degrees(x: np.ndarray, y: np.ndarray, crs_label: str, ids=None) -> None:
    def where(mask: np.ndarray) -> str:
        first = int(np.flatnonzero(mask)[0])
        label = ids[first] if ids is not None else first + 1
        return (
            f" (first at {'id ' + str(label) if ids is not None else 'row ' + str(label)}, "
            f"{x[first]}, {y[first]})"
            if len(x) > 1
            else ""
        )

    def where_zh(mask: np.ndarray) -> str:
        first = int(np.flatnonzero(mask)[0])
        label = ids[first] if ids is not None else first + 1
        at = f"编号为 {label} 的点" if ids is not None else f"第 {label} 行"
        return f"（第一处在{at}：{x[first]}，{y[first]}）" if len(x) > 1 else ""

    bad = ~np.isfinite(x) | ~np.isfinite(y)
    if bad.any():
        raise InputError(
            f"有 {int(bad.sum())} 个坐标缺失或不是数字{where_zh(bad)}。请以十进制度数给出经度和"
            "纬度，如 lon=126.42&lat=41.94",
            code="point.coordinates_missing",
            detail=f"{int(bad.sum())} coordinates are missing or not numbers{where(bad)}.",
            hint="give lon and lat as decimal degrees, e.g. lon=126.42&lat=41.94",
        )
    swapped = (np.abs(y) > 90) & (np.abs(x) <= 90)
    if swapped.any():
        raise InputError(
            f"纬度超出范围{where_zh(swapped)}：经度和纬度似乎写反了。经度在前（东经，白山约 126），"
            "纬度在后（北纬，约 42）",
            code="point.lonlat_swapped",
            detail=f"latitude out of range{where(swapped)}: longitude and latitude look swapped.",
            hint="lon comes first (east, ~126 for Baishan), then lat (north, ~42)",
        )
    out = (np.abs(x) > 180) | (np.abs(y) > 90)
    if out.any():
        raise InputError(
            f"坐标超出 {crs_label} 的取值范围{where_zh(out)}：经度应在 ±180 以内，纬度应在 ±90 "
            "以内。平面坐标（米）须用 crs=EPSG:编号 指明坐标系，如高斯-克吕格中央经线 126°E 为 "
            "EPSG:4551，带带号为 EPSG:4530",
            code="point.out_of_range",
            detail=f"coordinates out of range for {crs_label}{where(out)}: lon must be within "
            "±180 and lat within ±90.",
            hint="projected coordinates (metres) need crs=EPSG:n, e.g. EPSG:4551 for "
            "Gauss-Krüger CM 126E or EPSG:4530 with the zone prefix",
        )


def to_cgcs2000(x, y, crs: str = "wgs84", ids=None) -> tuple[np.ndarray, np.ndarray, SourceCRS]:
    """CGCS2000 lon/lat (EPSG:4490) of points given in ``crs``. Arrays in, arrays out."""
    source = parse_crs_option(crs or "wgs84")
    x = np.atleast_1d(np.asarray(x, dtype=np.float64))
    y = np.atleast_1d(np.asarray(y, dtype=np.float64))
    if source.web_datum:
        _check_degrees(x, y, source.label, ids)
        outside = ~np.asarray(chinese_datums.in_china(x, y))
        if outside.any():
            first = int(np.flatnonzero(outside)[0])
            raise InputError(
                f"有 {int(outside.sum())} 个 {source.web_datum.upper()} 坐标点位于中国境外"
                f"（第一个：{x[first]}，{y[first]}）；GCJ-02 和 BD-09 坐标只存在于中国境内。"
                "请核对坐标；如坐标来自 GPS，请用 crs=wgs84",
                code="point.outside_china",
                detail=f"{int(outside.sum())} {source.web_datum.upper()} points lie outside China "
                f"(first: {x[first]}, {y[first]}); GCJ-02 and BD-09 exist only inside China.",
                hint="check the coordinates, or give crs=wgs84 if they came from GPS",
            )
        lon, lat = chinese_datums.convert(x, y, source.web_datum, "wgs84")
        return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64), source
    assert source.crs is not None
    if source.crs.is_geographic:
        _check_degrees(x, y, source.label, ids)
        epsg = source.crs.to_epsg(min_confidence=70)
        if epsg in (4490, 4326):
            return x, y, source
    else:
        bad = ~np.isfinite(x) | ~np.isfinite(y)
        if bad.any():
            raise InputError(
                f"有 {int(bad.sum())} 个坐标缺失或不是数字，请补全坐标",
                code="point.coordinates_missing",
                detail=f"{int(bad.sum())} coordinates are missing or not numbers.",
            )
    transformer = transformer_to_storage(source.crs)
    lon, lat = transformer.transform(x, y)
    lon, lat = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    bad = ~np.isfinite(lon) | ~np.isfinite(lat)
    if bad.any():
        raise InputError(
            f"有 {int(bad.sum())} 个点无法从 {source.label} 转换（超出该坐标系的适用范围）。"
            "请核对坐标系：带带号的高斯-克吕格坐标（x ≈ 42,500,000）为 EPSG:4530，"
            "不带带号（x ≈ 500,000）为 EPSG:4551",
            code="point.not_convertible",
            detail=f"{int(bad.sum())} points cannot be converted from {source.label} "
            "(outside the area of that coordinate system).",
            hint="check the crs: Gauss-Krüger with zone prefix (x ≈ 42,500,000) is EPSG:4530, "
            "without (x ≈ 500,000) EPSG:4551",
        )
    return lon, lat, source


def point_to_cgcs2000(x: float, y: float, crs: str = "wgs84") -> tuple[float, float, SourceCRS]:
    """:func:`to_cgcs2000` for one point, without array overhead on the usual paths (degrees
    that need no PROJ call); anything unusual goes through :func:`to_cgcs2000`, which also
    words the errors."""
    source = parse_crs_option(crs or "wgs84")
    degrees = source.web_datum is not None or (source.crs is not None and source.crs.is_geographic)
    plain = degrees and math.isfinite(x) and math.isfinite(y) and abs(x) <= 180 and abs(y) <= 90
    if plain and source.web_datum and chinese_datums.in_china(x, y):
        lon, lat = chinese_datums.convert(float(x), float(y), source.web_datum, "wgs84")
        return lon, lat, source
    if plain and source.epsg in (4490, 4326):
        return float(x), float(y), source
    lon_arr, lat_arr, source = to_cgcs2000([x], [y], crs)
    return float(lon_arr[0]), float(lat_arr[0]), source
