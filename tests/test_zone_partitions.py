"""Each version of a zone layer is a partition of ``zone`` of its own (migration 0026): COPYed
bare, its indexes built once when it is attached, in the importing transaction. What readers
see is one table, as before; what an import refuses leaves no table behind; the application's
role does it all through the two functions the migration gives it; two zone imports at once
take turns instead of deadlocking; and the migration keeps the zones a database already holds,
both ways."""

from __future__ import annotations

import contextlib
import threading

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text

from tests.conftest import empty_database
from tests.test_import_streaming import big_landuse, one_pass, request, streamed
from weijian.db.engine import MIGRATIONS, app_engine_for, engine_for, migrate
from weijian.errors import InputError
from weijian.layers.importing import import_zones
from weijian.layers.repository import active_zones


def partitions(engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(
            conn.execute(
                text(
                    "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
                    " JOIN pg_class c ON c.oid = i.inhrelid"
                    " WHERE i.inhparent = 'zone'::regclass ORDER BY 1"
                )
            ).all()
        )


def loose_tables(engine) -> list[str]:
    """Version tables not attached to ``zone``: what a failed import would leave behind."""
    with engine.connect() as conn:
        return (
            conn.execute(
                text(
                    r"SELECT relname FROM pg_class WHERE relname LIKE 'zone\_v%' AND relkind = 'r'"
                    " AND NOT relispartition"
                )
            )
            .scalars()
            .all()
        )


def indexes(engine, table: str) -> list[str]:
    with engine.connect() as conn:
        return sorted(
            conn.execute(
                text("SELECT indexdef FROM pg_indexes WHERE tablename = :t"), {"t": table}
            ).scalars()
        )


def version_ids(engine, layer: str) -> list[int]:
    with engine.connect() as conn:
        return (
            conn.execute(
                text(
                    "SELECT v.id FROM layer_version v JOIN layer l ON l.id = v.layer_id"
                    " WHERE l.name = :n ORDER BY v.number"
                ),
                {"n": layer},
            )
            .scalars()
            .all()
        )


def test_a_version_is_a_partition_of_its_own_with_its_indexes(
    engine, database_url, tmp_path, monkeypatch
):
    app = app_engine_for(database_url)  # as the API and the workers import: weijian_app
    streamed(monkeypatch)
    first = import_zones(app, request(big_landuse(tmp_path / "v1")))
    assert first["streamed"]["chunks"] == 4
    one_pass(monkeypatch)
    import_zones(app, request(big_landuse(tmp_path / "v2")))
    v1, v2 = version_ids(engine, "landuse")
    assert partitions(engine) == {
        f"zone_v{v1}": f"FOR VALUES IN ({v1})",
        f"zone_v{v2}": f"FOR VALUES IN ({v2})",
    }
    for v in (v1, v2):
        made = indexes(engine, f"zone_v{v}")
        assert len(made) == 3, made
        assert sum("USING gist (geom)" in d for d in made) == 1
        assert sum("USING gist (geom_3857)" in d for d in made) == 1
        assert sum("UNIQUE INDEX" in d and "(id, version_id)" in d for d in made) == 1

    with engine.connect() as conn:
        counts = dict(conn.execute(text("SELECT version_id, count(*) FROM zone GROUP BY 1")).all())
        assert counts == {v1: 1800, v2: 1800}
        assert conn.execute(text("SELECT count(*) FROM active_zone")).scalar() == 1800
        plan = "\n".join(
            conn.execute(
                text("EXPLAIN (COSTS OFF) SELECT count(*) FROM zone WHERE version_id = :v"),
                {"v": v1},
            ).scalars()
        )
        assert f"zone_v{v1}" in plan and f"zone_v{v2}" not in plan
        # the stored Web Mercator copy is there in the attached table, as in the parent
        assert (
            conn.execute(
                text(f"SELECT count(*) FROM zone_v{v2} WHERE ST_SRID(geom_3857) = 3857")
            ).scalar()
            == 1800
        )

    streamed(monkeypatch)
    with pytest.raises(InputError):  # refused after some chunks were COPYed into its table
        import_zones(app, request(big_landuse(tmp_path / "bad", bad_code_at=1700)))
    assert loose_tables(engine) == []
    assert list(partitions(engine)) == [f"zone_v{v1}", f"zone_v{v2}"]


def test_the_active_zones_plan_only_the_active_versions_tables(engine, tmp_path, monkeypatch):
    with engine.connect() as conn:  # no zone layer yet: nothing, and no error
        assert conn.execute(text(f"SELECT count(*) FROM {active_zones(conn)} z")).scalar() == 0
    one_pass(monkeypatch)
    for name in ("v1", "v2"):
        import_zones(engine, request(big_landuse(tmp_path / name)))
    import_zones(engine, request(big_landuse(tmp_path / "p"), layer="planning"))
    old, new = version_ids(engine, "landuse")
    (planning,) = version_ids(engine, "planning")
    columns = "id, layer, kind, code, name, area_m2, attributes, ST_AsEWKB(geom_3857)"
    with engine.connect() as conn:
        zones = active_zones(conn)
        rows = conn.execute(text(f"SELECT {columns} FROM {zones} z ORDER BY id")).all()
        assert rows == conn.execute(text(f"SELECT {columns} FROM active_zone ORDER BY id")).all()
        assert len(rows) == 3600
        plan = "\n".join(
            conn.execute(
                text(
                    f"EXPLAIN (COSTS OFF) SELECT count(*) FROM {zones} z"
                    " WHERE z.geom_3857 && ST_TileEnvelope(10, 870, 370)"
                )
            ).scalars()
        )
    assert f"zone_v{new}" in plan and f"zone_v{planning}" in plan
    assert f"zone_v{old}" not in plan  # the inactive version's table is not even planned


def test_a_version_id_met_again_after_a_restart_of_the_ids_gets_a_new_table(
    engine, tmp_path, monkeypatch
):
    one_pass(monkeypatch)
    import_zones(engine, request(big_landuse(tmp_path / "a")))
    (v,) = version_ids(engine, "landuse")
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE layer, layer_version RESTART IDENTITY CASCADE"))
    import_zones(engine, request(big_landuse(tmp_path / "b"), layer="other"))
    assert version_ids(engine, "other") == [v]  # the same id again
    assert partitions(engine) == {f"zone_v{v}": f"FOR VALUES IN ({v})"}
    with engine.connect() as conn:
        assert conn.execute(text(f"SELECT count(*) FROM zone_v{v}")).scalar() == 1800

    with engine.begin() as conn, pytest.raises(Exception, match="already has zones"):
        conn.execute(text("SELECT weijian_zone_partition(:v)"), {"v": v})


def test_two_zone_layers_imported_at_once_both_land(engine, tmp_path, monkeypatch):
    """Each import waits, between its chunks, for the other to reach the same point. Had both
    created their versions, each attachment would wait for the other's transaction (it locks
    ``layer_version`` against new rows, and ``zone`` against another attachment): a deadlock.
    They take turns from the start instead, so the first finishes and the second follows."""
    streamed(monkeypatch)
    files = {name: big_landuse(tmp_path / name) for name in ("landuse", "planning")}
    both = threading.Barrier(2)
    errors: list[BaseException] = []

    def meet(done: int, total: int) -> None:
        with contextlib.suppress(threading.BrokenBarrierError):  # the other waits its turn
            both.wait(timeout=3)

    def run(name: str) -> None:
        try:
            import_zones(engine, request(files[name], layer=name, progress=meet))
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(name,)) for name in files]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    with engine.connect() as conn:
        active = dict(
            conn.execute(
                text(
                    "SELECT l.name, count(*) FROM active_zone z JOIN layer l ON l.name = z.layer"
                    " GROUP BY 1"
                )
            ).all()
        )
    assert active == {"landuse": 1800, "planning": 1800}


