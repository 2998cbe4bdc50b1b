"""Tests for weijian.gis.chinese_datums (WGS84 ↔ GCJ-02 ↔ BD-09). Pure: no database."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from pyproj import Geod

from weijian.gis.chinese_datums import (
    CONVERTERS,
    DATUM_NAMES,
    bd09_to_gcj02,
    bd09_to_wgs84,
    convert,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    in_china,
    transform_geometry,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

REFERENCE_TOL = 1e-5  # degrees; the brief's bar for published reference values
ROUND_TRIP_TOL = 1e-8  # degrees

# --- Published reference values --------------------------------------------------------------
#
# wandergis/coordtransform (test/app.js and README; the same numbers are asserted by the
# coordtransform-rs test-suite and by hutool's CoordinateUtilTest), input (116.404, 39.915):
#   wgs84togcj02 → (116.41024449916938, 39.91640428150164)
#   gcj02tobd09  → (116.41036949371029, 39.92133699351021)
#   gcj02towgs84 → (116.39775550083061, 39.91359571849836)   one-step approximation
#   bd09togcj02  → (116.39762729119315, 39.90865673957631)   one-step approximation
CT_INPUT = (116.404, 39.915)
CT_WGS84_TO_GCJ02 = (116.41024449916938, 39.91640428150164)
CT_GCJ02_TO_BD09 = (116.41036949371029, 39.92133699351021)
CT_GCJ02_TO_WGS84_ONE_STEP = (116.39775550083061, 39.91359571849836)
CT_BD09_TO_GCJ02_ONE_STEP = (116.39762729119315, 39.90865673957631)

# googollee/eviltransform (go/transform_test.go, python/test.py, javascript/test.js, php tests),
# published there as (wgsLat, wgsLng, gcjLat, gcjLng); stored here as lon/lat pairs.
EVILTRANSFORM_WGS84_GCJ02 = {
    "shanghai": ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),
    "shenzhen": ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),
    "beijing": ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),
}

BAISHAN = (126.42, 41.94)  # Baishan, Jilin

OUTSIDE_CHINA = {
    "paris": (2.3522, 48.8566),
    "new_york": (-74.006, 40.7128),
    "sydney": (151.2093, -33.8688),
    "tokyo": (139.6917, 35.6895),  # east of the box's 137.8347°E edge
    "moscow": (37.6173, 55.7558),
}

POINT_FUNCTIONS = {
    "wgs84_to_gcj02": wgs84_to_gcj02,
    "gcj02_to_wgs84": gcj02_to_wgs84,
    "gcj02_to_bd09": gcj02_to_bd09,
    "bd09_to_gcj02": bd09_to_gcj02,
    "wgs84_to_bd09": wgs84_to_bd09,
    "bd09_to_wgs84": bd09_to_wgs84,
}

_GEOD = Geod(ellps="WGS84")


def china_grid(n: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """n × n points covering mainland China (and its surroundings) inside the GCJ-02 box."""
    lon, lat = np.meshgrid(np.linspace(73.5, 135.0, n), np.linspace(18.0, 53.5, n))
    return lon.ravel(), lat.ravel()


def metres_between(a: tuple[float, float], b: tuple[float, float]) -> float:
    _, _, distance = _GEOD.inv(a[0], a[1], b[0], b[1])
    return float(distance)


# --- Reference values ------------------------------------------------------------------------


def test_coordtransform_wgs84_to_gcj02() -> None:
    assert wgs84_to_gcj02(*CT_INPUT) == pytest.approx(CT_WGS84_TO_GCJ02, abs=1e-12)


def test_coordtransform_gcj02_to_bd09() -> None:
    assert gcj02_to_bd09(*CT_INPUT) == pytest.approx(CT_GCJ02_TO_BD09, abs=1e-12)


def test_coordtransform_wgs84_to_bd09_is_the_composition() -> None:
    expected = gcj02_to_bd09(*CT_WGS84_TO_GCJ02)
    assert wgs84_to_bd09(*CT_INPUT) == pytest.approx(expected, abs=1e-12)


def test_exact_inverses_invert_the_published_forward_values() -> None:
    assert gcj02_to_wgs84(*CT_WGS84_TO_GCJ02) == pytest.approx(CT_INPUT, abs=1e-9)
    assert bd09_to_gcj02(*CT_GCJ02_TO_BD09) == pytest.approx(CT_INPUT, abs=1e-9)
    assert bd09_to_wgs84(*gcj02_to_bd09(*CT_WGS84_TO_GCJ02)) == pytest.approx(CT_INPUT, abs=1e-9)


def test_inverses_agree_with_published_one_step_values() -> None:
    # coordtransform publishes the one-step approximate inverses; the iterated ones differ
    # from them by well under the reference tolerance, and are closer to a true inverse.
    got_wgs = gcj02_to_wgs84(*CT_INPUT)
    got_gcj = bd09_to_gcj02(*CT_INPUT)
    assert got_wgs == pytest.approx(CT_GCJ02_TO_WGS84_ONE_STEP, abs=REFERENCE_TOL)
    assert got_gcj == pytest.approx(CT_BD09_TO_GCJ02_ONE_STEP, abs=REFERENCE_TOL)

    def miss(forward_result: tuple[float, float]) -> float:
        return max(abs(forward_result[0] - CT_INPUT[0]), abs(forward_result[1] - CT_INPUT[1]))

    assert miss(wgs84_to_gcj02(*got_wgs)) < miss(wgs84_to_gcj02(*CT_GCJ02_TO_WGS84_ONE_STEP))
    assert miss(gcj02_to_bd09(*got_gcj)) < miss(gcj02_to_bd09(*CT_BD09_TO_GCJ02_ONE_STEP))


@pytest.mark.parametrize("city", sorted(EVILTRANSFORM_WGS84_GCJ02))
def test_eviltransform_wgs84_gcj02_pairs(city: str) -> None:
    wgs, gcj = EVILTRANSFORM_WGS84_GCJ02[city]
    assert wgs84_to_gcj02(*wgs) == pytest.approx(gcj, abs=REFERENCE_TOL)
    assert gcj02_to_wgs84(*gcj) == pytest.approx(wgs, abs=REFERENCE_TOL)
    # In fact they agree to the last few digits published.
    assert wgs84_to_gcj02(*wgs) == pytest.approx(gcj, abs=1e-9)
    assert gcj02_to_wgs84(*gcj) == pytest.approx(wgs, abs=1e-9)


# --- Round trips on a 100 × 100 grid over China ----------------------------------------------


def test_round_trip_wgs84_gcj02_wgs84() -> None:
    lon, lat = china_grid()
    back_lon, back_lat = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert np.abs(back_lon - lon).max() < ROUND_TRIP_TOL
    assert np.abs(back_lat - lat).max() < ROUND_TRIP_TOL


def test_round_trip_gcj02_wgs84_gcj02() -> None:
    lon, lat = china_grid()
    back_lon, back_lat = wgs84_to_gcj02(*gcj02_to_wgs84(lon, lat))
    assert np.abs(back_lon - lon).max() < ROUND_TRIP_TOL
    assert np.abs(back_lat - lat).max() < ROUND_TRIP_TOL


def test_round_trip_gcj02_bd09_gcj02() -> None:
    lon, lat = china_grid()
    back_lon, back_lat = bd09_to_gcj02(*gcj02_to_bd09(lon, lat))
    assert np.abs(back_lon - lon).max() < ROUND_TRIP_TOL
    assert np.abs(back_lat - lat).max() < ROUND_TRIP_TOL


def test_round_trip_wgs84_bd09_wgs84() -> None:
    lon, lat = china_grid()
    back_lon, back_lat = bd09_to_wgs84(*wgs84_to_bd09(lon, lat))
    assert np.abs(back_lon - lon).max() < ROUND_TRIP_TOL
    assert np.abs(back_lat - lat).max() < ROUND_TRIP_TOL


def test_grid_is_really_inside_the_box_and_really_shifted() -> None:
    lon, lat = china_grid()
    assert lon.size == 10_000
    assert in_china(lon, lat).all()
    gcj_lon, gcj_lat = wgs84_to_gcj02(lon, lat)
    shift = np.hypot(gcj_lon - lon, gcj_lat - lat)
    assert shift.min() > 1e-4  # every grid point moves (by tens of metres at least)


# --- Outside China ---------------------------------------------------------------------------


@pytest.mark.parametrize("place", sorted(OUTSIDE_CHINA))
def test_outside_china_gcj02_is_identity(place: str) -> None:
    lon, lat = OUTSIDE_CHINA[place]
    assert in_china(lon, lat) is False
    assert wgs84_to_gcj02(lon, lat) == (lon, lat)
    assert gcj02_to_wgs84(lon, lat) == (lon, lat)
    assert convert(lon, lat, "wgs84", "gcj02") == (lon, lat)


def test_outside_china_bd09_is_only_the_baidu_step() -> None:
    lon, lat = OUTSIDE_CHINA["paris"]
    assert wgs84_to_bd09(lon, lat) == gcj02_to_bd09(lon, lat)
    assert bd09_to_wgs84(*wgs84_to_bd09(lon, lat)) == pytest.approx((lon, lat), abs=1e-9)


def test_mixed_array_only_shifts_points_inside() -> None:
    lon = np.array([OUTSIDE_CHINA["paris"][0], BAISHAN[0], OUTSIDE_CHINA["tokyo"][0]])
    lat = np.array([OUTSIDE_CHINA["paris"][1], BAISHAN[1], OUTSIDE_CHINA["tokyo"][1]])
    np.testing.assert_array_equal(in_china(lon, lat), [False, True, False])
    for fn in (wgs84_to_gcj02, gcj02_to_wgs84):
        out_lon, out_lat = fn(lon, lat)
        assert out_lon[[0, 2]].tolist() == lon[[0, 2]].tolist()
        assert out_lat[[0, 2]].tolist() == lat[[0, 2]].tolist()
        assert out_lon[1] != lon[1]
        assert out_lat[1] != lat[1]


def test_in_china_box_edges() -> None:
    assert in_china(72.004, 0.8293) is True
    assert in_china(137.8347, 55.8271) is True
    assert in_china(72.0, 30.0) is False
    assert in_china(137.84, 30.0) is False
    assert in_china(100.0, 0.8) is False
    assert in_china(100.0, 55.83) is False


# --- Kinds: scalars and arrays ---------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(POINT_FUNCTIONS))
def test_arrays_and_scalars_give_the_same_numbers(name: str) -> None:
    fn = POINT_FUNCTIONS[name]
    lon = np.array([116.404, 126.42, 121.5272106, 113.912316, 87.6, 2.3522, 135.0])
    lat = np.array([39.915, 41.94, 31.1774276, 22.543847, 43.8, 48.8566, 18.0])
    arr_lon, arr_lat = fn(lon, lat)
    assert isinstance(arr_lon, np.ndarray) and isinstance(arr_lat, np.ndarray)
    assert arr_lon.dtype == np.float64 and arr_lat.dtype == np.float64
    assert arr_lon.shape == lon.shape and arr_lat.shape == lat.shape
    for i in range(lon.size):
        one_lon, one_lat = fn(float(lon[i]), float(lat[i]))
        assert type(one_lon) is float and type(one_lat) is float
        assert one_lon == pytest.approx(arr_lon[i], abs=1e-12)
        assert one_lat == pytest.approx(arr_lat[i], abs=1e-12)


@pytest.mark.parametrize("name", sorted(POINT_FUNCTIONS))
def test_array_shape_is_kept_and_input_untouched(name: str) -> None:
    fn = POINT_FUNCTIONS[name]
    lon, lat = china_grid(6)
    lon, lat = lon.reshape(4, 9), lat.reshape(4, 9)
    lon_before, lat_before = lon.copy(), lat.copy()
    out_lon, out_lat = fn(lon, lat)
    assert out_lon.shape == (4, 9) and out_lat.shape == (4, 9)
    np.testing.assert_array_equal(lon, lon_before)
    np.testing.assert_array_equal(lat, lat_before)
    flat_lon, flat_lat = fn(lon.ravel(), lat.ravel())
    np.testing.assert_allclose(out_lon.ravel(), flat_lon, rtol=0, atol=1e-12)
    np.testing.assert_allclose(out_lat.ravel(), flat_lat, rtol=0, atol=1e-12)


def test_integer_and_numpy_scalar_inputs_give_floats() -> None:
    lon, lat = wgs84_to_gcj02(np.float64(126), 42)
    assert type(lon) is float and type(lat) is float
    assert (lon, lat) == pytest.approx(wgs84_to_gcj02(126.0, 42.0), abs=0)


def test_mismatched_shapes_are_rejected() -> None:
    with pytest.raises(ValueError, match="same shape"):
        wgs84_to_gcj02(np.zeros(3), np.zeros(4))


def test_empty_arrays() -> None:
    for fn in POINT_FUNCTIONS.values():
        out_lon, out_lat = fn(np.empty(0), np.empty(0))
        assert out_lon.shape == (0,) and out_lat.shape == (0,)


def test_nan_propagates_without_hanging() -> None:
    lon, lat = gcj02_to_wgs84(np.array([np.nan, 126.42]), np.array([41.94, np.nan]))
    assert np.isnan(lon[0]) and np.isnan(lat[1])
    lon, lat = bd09_to_gcj02(np.array([np.nan, 126.42]), np.array([41.94, 41.94]))
    assert np.isnan(lon[0]) and np.isfinite(lon[1])


# --- Baishan, Jilin --------------------------------------------------------------------------


def test_offset_near_baishan_is_hundreds_of_metres() -> None:
    gcj = wgs84_to_gcj02(*BAISHAN)
    assert 400.0 < metres_between(BAISHAN, gcj) < 700.0
    # Reading a GCJ-02 coordinate as WGS84 is off by the same amount the other way.
    wgs = gcj02_to_wgs84(*BAISHAN)
    assert 400.0 < metres_between(BAISHAN, wgs) < 700.0
    # Baidu adds its own ~1 km on top.
    assert metres_between(BAISHAN, wgs84_to_bd09(*BAISHAN)) > 700.0


# --- CONVERTERS and convert() ----------------------------------------------------------------


def test_converters_cover_every_pair() -> None:
    expected = {(s, t) for s in DATUM_NAMES for t in DATUM_NAMES if s != t}
    assert set(CONVERTERS) == expected
    assert set(DATUM_NAMES) == {"wgs84", "gcj02", "bd09"}
    assert CONVERTERS[("gcj02", "wgs84")] is gcj02_to_wgs84
    assert CONVERTERS[("wgs84", "bd09")] is wgs84_to_bd09


@pytest.mark.parametrize(("source", "target"), sorted(CONVERTERS))
def test_convert_dispatches(source: str, target: str) -> None:
    lon, lat = china_grid(5)
    got = convert(lon, lat, source, target)
    want = CONVERTERS[(source, target)](lon, lat)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    assert convert(*BAISHAN, source, target) == CONVERTERS[(source, target)](*BAISHAN)


@pytest.mark.parametrize("name", DATUM_NAMES)
def test_convert_same_name_is_identity(name: str) -> None:
    assert convert(*BAISHAN, name, name) == BAISHAN
    lon, lat = china_grid(3)
    out_lon, out_lat = convert(lon, lat, name, name)
    np.testing.assert_array_equal(out_lon, lon)
    np.testing.assert_array_equal(out_lat, lat)
    assert out_lon is not lon


@pytest.mark.parametrize(("source", "target"), [("wgs84", "cgcs"), ("GCJ-02", "wgs84")])
def test_convert_unknown_name(source: str, target: str) -> None:
    with pytest.raises(ValueError, match=r"'wgs84', 'gcj02', 'bd09'"):
        convert(*BAISHAN, source, target)
    with pytest.raises(ValueError, match="allowed"):
        transform_geometry(shapely.Point(BAISHAN), source, target)


# --- Geometries ------------------------------------------------------------------------------


def _baishan_polygon() -> shapely.Polygon:
    shell = [(126.40, 41.93), (126.44, 41.93), (126.44, 41.96), (126.40, 41.96), (126.40, 41.93)]
    hole = [(126.41, 41.94), (126.42, 41.94), (126.42, 41.95), (126.41, 41.94)]
    return shapely.Polygon(shell, [hole])


@pytest.mark.parametrize(("source", "target"), sorted(CONVERTERS))
def test_transform_polygon_moves_every_vertex_like_the_points(source: str, target: str) -> None:
    polygon = _baishan_polygon()
    moved = transform_geometry(polygon, source, target)
    assert isinstance(moved, shapely.Polygon)
    assert len(moved.interiors) == 1
    before = shapely.get_coordinates(polygon)
    after = shapely.get_coordinates(moved)
    assert after.shape == before.shape
    want_lon, want_lat = convert(before[:, 0], before[:, 1], source, target)
    np.testing.assert_allclose(after[:, 0], want_lon, rtol=0, atol=1e-12)
    np.testing.assert_allclose(after[:, 1], want_lat, rtol=0, atol=1e-12)
    # and it really moved, by the same hundreds of metres as a point
    shift = metres_between(tuple(before[0]), tuple(after[0]))
    assert shift > 400.0
    # rings stay closed
    assert moved.exterior.coords[0] == moved.exterior.coords[-1]


def test_transform_geometry_round_trip() -> None:
    polygon = _baishan_polygon()
    back = transform_geometry(transform_geometry(polygon, "wgs84", "bd09"), "bd09", "wgs84")
    np.testing.assert_allclose(
        shapely.get_coordinates(back), shapely.get_coordinates(polygon), rtol=0, atol=1e-9
    )


def test_transform_geometry_array_keeps_kind_and_none() -> None:
    geoms = np.array(
        [
            shapely.Point(BAISHAN),
            _baishan_polygon(),
            None,
            shapely.LineString([(116.404, 39.915), (121.5272106, 31.1774276)]),
            shapely.Point(OUTSIDE_CHINA["paris"]),
            shapely.Polygon(),
        ],
        dtype=object,
    )
    moved = transform_geometry(geoms, "wgs84", "gcj02")
    assert isinstance(moved, np.ndarray) and moved.shape == geoms.shape
    assert moved[2] is None
    assert moved[5].is_empty
    assert shapely.get_coordinates(moved[0])[0] == pytest.approx(wgs84_to_gcj02(*BAISHAN))
    assert shapely.get_coordinates(moved[3])[0] == pytest.approx(CT_WGS84_TO_GCJ02)
    assert shapely.get_coordinates(moved[4])[0] == pytest.approx(OUTSIDE_CHINA["paris"], abs=0)


def test_transform_geometry_drops_z() -> None:
    moved = transform_geometry(shapely.Point(126.42, 41.94, 800.0), "wgs84", "gcj02")
    assert not moved.has_z
    assert (moved.x, moved.y) == pytest.approx(wgs84_to_gcj02(*BAISHAN), abs=1e-12)


def test_transform_geometry_same_name_returns_input() -> None:
    polygon = _baishan_polygon()
    assert transform_geometry(polygon, "gcj02", "gcj02") is polygon
