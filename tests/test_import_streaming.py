"""The streamed import (read and prepared in chunks while the previous chunk is COPYed) stores
exactly what the one-pass import stores, refuses exactly what it refuses, and leaves the active
version untouched when it fails — on a real GBK shapefile in Gauss-Krüger, in the real PostGIS."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from sqlalchemy import text

from tests import catalogue
from weijian.errors import InputError
from weijian.layers import streaming
from weijian.layers.importing import ZoneImport, import_zones

COPIES = 300  # of the catalogue's six parcels (a bow-tie, a hole, a multipart among them)
CHUNK = 500


def big_landuse(
    folder, stem: str = "landuse", *, bad_code_at: int | None = None, far_at: int | None = None
):
    """1,800 parcels plus two without a shape, GBK DBF with .cpg, CGCS2000 3° Gauss-Krüger
    CM 126E: the catalogue's parcels repeated on a grid, with Chinese names and decimals."""
    base = catalogue.parcels()
    geoms, rows = [], []
    for copy in range(COPIES):
        dx, dy = (copy % 20) * 1400.0, (copy // 20) * 400.0
        for i, geom in enumerate(base.geometry):
            geoms.append(shapely.transform(geom, lambda c, dx=dx, dy=dy: c + np.array([dx, dy])))
            rows.append(
                {
                    "BSM": copy * 6 + i + 1,
                    "DLBM": base["DLBM"][i],
                    "DLMC": base["DLMC"][i],
                    "QSDWMC": f"{base['QSDWMC'][i]}第{copy}组",
                    "TBMJ": round(1234.5678 + copy * 7.25 + i / 3, 4),
                }
            )
    for at in (700, 1500):  # features without a shape: dropped and counted
        geoms.insert(at, None)
        rows.insert(at, {**rows[at], "BSM": 100_000 + at})
    if bad_code_at is not None:
        rows[bad_code_at] = {**rows[bad_code_at], "DLBM": "9999"}
    if far_at is not None:  # 4,500 km south: outside China once converted
        geoms[far_at] = shapely.transform(geoms[far_at], lambda c: c - np.array([0.0, 4_500_000.0]))
    frame = catalogue.gpd.GeoDataFrame(rows, geometry=geoms, crs=f"EPSG:{catalogue.GK_PLAIN}")
    return catalogue.write_shapefile(frame, folder, stem, encoding="GBK")


def streamed(monkeypatch) -> None:
    monkeypatch.setattr(streaming, "CHUNK_FEATURES", CHUNK)
    monkeypatch.setattr(streaming, "MIN_FEATURES", 2 * CHUNK)


def one_pass(monkeypatch) -> None:
    monkeypatch.setattr(streaming, "MIN_FEATURES", 10**9)


def request(path, layer: str = "landuse", **more) -> ZoneImport:
    return ZoneImport(path=path, layer=layer, code_field="DLBM", name_field="DLMC", **more)


def stored(engine, layer: str) -> tuple[list[tuple], tuple]:
    """Every zone of the layer's newest version as stored (EWKB of both geometries), and the
    version's count and box."""
    with engine.connect() as conn:
        zones = conn.execute(
            text(
                "SELECT z.kind, z.code, z.name, z.area_m2, z.attributes, ST_AsEWKB(z.geom),"
                " ST_AsEWKB(z.geom_3857) FROM zone z JOIN layer_version v ON v.id = z.version_id"
                " JOIN layer l ON l.id = v.layer_id WHERE l.name = :layer ORDER BY z.id"
            ),
            {"layer": layer},
        ).all()
        version = conn.execute(
            text(
                "SELECT v.feature_count, ST_AsEWKB(v.bbox), v.activated_at IS NOT NULL"
                " FROM layer_version v JOIN layer l ON l.id = v.layer_id WHERE l.name = :layer"
            ),
            {"layer": layer},
        ).one()
    return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in z) for z in zones], (
        version[0],
        bytes(version[1]),
        version[2],
    )


def comparable(report: dict) -> dict:
    return {k: v for k, v in report.items() if k not in ("seconds", "layer", "version", "streamed")}


