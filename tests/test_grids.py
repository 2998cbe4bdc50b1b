"""The four grid levels: parents from a field or derived spatially, responsible people,
refusals for missing levels and duplicate codes."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests import catalogue
from weijian.errors import ConflictError, InputError
from weijian.layers.importing import GridImport, import_grids


def grids(engine, level):
    with engine.connect() as conn:
        return [
            dict(r)
            for r in conn.execute(
                text(
                    "SELECT code, name, parent_code, responsible, area_m2 FROM active_grid "
                    "WHERE level = :level ORDER BY code"
                ),
                {"level": level},
            ).mappings()
        ]


def write(tmp_path, frame, stem, **kwargs):
    return catalogue.write_shapefile(frame, tmp_path / stem, stem, **kwargs)


def test_four_levels_with_derived_and_given_parents(engine, tmp_path):
    district = catalogue.grid_squares("district", ["220602"], ["浑江区"], size=4000)
    towns = catalogue.grid_squares(
        "town", ["220602001", "220602002"], ["新建街道", "红旗街道"], size=2000, y_offset=1000
    )
    towns["SJDM"] = ["220602", "220602"]
    communities = catalogue.grid_squares(
        "community",
        ["220602001001", "220602001002", "220602002001"],
        ["东山社区", "和平社区", "新华社区"],
        size=500,
        y_offset=1200,
        x_offset=100,
        columns=3,
    )
    communities = communities.iloc[[0, 1]]
    import geopandas as gpd
    import shapely

    x0, y0 = catalogue.origin_in(catalogue.GK_PLAIN)
    third = gpd.GeoDataFrame(
        {"DM": ["220602002001"], "MC": ["新华社区"], "FZR": ["王芳"], "LXDH": ["13500001111"]},
        geometry=[shapely.box(x0 + 2300, y0 + 1300, x0 + 2800, y0 + 1800)],
        crs="EPSG:4551",
    )
    communities = gpd.GeoDataFrame(
        gpd.pd.concat([communities, third], ignore_index=True), crs="EPSG:4551"
    )
    compounds = catalogue.grid_squares(
        "compound", ["220602001001001"], ["江山花园"], size=100, x_offset=150, y_offset=1250
    )

    common = dict(code_field="DM", name_field="MC", responsible_field="FZR", phone_field="LXDH")
    import_grids(
        engine, GridImport(path=write(tmp_path, district, "district"), level="district", **common)
    )
    report = import_grids(
        engine,
        GridImport(
            path=write(tmp_path, towns, "town"), level="town", parent_field="SJDM", **common
        ),
    )
    assert report["parents"]["unknown_codes"] == [] and report["parents"]["without_parent"] == 0
    report = import_grids(
        engine,
        GridImport(
            path=write(tmp_path, communities, "community", cpg=False, language_byte=0),
            level="community",
            **common,
        ),
    )
    assert report["parents"]["derived_spatially"] == 3
    import_grids(
        engine, GridImport(path=write(tmp_path, compounds, "compound"), level="compound", **common)
    )

    assert [(g["code"], g["parent_code"]) for g in grids(engine, "community")] == [
        ("220602001001", "220602001"),
        ("220602001002", "220602001"),
        ("220602002001", "220602002"),
    ]
    town = grids(engine, "town")[0]
    assert town["name"] == "新建街道"
    assert town["responsible"] == [
        {"name": "张伟", "phone": "13904391234"},
        {"name": "李娜", "phone": "13904395678"},
    ]
    assert town["area_m2"] == pytest.approx(4_000_000, rel=1e-3)
    assert grids(engine, "compound")[0]["parent_code"] == "220602001001"
    assert grids(engine, "community")[2]["responsible"] == [
        {"name": "王芳", "phone": "13500001111"}
    ]


def test_unknown_parent_codes_are_reported(engine, tmp_path):
    district = catalogue.grid_squares("district", ["220602"], ["浑江区"], size=4000)
    import_grids(
        engine,
        GridImport(
            path=write(tmp_path, district, "d"), level="district", code_field="DM", name_field="MC"
        ),
    )
    towns = catalogue.grid_squares("town", ["220602001"], ["新建街道"], size=1000)
    towns["SJDM"] = ["220699"]
    report = import_grids(
        engine,
        GridImport(
            path=write(tmp_path, towns, "t"),
            level="town",
            code_field="DM",
            name_field="MC",
            parent_field="SJDM",
        ),
    )
    assert report["parents"]["unknown_codes"] == ["220699"]


def test_level_above_must_exist_to_derive(engine, tmp_path):
    towns = catalogue.grid_squares("town", ["220602001"], ["新建街道"])
    with pytest.raises(ConflictError, match="import the district level first") as refused:
        import_grids(
            engine,
            GridImport(
                path=write(tmp_path, towns, "t"), level="town", code_field="DM", name_field="MC"
            ),
        )
    assert refused.value.code == "grid.parent_level_missing"
    assert refused.value.message.startswith("尚未导入区县网格，无法推算镇办网格的上级网格")


def test_duplicate_and_missing_codes_refused(engine, tmp_path):
    frame = catalogue.grid_squares("district", ["220602", "220602"], ["浑江区", "江源区"])
    with pytest.raises(InputError, match="more than once: 220602") as duplicate:
        import_grids(
            engine,
            GridImport(
                path=write(tmp_path, frame, "a"), level="district", code_field="DM", name_field="MC"
            ),
        )
    assert duplicate.value.code == "grid.code_duplicate"
    assert duplicate.value.message == "网格编码重复：220602。每个网格须有自己的 DM"
    frame = catalogue.grid_squares("district", ["220602", ""], ["浑江区", "江源区"])
    with pytest.raises(InputError, match="no code or no name") as missing:
        import_grids(
            engine,
            GridImport(
                path=write(tmp_path, frame, "b"), level="district", code_field="DM", name_field="MC"
            ),
        )
    assert missing.value.code == "grid.code_or_name_missing"
    assert missing.value.message.startswith("有 1 个网格缺少编码或名称（第 2 行）")
    with pytest.raises(InputError, match="unknown grid level") as unknown:
        import_grids(
            engine,
            GridImport(
                path=write(tmp_path, frame, "c"), level="street", code_field="DM", name_field="MC"
            ),
        )
    assert unknown.value.code == "grid.level_unknown"
    assert unknown.value.message.startswith("未知的网格层级“street”，可选：district（区县）")
