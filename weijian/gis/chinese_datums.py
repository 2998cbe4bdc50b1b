"""Conversions between WGS84, GCJ-02 and BD-09 coordinates.

Web maps published in mainland China do not show plain WGS84 coordinates. By regulation,
AMap (高德), Tencent maps, WeChat location sharing and most Chinese mobile SDKs use
**GCJ-02** (国测局坐标, the "Mars" datum): WGS84 longitude/latitude shifted by a smooth but
deliberately irregular, position-dependent offset (a polynomial plus sine terms evaluated on
the Krasovsky ellipsoid). Baidu maps add a second, private layer on top of GCJ-02, **BD-09**.
Neither is a datum in the geodetic sense and neither has an EPSG code, so pyproj cannot
convert them; this module implements the widely published algorithm instead.

Why it matters here: survey data, orthophotos and the cadastre are in CGCS2000 (EPSG:4490),
which for map-display purposes coincides with WGS84 to well under a metre, whereas
coordinates pasted from a phone or from an AMap/Baidu basemap are GCJ-02 or BD-09. In
Baishan, Jilin, GCJ-02 is roughly 560 m away from WGS84 — enough to put a reported illegal
structure on the wrong street block. Inputs from Chinese web maps must be converted before
they are compared with CGCS2000 layers, and CGCS2000 data must be converted before it is
overlaid on a Chinese basemap.

Conventions:

* Coordinates are always ``(lon, lat)`` in degrees, in that order.
* Every point function accepts Python floats or numpy arrays of equal shape and returns a
  ``(lon, lat)`` tuple of the same kind: floats for scalar input, ``float64`` arrays for
  array input. Inputs are never modified.
* GCJ-02 is only applied inside the rough bounding box of China used by the public algorithm
  (:func:`in_china`); outside it GCJ-02 is identical to WGS84. The BD-09 step is a closed
  form applied everywhere, as in the public algorithm.
* The inverse conversions (GCJ-02 → WGS84, BD-09 → GCJ-02) are not the usual one-step
  approximations, which are off by up to ~5 m (GCJ-02) and ~0.2 m (BD-09); they are refined
  by fixed-point iteration until the forward conversion reproduces the input to better than
  :data:`INVERSE_TOLERANCE_DEG` (1e-10°, about 0.01 mm). The one exception is a strip about
  0.01° wide just inside the edges of the box, where GCJ-02 jumps and has no exact inverse.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import SimpleNamespace
from typing import Final, TypeVar

import numpy as np
import numpy.typing as npt
import shapely

__all__ = [
    "CONVERTERS",
    "DATUM_NAMES",
    "INVERSE_TOLERANCE_DEG",
    "MAX_INVERSE_ITERATIONS",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "convert",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "in_china",
    "transform_geometry",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

FloatArray = npt.NDArray[np.float64]
Coord = TypeVar("Coord", float, FloatArray)
"""A longitude or latitude: a Python float, or a float64 array (results keep the kind)."""
Converter = Callable[[Coord, Coord], tuple[Coord, Coord]]
GeometryInput = TypeVar("GeometryInput", shapely.Geometry, npt.NDArray[np.object_])

DATUM_NAMES: Final = ("wgs84", "gcj02", "bd09")
"""Names accepted by :func:`convert`, :data:`CONVERTERS` and :func:`transform_geometry`."""

INVERSE_TOLERANCE_DEG: Final = 1e-10
"""Iterative inverses stop once the forward conversion reproduces the input this closely."""
MAX_INVERSE_ITERATIONS: Final = 30
"""Upper bound on refinement steps (in practice 3–5 suffice: the offsets vary slowly)."""

# Krasovsky 1940 ellipsoid, as used by the GCJ-02 algorithm.
_KRASOVSKY_A: Final = 6378245.0
_KRASOVSKY_EE: Final = 0.00669342162296594323  # first eccentricity squared

# The rough bounding box of China used by the public algorithm (inclusive).
_CHINA_LON_MIN: Final = 72.004
_CHINA_LON_MAX: Final = 137.8347
_CHINA_LAT_MIN: Final = 0.8293
_CHINA_LAT_MAX: Final = 55.8271

# BD-09 constants.
_BD_X_PI: Final = np.pi * 3000.0 / 180.0
_BD_LON_SHIFT: Final = 0.0065
_BD_LAT_SHIFT: Final = 0.006
_BD_RADIUS_TERM: Final = 0.00002
_BD_ANGLE_TERM: Final = 0.000003


# The few maths functions the formulas need: numpy's for arrays, the math module's for single
# points (a one-element array costs ~1 µs an operation: a web request's point, converted through
# numpy, took 200 µs; through math it takes a few).
ARRAY_OPS: Final = SimpleNamespace(
    sqrt=np.sqrt,
    sin=np.sin,
    cos=np.cos,
    hypot=np.hypot,
    atan2=np.arctan2,
    degrees=np.degrees,
    where=np.where,
)
SCALAR_OPS: Final = SimpleNamespace(
    sqrt=math.sqrt,
    sin=math.sin,
    cos=math.cos,
    hypot=math.hypot,
    atan2=math.atan2,
    degrees=math.degrees,
    where=lambda condition, yes, no: yes if condition else no,
)


# ---------------------------------------------------------------------------------------------
# Input / output kinds
# ---------------------------------------------------------------------------------------------


def _coerce(lon: float | FloatArray, lat: float | FloatArray) -> tuple[FloatArray, FloatArray]:
    """Both inputs as float64 arrays of one shape (0-d for scalars)."""
    lon_arr = np.asarray(lon, dtype=np.float64)
    lat_arr = np.asarray(lat, dtype=np.float64)
    if lon_arr.shape != lat_arr.shape:
        raise ValueError(
            f"lon and lat must have the same shape, got {lon_arr.shape} and {lat_arr.shape}"
        )
    return lon_arr, lat_arr


def _emit(lon: FloatArray, lat: FloatArray, scalar: bool) -> tuple[Coord, Coord]:
    """Results in the caller's kind: Python floats for scalar input, float64 arrays otherwise."""
    if scalar:
        return float(lon), float(lat)
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)


