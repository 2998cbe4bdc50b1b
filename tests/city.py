"""A hand-built city small enough to know every answer by heart.

Two districts side by side (浑江区 west, 江源区 east), 4 km squares in Gauss-Krüger CM 126E.
In 浑江区: an urban management area (the south-west 2 km square) and, across it all, land-use
parcels of 1 km: farmland, forest, homestead, urban construction land. In 江源区: town-planned
construction land (its south-west km) and a forest parcel with a hole. Grids below the
district level only in 浑江区's urban area: one street, one community, one compound."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import shapely

from tests import catalogue
from weijian.layers.importing import GridImport, ZoneImport, import_grids, import_zones

X0, Y0 = catalogue.origin_in(catalogue.GK_PLAIN)
KM = 1000.0


def box(x0, y0, x1, y1):
    return shapely.box(X0 + x0 * KM, Y0 + y0 * KM, X0 + x1 * KM, Y0 + y1 * KM)


def frame(rows: list[dict]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        [{k: v for k, v in r.items() if k != "geometry"} for r in rows],
        geometry=[r["geometry"] for r in rows],
        crs="EPSG:4551",
    )


#: the tables :func:`build` writes, in an order that copies them
TABLES = ("layer", "layer_version", "zone", "grid")
#: per database and state: the rows of its tables and their sequences (:func:`built_once`)
_COPIES: dict[tuple[str, str], tuple[dict[str, bytes], dict[str, tuple[int, bool]]]] = {}


def new_towns(engine, folder: Path, towns: list[tuple[str, str, str, shapely.Geometry]]) -> None:
    """New town boundaries imported and activated, as a town's shapefile would bring them:
    (code, name, responsible person, geometry) each."""
    rows = [
        {"DM": code, "MC": name, "FZR": person, "DH": str(n), "geometry": geometry}
        for n, (code, name, person, geometry) in enumerate(towns, start=1)
    ]
    path = catalogue.write_shapefile(frame(rows), folder / "towns", "towns")
    import_grids(
        engine,
        GridImport(path=path, level="town", code_field="DM", name_field="MC",
                   responsible_field="FZR", phone_field="DH"),
    )  # fmt: skip


def built_once(engine, name: str, tables: tuple[str, ...], build: Callable[[], None]) -> None:
    """``build()``, which writes rows into ``tables`` only, run on a database whose ``tables``
    are empty: the first time on each database, and copied back the next times — the very
    rows, ids and sequences it wrote then (``COPY``), in a fraction of the time. Where the tables
    hold rows already (or the user may not skip the references' checks) it is just run."""
    key = (engine.url.render_as_string(hide_password=False), name)
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        empty = not any(
            conn.execute(f"SELECT EXISTS (SELECT FROM {table})").fetchone()[0] for table in tables
        )
        superuser = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        copyable = empty and superuser.fetchone()[0]
        if copyable and key in _COPIES:
            rows, sequences = _COPIES[key]
            # the two-way references of layer and layer_version are checked by triggers that a
            # replica session skips; the rows are those the first build wrote, references valid
            conn.execute("SET LOCAL session_replication_role = replica")
            for table in tables:
                if table == "zone":  # its versions' tables first (migration 0026)
                    for (version,) in conn.execute(_ZONE_VERSIONS).fetchall():
                        conn.execute("SELECT weijian_zone_partition(%s)", (version,))
                        conn.execute("SELECT weijian_zone_attach(%s)", (version,))
                columns = _stored_columns(conn, table)
                with conn.cursor().copy(
                    f"COPY {table} ({columns}) FROM STDIN (FORMAT binary)"
                ) as copy:
                    copy.write(rows[table])
            for sequence, (value, called) in sequences.items():
                conn.execute("SELECT setval(%s, %s, %s)", (sequence, value, called))
            conn.commit()
            return
        conn.rollback()
    finally:
        raw.close()
    build()
    if copyable:
        _COPIES[key] = _copy_out(engine, tables)


_ZONE_VERSIONS = (
    "SELECT v.id FROM layer_version v JOIN layer l ON l.id = v.layer_id WHERE l.family = 'zones'"
)


def _stored_columns(conn, table: str) -> str:
    """The table's columns but the generated ones, in their order: what COPY writes and reads."""
    names = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s"
        " AND table_schema = 'public' AND is_generated = 'NEVER' ORDER BY ordinal_position",
        (table,),
    ).fetchall()
    return ", ".join(name for (name,) in names)


def _copy_out(engine, tables: tuple[str, ...]):
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        rows: dict[str, bytes] = {}
        sequences: dict[str, tuple[int, bool]] = {}
        for table in tables:
            columns = _stored_columns(conn, table)
            with conn.cursor().copy(
                f"COPY (SELECT {columns} FROM {table}) TO STDOUT (FORMAT binary)"
            ) as copy:
                rows[table] = b"".join(bytes(chunk) for chunk in copy)
            found = conn.execute("SELECT pg_get_serial_sequence(%s, 'id')", (table,))
            sequence = found.fetchone()[0]
            if sequence:
                value, called = conn.execute(
                    f"SELECT last_value, is_called FROM {sequence}"
                ).fetchone()
                sequences[sequence] = (value, called)
        conn.rollback()
        return rows, sequences
    finally:
        raw.close()


