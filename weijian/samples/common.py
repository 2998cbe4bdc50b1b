"""What every module of the sample-city generator shares: the coordinate systems, and the
types of a log, a random generator and a coordinate pair."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Log = Callable[[str], None]
Rng = np.random.Generator
XY = tuple[float, float]

METRIC_CRS = "EPSG:4551"  # CGCS2000 / 3-degree Gauss-Kruger CM 126E
ZONE_PREFIXED_CRS = "EPSG:4530"  # CGCS2000 / 3-degree Gauss-Kruger zone 42 (x = 42,xxx,xxx)
GEOGRAPHIC_CRS = "EPSG:4490"  # CGCS2000 geographic
WGS84_CRS = "EPSG:4326"
