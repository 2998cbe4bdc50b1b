"""The compiled Gauss-Krüger formulas against PROJ, one point and many."""

from __future__ import annotations

import numpy as np
import pyproj
import pytest

from weijian.gis.gauss_kruger import (
    forward,
    forward_coords,
    forward_many,
    inverse_xy,
    zone_of_epsg,
)


@pytest.mark.parametrize("epsg", [4551, 4552, 4530, 4531, 4508, 4497])
def test_forward_matches_proj_to_a_millimetre(epsg):
    zone = zone_of_epsg(epsg)
    transformer = pyproj.Transformer.from_crs(4490, epsg, always_xy=True)
    rng = np.random.default_rng(epsg)
    lon = zone.central_meridian + rng.uniform(-1.6, 1.6, 2000)
    lat = rng.uniform(18, 53, 2000)
    x_ref, y_ref = transformer.transform(lon, lat)
    ours = np.array([forward(a, b, zone) for a, b in zip(lon, lat, strict=True)])
    # Krüger's series to n⁶ and PROJ's agree to some nanometres within a zone
    assert np.abs(ours[:, 0] - x_ref).max() < 1e-6
    assert np.abs(ours[:, 1] - y_ref).max() < 1e-6
    # one point or many: the same compiled function, the same bits
    x, y = forward_many(lon, lat, zone)
    assert np.array_equal(x, ours[:, 0]) and np.array_equal(y, ours[:, 1])
    assert np.array_equal(forward_coords(np.column_stack([lon, lat]), zone), ours)


def test_not_a_gauss_kruger_zone():
    with pytest.raises(ValueError):
        zone_of_epsg(4326)


@pytest.mark.parametrize("epsg", [4551, 4530, 4497])
def test_inverse_matches_proj_and_undoes_forward(epsg):
    zone = zone_of_epsg(epsg)
    transformer = pyproj.Transformer.from_crs(4490, epsg, always_xy=True)
    rng = np.random.default_rng(epsg)
    lon = zone.central_meridian + rng.uniform(-3.0, 3.0, 2000)  # a 6° zone's width
    lat = rng.uniform(18, 53, 2000)
    x, y = forward_many(lon, lat, zone)
    cm, fe = zone.central_meridian, zone.false_easting
    back = np.array([inverse_xy(a, b, cm, fe) for a, b in zip(x, y, strict=True)])
    lon_ref, lat_ref = transformer.transform(x, y, direction="INVERSE")
    # 1e-12° is some 0.1 µm on the ground
    assert np.abs(back[:, 0] - lon_ref).max() < 1e-12
    assert np.abs(back[:, 1] - lat_ref).max() < 1e-12
    assert np.abs(back[:, 0] - lon).max() < 1e-12
    assert np.abs(back[:, 1] - lat).max() < 1e-12
