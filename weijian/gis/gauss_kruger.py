"""CGCS2000 Gauss-Krüger (transverse Mercator), compiled (numba): Krüger's series to n⁶
(sub-millimetre within a zone, Karney 2011 §4), tested against PROJ.

A snapshot measures every distance with these formulas — the point, the zones' boundaries, the
districts' edges — one point at a time (:func:`forward`: PROJ's call overhead, ~10 µs, would be
most of a look-up's budget) or many (:func:`forward_many`, :func:`forward_coords`); both run
the same compiled function, so that a point and a vertex moved one way or the other land on
the same bits."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numba import njit

SEMI_MAJOR_AXIS_M = 6378137.0  # CGCS2000
FLATTENING = 1 / 298.257222101  # CGCS2000
THIRD_FLATTENING = FLATTENING / (2 - FLATTENING)
ECCENTRICITY = math.sqrt(FLATTENING * (2 - FLATTENING))


def _rectifying_radius(n: float) -> float:
    """Karney's A: the radius of the sphere whose meridian has the ellipsoid's length."""
    return SEMI_MAJOR_AXIS_M / (1 + n) * (1 + n**2 / 4 + n**4 / 64 + n**6 / 256)


def _kruger_alpha(n: float) -> tuple[float, ...]:
    """The coefficients α₁…α₆ of Krüger's series, in powers of the third flattening ``n``."""
    # fmt: off
    return (
        n / 2 - 2 * n**2 / 3 + 5 * n**3 / 16 + 41 * n**4 / 180 - 127 * n**5 / 288
        + 7891 * n**6 / 37800,
        13 * n**2 / 48 - 3 * n**3 / 5 + 557 * n**4 / 1440 + 281 * n**5 / 630
        - 1983433 * n**6 / 1935360,
        61 * n**3 / 240 - 103 * n**4 / 140 + 15061 * n**5 / 26880 + 167603 * n**6 / 181440,
        49561 * n**4 / 161280 - 179 * n**5 / 168 + 6601661 * n**6 / 7257600,
        34729 * n**5 / 80640 - 3418889 * n**6 / 1995840,
        212378941 * n**6 / 319334400,
    )
    # fmt: on


def _kruger_beta(n: float) -> tuple[float, ...]:
    """The coefficients β₁…β₆ of the inverse series, in powers of ``n`` (Karney 2011 eq. 36)."""
    # fmt: off
    return (
        n / 2 - 2 * n**2 / 3 + 37 * n**3 / 96 - n**4 / 360 - 81 * n**5 / 512
        + 96199 * n**6 / 604800,
        n**2 / 48 + n**3 / 15 - 437 * n**4 / 1440 + 46 * n**5 / 105
        - 1118711 * n**6 / 3870720,
        17 * n**3 / 480 - 37 * n**4 / 840 - 209 * n**5 / 4480 + 5569 * n**6 / 90720,
        4397 * n**4 / 161280 - 11 * n**5 / 504 - 830251 * n**6 / 7257600,
        4583 * n**5 / 161280 - 108847 * n**6 / 3991680,
        20648693 * n**6 / 638668800,
    )
    # fmt: on


RECTIFYING_RADIUS_M = _rectifying_radius(THIRD_FLATTENING)
ALPHA = _kruger_alpha(THIRD_FLATTENING)
BETA = _kruger_beta(THIRD_FLATTENING)


@dataclass(frozen=True)
class Zone:
    central_meridian: float
    false_easting: float


@lru_cache(maxsize=64)
def zone_of_epsg(epsg: int) -> Zone:
    """The CGCS2000 Gauss-Krüger zones EPSG:4491–4554."""
    if 4534 <= epsg <= 4554:  # 3°, CM 75E … 135E, no prefix
        return Zone(75 + 3 * (epsg - 4534), 500_000.0)
    if 4513 <= epsg <= 4533:  # 3°, zones 25 … 45 with prefix
        zone = 25 + epsg - 4513
        return Zone(3 * zone, zone * 1e6 + 500_000.0)
    if 4502 <= epsg <= 4512:  # 6°, CM 75E … 135E
        return Zone(75 + 6 * (epsg - 4502), 500_000.0)
    if 4491 <= epsg <= 4501:  # 6°, zones 13 … 23 with prefix
        zone = 13 + epsg - 4491
        return Zone(6 * zone - 3, zone * 1e6 + 500_000.0)
    raise ValueError(f"EPSG:{epsg} is not a CGCS2000 Gauss-Krüger zone")