def test_streamed_rows_equal_one_pass(engine, tmp_path, monkeypatch):
    shp = big_landuse(tmp_path)
    seen: list[tuple[int, int]] = []
    streamed(monkeypatch)
    fast = import_zones(
        engine, request(shp, "fast", progress=lambda done, total: seen.append((done, total)))
    )
    one_pass(monkeypatch)
    slow = import_zones(engine, request(shp, "slow"))

    assert fast["streamed"] == {"chunks": 4, "features_per_chunk": CHUNK}
    assert "streamed" not in slow
    assert seen == [(500, 1802), (1000, 1802), (1500, 1802), (1802, 1802)]
    assert comparable(fast) == comparable(slow)
    assert fast["features"] == {"read": 1802, "imported": 1800}
    # the file's reading time as a clock saw it, not the threads' times added up
    assert 0 < fast["seconds"]["read"] <= fast["seconds"]["total"]
    assert fast["geometry"]["repaired"] == COPIES  # every bow-tie
    assert fast["geometry"]["dropped"]["null"] == 2
    assert fast["encoding"]["encoding"] == "gbk"
    fast_rows, fast_version = stored(engine, "fast")
    slow_rows, slow_version = stored(engine, "slow")
    assert len(fast_rows) == 1800
    assert fast_rows == slow_rows  # kinds, codes, names, areas, attributes, geometries
    assert fast_version == slow_version == (1800, fast_version[1], True)
    assert {r[2] for r in fast_rows} == set(catalogue.parcels()["DLMC"])
    assert fast_rows[7][4]["QSDWMC"] == "新华村村民委员会第1组"
    assert fast_rows[7][4]["TBMJ"] == pytest.approx(1234.5678 + 7.25 + 1 / 3, abs=1e-4)


@pytest.mark.parametrize(
    ("spoil", "code"),
    [
        ({"bad_code_at": 1700}, "landuse.code_unknown"),  # in the last chunk
        ({"far_at": 1600}, "import.feature_outside_china"),  # a whole-file check, after COPY
    ],
)
def test_refusal_in_a_late_chunk_keeps_the_active_version(
    engine, tmp_path, monkeypatch, spoil, code
):
    streamed(monkeypatch)
    good = import_zones(engine, request(big_landuse(tmp_path / "good")))
    assert good["streamed"]["chunks"] == 4
    before = stored(engine, "landuse")

    spoilt = big_landuse(tmp_path / "spoilt", **spoil)
    with pytest.raises(InputError) as streamed_error:
        import_zones(engine, request(spoilt))
    one_pass(monkeypatch)
    with pytest.raises(InputError) as one_pass_error:
        import_zones(engine, request(spoilt, dry_run=True))

    assert streamed_error.value.code == one_pass_error.value.code == code
    assert streamed_error.value.message == one_pass_error.value.message
    assert stored(engine, "landuse") == before  # version 1 only, active, its rows unchanged
    with engine.connect() as conn:
        versions = conn.execute(
            text(
                "SELECT count(*) FROM layer_version v JOIN layer l ON l.id = v.layer_id"
                " WHERE l.name = 'landuse'"
            )
        ).scalar_one()
    assert versions == 1


def test_reading_time_counts_the_seconds_threads_read_side_by_side_once():
    def chunk(start: float, end: float) -> streaming.Chunk:
        return streaming.Chunk(0, None, None, None, None, None, (start, end))

    spans = [chunk(0.0, 2.0), chunk(1.0, 3.0), chunk(5.0, 6.0), chunk(5.5, 5.8)]
    assert streaming.reading_seconds(spans) == 4.0
    assert streaming.reading_seconds([]) == 0.0


def test_worker_errors_reach_the_consumer_and_a_stop_cancels_the_rest():
    made: list[int] = []

    def square(i: int) -> int:
        made.append(i)
        if i == 3:
            raise ValueError("the fourth item")
        return i * i

    with pytest.raises(ValueError, match="fourth"):
        list(streaming.in_threads(square, range(100), workers=2, ahead=4))
    assert len(made) <= 8  # the items up to the error and those ahead of it, no more
    made.clear()
    taken = []
    for item in streaming.in_threads(square, (i for i in range(1000) if i != 3), 2, 3):
        taken.append(item)
        if item == 25:
            break
    assert taken == [0, 1, 4, 16, 25]
    assert len(made) <= 8  # not the thousand: the items not started were cancelled