#: the districts :func:`build` imports: code → (x0, y0, x1, y1) in km
DISTRICTS = {"220602": (0, 0, 4, 4), "220605": (4, 0, 8, 4)}


def holed_forest() -> shapely.Polygon:
    """江源区's forest parcel, with a hole in its middle."""
    return shapely.Polygon(
        box(5, 0, 6, 1).exterior.coords, [box(5.4, 0.4, 5.6, 0.6).exterior.coords]
    )


def zones() -> list[tuple[str, str, shapely.Polygon, str]]:
    """Every zone :func:`build` imports: layer, name, geometry (EPSG:4551) and the department
    type the seeded rules name for the zone alone ("" where no rule matches it)."""
    return [
        ("urban_managed", "浑江区城市化管理区域", box(0, 0, 2, 2), "urban_enforcement"),
        ("town_planned", "江源区镇规划建设用地", box(4, 0, 5, 1), "county_government"),
        ("landuse", "旱地", box(0, 2, 1, 3), "natural_resources"),
        ("landuse", "乔木林地", box(1, 2, 2, 3), "natural_resources"),
        ("landuse", "农村宅基地", box(2, 2, 3, 3), "natural_resources"),
        ("landuse", "城镇住宅用地", box(3, 2, 4, 3), ""),
        ("landuse", "水田", box(0, 0, 1, 1), "natural_resources"),
        ("landuse", "乔木林地", holed_forest(), "natural_resources"),
    ]


def build(engine, folder: Path) -> None:
    def shp(name, rows):
        return catalogue.write_shapefile(frame(rows), folder / name, name)

    common = dict(code_field="DM", name_field="MC", responsible_field="FZR", phone_field="DH")
    import_grids(
        engine,
        GridImport(
            path=shp(
                "district",
                [
                    {
                        "DM": "220602",
                        "MC": "浑江区",
                        "FZR": "赵军",
                        "DH": "13904390001",
                        "geometry": box(0, 0, 4, 4),
                    },
                    {
                        "DM": "220605",
                        "MC": "江源区",
                        "FZR": "钱鹏",
                        "DH": "13904390002",
                        "geometry": box(4, 0, 8, 4),
                    },
                ],
            ),
            level="district",
            **common,
        ),
    )
    import_grids(
        engine,
        GridImport(
            path=shp(
                "town",
                [
                    {
                        "DM": "220602001",
                        "MC": "新建街道",
                        "FZR": "孙丽",
                        "DH": "13904390003",
                        "geometry": box(0, 0, 2, 2),
                    },
                ],
            ),
            level="town",
            **common,
        ),
    )
    import_grids(
        engine,
        GridImport(
            path=shp(
                "community",
                [
                    {
                        "DM": "220602001001",
                        "MC": "东山社区",
                        "FZR": "李强",
                        "DH": "13904390004",
                        "geometry": box(0, 0, 1, 1),
                    },
                ],
            ),
            level="community",
            **common,
        ),
    )
    import_grids(
        engine,
        GridImport(
            path=shp(
                "compound",
                [
                    {
                        "DM": "220602001001001",
                        "MC": "江山花园",
                        "FZR": "周敏",
                        "DH": "13904390005",
                        "geometry": box(0.2, 0.2, 0.4, 0.4),
                    },
                ],
            ),
            level="compound",
            **common,
        ),
    )
    import_zones(
        engine,
        ZoneImport(
            path=shp(
                "urban",
                [
                    {"MC": "浑江区城市化管理区域", "geometry": box(0, 0, 2, 2)},
                ],
            ),
            layer="urban_managed",
            kind="urban_managed",
            name_field="MC",
        ),
    )
    import_zones(
        engine,
        ZoneImport(
            path=shp(
                "planned",
                [
                    {"MC": "江源区镇规划建设用地", "geometry": box(4, 0, 5, 1)},
                ],
            ),
            layer="town_planned",
            kind="town_planned",
            name_field="MC",
        ),
    )
    holed = holed_forest()
    import_zones(
        engine,
        ZoneImport(
            path=shp(
                "landuse",
                [
                    {"DLBM": "0103", "DLMC": "旱地", "geometry": box(0, 2, 1, 3)},
                    {"DLBM": "0301", "DLMC": "乔木林地", "geometry": box(1, 2, 2, 3)},
                    {"DLBM": "0702", "DLMC": "农村宅基地", "geometry": box(2, 2, 3, 3)},
                    {"DLBM": "0701", "DLMC": "城镇住宅用地", "geometry": box(3, 2, 4, 3)},
                    {"DLBM": "0101", "DLMC": "水田", "geometry": box(0, 0, 1, 1)},
                    {"DLBM": "0301", "DLMC": "乔木林地", "geometry": holed},
                ],
            ),
            layer="landuse",
            code_field="DLBM",
            name_field="DLMC",
        ),
    )


def lonlat(x_km: float, y_km: float) -> tuple[float, float]:
    """CGCS2000 lon/lat of a spot given in km from the city's south-west corner."""
    import pyproj

    transformer = pyproj.Transformer.from_crs(4551, 4490, always_xy=True)
    return transformer.transform(X0 + x_km * KM, Y0 + y_km * KM)