def _apply(
    core: Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]],
    lon: Coord,
    lat: Coord,
) -> tuple[Coord, Coord]:
    """Run ``core`` on the caller's input and return results of the same kind: single points
    through the math module, arrays through numpy."""
    if np.ndim(lon) == 0 and np.ndim(lat) == 0:
        out_lon, out_lat = core(float(lon), float(lat), SCALAR_OPS)
        return float(out_lon), float(out_lat)
    lon_arr, lat_arr = _coerce(lon, lat)
    out_lon, out_lat = core(lon_arr, lat_arr, ARRAY_OPS)
    return _emit(out_lon, out_lat, scalar=False)


def _refine_inverse(
    forward: Callable[..., tuple[FloatArray, FloatArray]],
    target_lon: FloatArray,
    target_lat: FloatArray,
    first_lon: FloatArray,
    first_lat: FloatArray,
    m: SimpleNamespace = ARRAY_OPS,
) -> tuple[FloatArray, FloatArray]:
    """Solve ``forward(x) = target`` by the fixed-point iteration ``x ← x − (forward(x) − target)``
    from the first guess, until the residual is below :data:`INVERSE_TOLERANCE_DEG`.

    Converges in a handful of steps because both offsets (GCJ-02, BD-09) change by far less
    than their own size over the distance of the offset: ``forward`` is the identity plus a
    contraction. Each step only touches the points still pending, and a point is left alone
    once it has converged, so its result does not depend on the other points in the batch (a
    scalar and an array give the same numbers). The exception is a thin strip just inside the
    edges of the :func:`in_china` box, where GCJ-02 jumps and has no exact inverse: there the
    last iterate after :data:`MAX_INVERSE_ITERATIONS` steps is returned.
    """
    if m is SCALAR_OPS:
        lon, lat = first_lon, first_lat
        for _ in range(MAX_INVERSE_ITERATIONS):
            fwd_lon, fwd_lat = forward(lon, lat, m)
            err_lon, err_lat = fwd_lon - target_lon, fwd_lat - target_lat
            if not (abs(err_lon) >= INVERSE_TOLERANCE_DEG or abs(err_lat) >= INVERSE_TOLERANCE_DEG):
                break
            lon, lat = lon - err_lon, lat - err_lat
        return lon, lat
    shape = first_lon.shape
    goal_lon, goal_lat = target_lon.ravel(), target_lat.ravel()
    lon = first_lon.ravel().copy()
    lat = first_lat.ravel().copy()
    pending = np.arange(lon.size)
    for _ in range(MAX_INVERSE_ITERATIONS):
        fwd_lon, fwd_lat = forward(lon[pending], lat[pending], m)
        err_lon = fwd_lon - goal_lon[pending]
        err_lat = fwd_lat - goal_lat[pending]
        # ``>=`` rather than ``<`` so that NaN coordinates count as done, not as pending.
        still = (np.abs(err_lon) >= INVERSE_TOLERANCE_DEG) | (
            np.abs(err_lat) >= INVERSE_TOLERANCE_DEG
        )
        if not still.any():
            break
        pending = pending[still]
        lon[pending] -= err_lon[still]
        lat[pending] -= err_lat[still]
    return lon.reshape(shape), lat.reshape(shape)


