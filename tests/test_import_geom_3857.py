"""The zones' and grids' Web Mercator copy (``geom_3857``, read by the map's tiles) is written
by the importer, streamed or in one pass: every stored row carries exactly what
``ST_Transform(geom, 3857)`` gives, none is left without it, and migration 0021 keeps the
values it found and gives the generated column back on its way down."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from tests import catalogue
from tests.conftest import empty_database
from tests.test_import_streaming import big_landuse, one_pass, request, streamed
from weijian.db.engine import MIGRATIONS, engine_for, migrate
from weijian.layers.importing import GridImport, import_grids, import_zones

#: rows whose stored copy differs from the server's transformation, and the largest gap (m)
DIFFERENT = """
SELECT count(*) FILTER (WHERE ST_AsEWKB(geom_3857) <> ST_AsEWKB(ST_Transform(geom, 3857))),
       coalesce(max(ST_HausdorffDistance(geom_3857, ST_Transform(geom, 3857))), 0),
       count(*) FILTER (WHERE geom_3857 IS NULL),
       count(*)
FROM {table}
"""


def differences(engine, table: str) -> tuple[int, float, int, int]:
    with engine.connect() as conn:
        return tuple(conn.execute(text(DIFFERENT.format(table=table))).one())


def test_streamed_and_one_pass_zones_carry_the_servers_transform(engine, tmp_path, monkeypatch):
    shp = big_landuse(tmp_path)
    streamed(monkeypatch)
    fast = import_zones(engine, request(shp, "fast"))
    one_pass(monkeypatch)
    import_zones(engine, request(shp, "slow"))
    assert fast["streamed"]["chunks"] == 4
    assert differences(engine, "zone") == (0, 0.0, 0, 3600)


def test_grids_carry_the_servers_transform(engine, tmp_path):
    squares = catalogue.grid_squares(
        "district", ["220602", "220603"], ["浑江区", "江源区"], size=4000
    )
    path = catalogue.write_shapefile(squares, tmp_path / "district", "district")
    import_grids(engine, GridImport(path=path, level="district", code_field="DM", name_field="MC"))
    assert differences(engine, "grid") == (0, 0.0, 0, 2)


def test_no_zone_or_grid_row_without_its_copy(engine, tmp_path, monkeypatch):
    one_pass(monkeypatch)
    import_zones(engine, request(big_landuse(tmp_path), "landuse"))
    with pytest.raises(IntegrityError, match="geom_3857"), engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO zone (version_id, kind, geom) SELECT version_id, kind, geom "
                "FROM zone LIMIT 1"
            )
        )
    with pytest.raises(IntegrityError, match="geom_3857"), engine.begin() as conn:
        conn.execute(text("UPDATE zone SET geom_3857 = NULL WHERE id = (SELECT min(id) FROM zone)"))


def _generated(conn, table: str) -> str:
    return conn.execute(
        text(
            "SELECT attgenerated FROM pg_attribute "
            "WHERE attrelid = CAST(:table AS regclass) AND attname = 'geom_3857'"
        ),
        {"table": table},
    ).scalar_one()


def test_migration_keeps_the_values_and_downgrades_to_the_generated_column():
    with empty_database() as url:
        migrate(url, "0020")
        engine = engine_for(url)
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO layer (name, family) VALUES ('landuse', 'zones');"
                    "INSERT INTO layer_version (layer_id, number, source, source_sha256, "
                    "feature_count, report) SELECT id, 1, 'a.shp', 'x', 1, '{}' FROM layer;"
                    "UPDATE layer SET active_version_id = (SELECT id FROM layer_version);"
                    "INSERT INTO zone (version_id, kind, geom) SELECT id, 'urban_managed', "
                    "ST_Multi(ST_MakeEnvelope(126.4, 41.9, 126.5, 42.0, 4490)) "
                    "FROM layer_version"
                )
            )
            before = conn.execute(text("SELECT ST_AsEWKB(geom_3857) FROM zone")).scalar_one()
        migrate(url, "head")
        with engine.connect() as conn:
            assert _generated(conn, "zone") == _generated(conn, "grid") == ""
            assert conn.execute(text("SELECT ST_AsEWKB(geom_3857) FROM zone")).scalar_one() == (
                before
            )
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["url"] = url
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0020")
        with engine.connect() as conn:
            assert _generated(conn, "zone") == _generated(conn, "grid") == "s"
            assert (
                conn.execute(text("SELECT ST_AsEWKB(geom_3857) FROM active_zone")).scalar_one()
                == before
            )
        engine.dispose()