@njit(cache=True, nogil=True, inline="always")
def _sine_series(coefficients, xi, eta):
    """Σ cⱼ sin(2j(ξ + iη)), j = 1…6, by Clenshaw's recurrence on complex numbers (Karney 2011
    §7): one complex sine and cosine, from two real sines and cosines, for the six terms
    instead of twenty-four."""
    sin_a, cos_a = math.sin(2 * xi), math.cos(2 * xi)
    sinh_b, cosh_b = math.sinh(2 * eta), math.cosh(2 * eta)
    twice_cos = complex(2 * cos_a * cosh_b, -2 * sin_a * sinh_b)
    b1 = b2 = 0j
    for j in range(len(coefficients) - 1, -1, -1):
        b1, b2 = coefficients[j] + twice_cos * b1 - b2, b1
    return complex(sin_a * cosh_b, cos_a * sinh_b) * b1


@njit(cache=True, nogil=True)
def forward_xy(lon, lat, central_meridian, false_easting):
    """(x easting, y northing) in metres of a CGCS2000 lon/lat in the zone of
    ``central_meridian`` and ``false_easting``."""
    sin_phi = math.sin(math.radians(lat))
    lam = math.radians(lon - central_meridian)
    t = math.sinh(math.atanh(sin_phi) - ECCENTRICITY * math.atanh(ECCENTRICITY * sin_phi))
    xi = math.atan2(t, math.cos(lam))
    eta = math.atanh(math.sin(lam) / math.sqrt(1 + t * t))
    series = _sine_series(ALPHA, xi, eta)
    return (
        false_easting + RECTIFYING_RADIUS_M * (eta + series.imag),
        RECTIFYING_RADIUS_M * (xi + series.real),
    )


@njit(cache=True, nogil=True)
def inverse_xy(x, y, central_meridian, false_easting):
    """(lon, lat) of a point in metres of the zone of ``central_meridian`` and
    ``false_easting``: the inverse series, then the latitude from the conformal one by
    Newton's method (Karney 2011 §§ 4–5)."""
    xi_p = y / RECTIFYING_RADIUS_M
    eta_p = (x - false_easting) / RECTIFYING_RADIUS_M
    series = _sine_series(BETA, xi_p, eta_p)
    xi, eta = xi_p - series.real, eta_p - series.imag
    sinh_eta, cos_xi = math.sinh(eta), math.cos(xi)
    lam = math.atan2(sinh_eta, cos_xi)
    tau_p = math.sin(xi) / math.hypot(sinh_eta, cos_xi)  # tan χ, χ the conformal latitude
    one_e2 = 1 - ECCENTRICITY * ECCENTRICITY
    tau = tau_p / one_e2
    for _ in range(8):
        root = math.sqrt(1 + tau * tau)
        sigma = math.sinh(ECCENTRICITY * math.atanh(ECCENTRICITY * tau / root))
        tau_i = tau * math.sqrt(1 + sigma * sigma) - sigma * root
        step = (tau_p - tau_i) / math.sqrt(1 + tau_i * tau_i)
        step *= (1 + one_e2 * tau * tau) / (one_e2 * root)
        tau += step
        if abs(step) <= 1e-15 * max(1.0, abs(tau)):
            break
    return central_meridian + math.degrees(lam), math.degrees(math.atan(tau))


@njit(cache=True, nogil=True)
def _forward_many(lon, lat, central_meridian, false_easting):
    x = np.empty(len(lon), dtype=np.float64)
    y = np.empty(len(lon), dtype=np.float64)
    for k in range(len(lon)):
        x[k], y[k] = forward_xy(lon[k], lat[k], central_meridian, false_easting)
    return x, y


def forward(lon: float, lat: float, zone: Zone) -> tuple[float, float]:
    """(x easting, y northing) in metres of a CGCS2000 lon/lat."""
    return forward_xy(float(lon), float(lat), zone.central_meridian, zone.false_easting)


def forward_many(lon, lat, zone: Zone) -> tuple[np.ndarray, np.ndarray]:
    """:func:`forward` for arrays of points."""
    lon = np.ascontiguousarray(lon, dtype=np.float64)
    lat = np.ascontiguousarray(lat, dtype=np.float64)
    return _forward_many(lon, lat, float(zone.central_meridian), float(zone.false_easting))


def forward_coords(coords: np.ndarray, zone: Zone) -> np.ndarray:
    """:func:`forward` for an (n, 2) array of lon/lat (``shapely.transform``'s form)."""
    x, y = forward_many(coords[:, 0], coords[:, 1], zone)
    return np.column_stack([x, y])