# ---------------------------------------------------------------------------------------------
# GCJ-02
# ---------------------------------------------------------------------------------------------


def _in_china(lon: FloatArray, lat: FloatArray) -> npt.NDArray[np.bool_]:
    return (
        (lon >= _CHINA_LON_MIN)
        & (lon <= _CHINA_LON_MAX)
        & (lat >= _CHINA_LAT_MIN)
        & (lat <= _CHINA_LAT_MAX)
    )


def in_china(lon: float | FloatArray, lat: float | FloatArray) -> bool | npt.NDArray[np.bool_]:
    """Whether points lie in the rough box of China (lon 72.004–137.8347, lat 0.8293–55.8271).

    This is the box of the public GCJ-02 algorithm, not a border: it includes parts of
    neighbouring countries. Outside it GCJ-02 equals WGS84. Returns a bool for scalar input,
    a bool array otherwise.
    """
    lon_arr, lat_arr = _coerce(lon, lat)
    inside = _in_china(lon_arr, lat_arr)
    return bool(inside) if inside.ndim == 0 else inside


def _gcj02_shift_lat_m(x: FloatArray, y: FloatArray, m: SimpleNamespace = ARRAY_OPS) -> FloatArray:
    """Northward shift (in metres on the Krasovsky ellipsoid); x, y = lon − 105, lat − 35."""
    polynomial = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * m.sqrt(abs(x))
    waves = (
        20.0 * m.sin(6.0 * math.pi * x)
        + 20.0 * m.sin(2.0 * math.pi * x)
        + 20.0 * m.sin(math.pi * y)
        + 40.0 * m.sin(math.pi * y / 3.0)
        + 160.0 * m.sin(math.pi * y / 12.0)
        + 320.0 * m.sin(math.pi * y / 30.0)
    )
    return polynomial + waves * (2.0 / 3.0)


def _gcj02_shift_lon_m(x: FloatArray, y: FloatArray, m: SimpleNamespace = ARRAY_OPS) -> FloatArray:
    """Eastward shift (in metres on the Krasovsky ellipsoid); x, y = lon − 105, lat − 35."""
    polynomial = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * m.sqrt(abs(x))
    waves = (
        20.0 * m.sin(6.0 * math.pi * x)
        + 20.0 * m.sin(2.0 * math.pi * x)
        + 20.0 * m.sin(math.pi * x)
        + 40.0 * m.sin(math.pi * x / 3.0)
        + 150.0 * m.sin(math.pi * x / 12.0)
        + 300.0 * m.sin(math.pi * x / 30.0)
    )
    return polynomial + waves * (2.0 / 3.0)