def _downgrade(url: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["url"] = url
    with engine_for(url).begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


SEED = """
INSERT INTO layer (id, name, family, title) VALUES (1, 'landuse', 'zones', '土地利用');
INSERT INTO layer_version (id, layer_id, number, source, source_sha256, feature_count, bbox,
                           report)
    VALUES (7, 1, 1, 'a.shp', 'x', 2, ST_MakeEnvelope(126, 41, 127, 42, 4490), '{}'),
           (9, 1, 2, 'b.shp', 'y', 1, ST_MakeEnvelope(126, 41, 127, 42, 4490), '{}');
UPDATE layer SET active_version_id = 9 WHERE id = 1;
INSERT INTO zone (version_id, kind, code, name, geom) VALUES
    (7, 'homestead', '0702', '宅基地', ST_Multi(ST_MakeEnvelope(126.1, 41.1, 126.2, 41.2, 4490))),
    (7, 'forest', '0301', '林地', ST_Multi(ST_MakeEnvelope(126.3, 41.1, 126.4, 41.2, 4490))),
    (9, 'farmland', '0103', '旱地', ST_Multi(ST_MakeEnvelope(126.5, 41.1, 126.6, 41.2, 4490)));
"""

ROWS = "SELECT id, version_id, kind, code, name, ST_AsText(geom_3857) FROM zone ORDER BY id"


def test_the_migration_keeps_the_zones_both_ways():
    with empty_database() as url:
        migrate(url, "0025")
        engine = engine_for(url)
        with engine.begin() as conn:
            conn.execute(text(SEED))
            before = conn.execute(text(ROWS)).all()
            active = conn.execute(text("SELECT * FROM active_zone")).all()
        migrate(url)
        assert partitions(engine) == {
            "zone_v7": "FOR VALUES IN (7)",
            "zone_v9": "FOR VALUES IN (9)",
        }
        with engine.begin() as conn:
            assert conn.execute(text(ROWS)).all() == before
            assert conn.execute(text("SELECT * FROM active_zone")).all() == active
        with engine.begin() as conn, pytest.raises(Exception, match="already has zones"):
            conn.execute(text("SELECT weijian_zone_partition(9)"))
        _downgrade(url, "0025")
        with engine.begin() as conn:
            assert conn.execute(text(ROWS)).all() == before
            assert conn.execute(text("SELECT to_regclass('zone_v7')")).scalar() is None
            next_id = conn.execute(text("SELECT nextval('zone_id_seq')")).scalar()
            assert next_id > max(row.id for row in before)
        migrate(url)
        assert list(partitions(engine)) == ["zone_v7", "zone_v9"]
