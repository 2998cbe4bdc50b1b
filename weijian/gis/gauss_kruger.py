"""CGCS2000 Gauss-Krüger (transverse Mercator) for one point at a time, in plain Python.

PROJ does the bulk work; for a single point its call overhead (~10 µs) is most of a lookup's
budget, so the single-point path uses Krüger's series (to n⁶, sub-millimetre within a zone,
Karney 2011 §4) instead. Tested against pyproj."""

from __future__ import annotations

import cmath
import math
from dataclasses import dataclass
from functools import lru_cache

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


RECTIFYING_RADIUS_M = _rectifying_radius(THIRD_FLATTENING)
ALPHA = _kruger_alpha(THIRD_FLATTENING)


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


def forward(lon: float, lat: float, zone: Zone) -> tuple[float, float]:
    """(x easting, y northing) in metres of a CGCS2000 lon/lat."""
    sin_phi = math.sin(math.radians(lat))
    lam = math.radians(lon - zone.central_meridian)
    t = math.sinh(math.atanh(sin_phi) - ECCENTRICITY * math.atanh(ECCENTRICITY * sin_phi))
    xi = math.atan2(t, math.cos(lam))
    eta = math.atanh(math.sin(lam) / math.sqrt(1 + t * t))
    # Σ αⱼ sin(2j(ξ + iη)) by Clenshaw's recurrence on complex numbers (Karney 2011 §7): two
    # complex sines and cosines for the six terms instead of twenty-four real ones
    z = complex(2 * xi, 2 * eta)
    twice_cos = 2 * cmath.cos(z)
    b1 = b2 = 0j
    for alpha in reversed(ALPHA):
        b1, b2 = alpha + twice_cos * b1 - b2, b1
    series = cmath.sin(z) * b1
    return (
        zone.false_easting + RECTIFYING_RADIUS_M * (eta + series.imag),
        RECTIFYING_RADIUS_M * (xi + series.real),
    )