def _gcj02_offset_deg(
    lon: FloatArray, lat: FloatArray, m: SimpleNamespace = ARRAY_OPS
) -> tuple[FloatArray, FloatArray]:
    """The GCJ-02 shift at a WGS84 point, in degrees (applies the box test: 0 outside)."""
    x = lon - 105.0
    y = lat - 35.0
    phi = lat / 180.0 * math.pi
    w = 1.0 - _KRASOVSKY_EE * m.sin(phi) ** 2
    sqrt_w = m.sqrt(w)
    # Metres per radian along the meridian (M) and the parallel (N cos φ).
    meridian_radius = _KRASOVSKY_A * (1.0 - _KRASOVSKY_EE) / (w * sqrt_w)
    parallel_radius = _KRASOVSKY_A / sqrt_w * m.cos(phi)
    dlat = m.degrees(_gcj02_shift_lat_m(x, y, m) / meridian_radius)
    dlon = m.degrees(_gcj02_shift_lon_m(x, y, m) / parallel_radius)
    inside = _in_china(lon, lat)
    return m.where(inside, dlon, 0.0), m.where(inside, dlat, 0.0)


def _wgs84_to_gcj02(
    lon: FloatArray, lat: FloatArray, m: SimpleNamespace = ARRAY_OPS
) -> tuple[FloatArray, FloatArray]:
    dlon, dlat = _gcj02_offset_deg(lon, lat, m)
    return lon + dlon, lat + dlat


def _gcj02_to_wgs84(
    lon: FloatArray, lat: FloatArray, m: SimpleNamespace = ARRAY_OPS
) -> tuple[FloatArray, FloatArray]:
    dlon, dlat = _gcj02_offset_deg(lon, lat, m)
    # The classic one-step answer is the starting point; iteration removes its metre-level
    # error. Points whose GCJ-02 coordinates are outside the box pass through unchanged.
    wgs_lon, wgs_lat = _refine_inverse(_wgs84_to_gcj02, lon, lat, lon - dlon, lat - dlat, m)
    inside = _in_china(lon, lat)
    return m.where(inside, wgs_lon, lon), m.where(inside, wgs_lat, lat)


# ---------------------------------------------------------------------------------------------
# BD-09
# ---------------------------------------------------------------------------------------------


def _gcj02_to_bd09(
    lon: FloatArray, lat: FloatArray, m: SimpleNamespace = ARRAY_OPS
) -> tuple[FloatArray, FloatArray]:
    radius = m.hypot(lon, lat) + _BD_RADIUS_TERM * m.sin(lat * _BD_X_PI)
    angle = m.atan2(lat, lon) + _BD_ANGLE_TERM * m.cos(lon * _BD_X_PI)
    return radius * m.cos(angle) + _BD_LON_SHIFT, radius * m.sin(angle) + _BD_LAT_SHIFT


def _bd09_to_gcj02(
    lon: FloatArray, lat: FloatArray, m: SimpleNamespace = ARRAY_OPS
) -> tuple[FloatArray, FloatArray]:
    # Closed-form approximate inverse (evaluates the perturbations at the BD-09 point), then
    # refined so that the round trip is exact to INVERSE_TOLERANCE_DEG.
    x = lon - _BD_LON_SHIFT
    y = lat - _BD_LAT_SHIFT
    radius = m.hypot(x, y) - _BD_RADIUS_TERM * m.sin(y * _BD_X_PI)
    angle = m.atan2(y, x) - _BD_ANGLE_TERM * m.cos(x * _BD_X_PI)
    first_lon, first_lat = radius * m.cos(angle), radius * m.sin(angle)
    return _refine_inverse(_gcj02_to_bd09, lon, lat, first_lon, first_lat, m)


def _wgs84_to_bd09(
    lon: FloatArray, lat: FloatArray, m: SimpleNamespace = ARRAY_OPS
) -> tuple[FloatArray, FloatArray]:
    return _gcj02_to_bd09(*_wgs84_to_gcj02(lon, lat, m), m)


def _bd09_to_wgs84(
    lon: FloatArray, lat: FloatArray, m: SimpleNamespace = ARRAY_OPS
) -> tuple[FloatArray, FloatArray]:
    return _gcj02_to_wgs84(*_bd09_to_gcj02(lon, lat, m), m)


# ---------------------------------------------------------------------------------------------
# Public point functions
# ---------------------------------------------------------------------------------------------


def wgs84_to_gcj02(lon: Coord, lat: Coord) -> tuple[Coord, Coord]:
    """WGS84 (≈ CGCS2000, EPSG:4490) → GCJ-02 (AMap, Tencent, WeChat). Identity outside China."""
    return _apply(_wgs84_to_gcj02, lon, lat)


