"""Normalising and reprojecting polygons in one pass gives exactly what normalising and then
reprojecting gives: the same MultiPolygons, byte for byte, the same kept rows, the same report
and the areas before reprojection — for plain polygons, which take the short way (shapely's
ragged arrays), and for everything that does not: repaired bow-ties, holes, multiparts,
missing, empty, 3D and collapsing shapes."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from tests import catalogue
from weijian.errors import InputError
from weijian.gis import crs as crs_mod
from weijian.gis.geometry import normalise_polygons, normalise_reprojected


def mixed() -> np.ndarray:
    x, y = catalogue.origin_in(catalogue.GK_PLAIN)
    shapes = list(catalogue.parcels().geometry)  # a bow-tie, a hole, a multipart among them
    shapes += [
        None,
        shapely.Polygon(),
        shapely.Polygon([(x, y, 5.0), (x + 30, y, 6.0), (x + 30, y + 20, 7.0), (x, y, 5.0)]),
        shapely.Polygon([(x, y), (x + 10, y), (x + 20, y), (x, y)]),  # collapses to a line
        shapely.GeometryCollection([catalogue.square(x + 500, y, 40)]),
        shapely.MultiPolygon([catalogue.square(x + 900, y, 25), shapely.Polygon()]),
    ]
    return np.array(shapes * 3, dtype=object)


@pytest.mark.parametrize(
    "source", [f"EPSG:{catalogue.GK_PLAIN}", "gcj02", "EPSG:4490"], ids=["gk", "gcj02", "same"]
)
def test_one_pass_equals_normalising_then_reprojecting(source):
    geoms = mixed()
    source_crs = crs_mod.parse_crs_option(source)
    if source == "gcj02":  # lon/lat: the parcels moved to Baishan
        geoms = crs_mod.to_storage(geoms, crs_mod.parse_crs_option(f"EPSG:{catalogue.GK_PLAIN}"))
    reproject = crs_mod.storage_coordinates(source_crs)

    plain, keep, repair = normalise_polygons(geoms, "测试图层")
    both = normalise_reprojected(geoms, "测试图层", reproject)

    assert both.keep.tolist() == keep.tolist()
    assert both.repair == repair
    assert repair.dropped_null == 3 and repair.dropped_empty == 3
    if source != "gcj02":  # moved to lon/lat first: 2D, and the collapsing line a thin triangle
        assert repair.repaired == 6 and repair.dropped_collapsed == 3  # bow-ties and lines
        assert repair.z_dropped == 3
    assert (shapely.get_type_id(both.geoms) == 6).all()
    expected = crs_mod.to_storage(plain, source_crs)
    assert shapely.to_wkb(both.geoms).tolist() == shapely.to_wkb(expected).tolist()
    assert both.area.tolist() == shapely.area(plain).tolist()


def test_plain_polygons_only_and_none_left():
    x, y = catalogue.origin_in(catalogue.GK_PLAIN)
    gk = crs_mod.parse_crs_option(f"EPSG:{catalogue.GK_PLAIN}")
    reproject = crs_mod.storage_coordinates(gk)
    squares = np.array([catalogue.square(x + 50 * i, y, 30) for i in range(5)], dtype=object)
    both = normalise_reprojected(squares, "测试图层", reproject)
    assert both.keep.all() and both.area.tolist() == [900.0] * 5
    expected = crs_mod.to_storage(shapely.multipolygons(squares[:, None]), gk)
    assert shapely.equals_exact(both.geoms, expected, 0).all()

    nothing = normalise_reprojected(np.array([None, shapely.Polygon()]), "测试图层", reproject)
    assert len(nothing.geoms) == 0 and not nothing.keep.any()


def test_points_are_refused_before_anything_is_reprojected():
    calls = []
    with pytest.raises(InputError) as refused:
        normalise_reprojected(
            np.array([shapely.Point(0, 0), shapely.box(0, 0, 1, 1)]),
            "测试图层",
            lambda coords: calls.append(coords) or coords,
        )
    assert refused.value.code == "import.not_polygons" and calls == []