def gcj02_to_wgs84(lon: Coord, lat: Coord) -> tuple[Coord, Coord]:
    """GCJ-02 → WGS84, iterated until ``wgs84_to_gcj02`` of the result reproduces the input
    to better than :data:`INVERSE_TOLERANCE_DEG`. Identity outside China."""
    return _apply(_gcj02_to_wgs84, lon, lat)


def gcj02_to_bd09(lon: Coord, lat: Coord) -> tuple[Coord, Coord]:
    """GCJ-02 → BD-09 (Baidu), the closed form of the public algorithm."""
    return _apply(_gcj02_to_bd09, lon, lat)


def bd09_to_gcj02(lon: Coord, lat: Coord) -> tuple[Coord, Coord]:
    """BD-09 (Baidu) → GCJ-02: the closed-form inverse, refined iteratively so that
    ``gcj02_to_bd09`` of the result reproduces the input to :data:`INVERSE_TOLERANCE_DEG`."""
    return _apply(_bd09_to_gcj02, lon, lat)


def wgs84_to_bd09(lon: Coord, lat: Coord) -> tuple[Coord, Coord]:
    """WGS84 → BD-09: ``gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))``."""
    return _apply(_wgs84_to_bd09, lon, lat)


def bd09_to_wgs84(lon: Coord, lat: Coord) -> tuple[Coord, Coord]:
    """BD-09 → WGS84: ``gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))``."""
    return _apply(_bd09_to_wgs84, lon, lat)


CONVERTERS: dict[tuple[str, str], Converter] = {
    ("wgs84", "gcj02"): wgs84_to_gcj02,
    ("gcj02", "wgs84"): gcj02_to_wgs84,
    ("gcj02", "bd09"): gcj02_to_bd09,
    ("bd09", "gcj02"): bd09_to_gcj02,
    ("wgs84", "bd09"): wgs84_to_bd09,
    ("bd09", "wgs84"): bd09_to_wgs84,
}
"""``CONVERTERS[(source, target)]`` for every pair of distinct names in :data:`DATUM_NAMES`."""


def _check_name(name: str, role: str) -> None:
    if name not in DATUM_NAMES:
        allowed = ", ".join(repr(n) for n in DATUM_NAMES)
        raise ValueError(f"unknown {role} coordinate system {name!r}; allowed: {allowed}")


def convert(lon: Coord, lat: Coord, source: str, target: str) -> tuple[Coord, Coord]:
    """Convert (lon, lat) from ``source`` to ``target``, each one of ``"wgs84"``, ``"gcj02"``,
    ``"bd09"``. The same name on both sides returns the coordinates unchanged (as floats or
    new float64 arrays). Raises ValueError for any other name."""
    _check_name(source, "source")
    _check_name(target, "target")
    if source == target:
        lon_arr, lat_arr = _coerce(lon, lat)
        return _emit(lon_arr.copy(), lat_arr.copy(), scalar=lon_arr.ndim == 0)
    return CONVERTERS[(source, target)](lon, lat)


# ---------------------------------------------------------------------------------------------
# Geometries
# ---------------------------------------------------------------------------------------------


def transform_geometry(geometry: GeometryInput, source: str, target: str) -> GeometryInput:
    """Convert every vertex of shapely geometries from ``source`` to ``target``.

    Accepts a single shapely geometry or an array of them (``None`` entries stay ``None``) and
    returns the same kind. Results are 2D: a Z coordinate is dropped. The same name on both
    sides returns the input unchanged. Raises ValueError for unknown names.
    """
    _check_name(source, "source")
    _check_name(target, "target")
    if source == target:
        return geometry
    return shapely.transform(geometry, vertex_converter(source, target), include_z=False)


def vertex_converter(source: str, target: str) -> Callable[[FloatArray], FloatArray]:
    """The function :func:`transform_geometry` applies to an (n, 2) array of coordinates."""
    converter = CONVERTERS[(source, target)]

    def convert_xy(coords: FloatArray) -> FloatArray:
        lon, lat = converter(coords[:, 0], coords[:, 1])
        return np.column_stack((lon, lat))

    return convert_xy
