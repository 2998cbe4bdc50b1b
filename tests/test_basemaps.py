"""The basemap presets, from the settings (no browser: tests/test_web_map_browser.py draws them)."""

from __future__ import annotations

import pytest

from weijian.errors import EnvironmentProblem
from weijian.settings import Settings
from weijian.web_map.basemaps import basemap_config, tianditu_url


def test_no_basemap_by_default():
    assert basemap_config(Settings()) == {"kind": None, "crs": None, "layers": []}


def test_a_city_s_own_xyz_tiles():
    got = basemap_config(Settings(basemap_url="http://tiles.gov/{z}/{x}/{y}.png"))
    assert got["kind"] == "xyz" and got["crs"] == "wgs84"
    assert [layer["url"] for layer in got["layers"]] == ["http://tiles.gov/{z}/{x}/{y}.png"]


def test_tianditu_public_service_with_the_city_s_key():
    got = basemap_config(Settings(basemap="tianditu", tianditu_key="abc"))
    assert got["kind"] == "tianditu" and got["crs"] == "cgcs2000"  # no GCJ shift
    vec, cva = got["layers"]
    assert vec["url"] == (
        "https://t{s}.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
        "&LAYER=vec&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
        "&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=abc"
    )
    assert "/cva_w/wmts?" in cva["url"] and "LAYER=cva" in cva["url"]
    assert vec["subdomains"] == "01234567" and vec["max_zoom"] == 18
    assert "天地图" in vec["attribution"] and cva["attribution"] == ""


def test_tianditu_mirror_on_the_intranet_and_a_missing_key():
    mirror = basemap_config(Settings(basemap="tianditu", tianditu_url="http://tdt.gov.cn/"))
    assert mirror["layers"][0]["url"].startswith("http://tdt.gov.cn/vec_w/wmts?")
    assert "tk=" not in mirror["layers"][0]["url"] and mirror["layers"][0]["subdomains"] == ""
    with pytest.raises(EnvironmentProblem) as refused:
        basemap_config(Settings(basemap="tianditu"))
    assert refused.value.code == "basemap.tianditu_key_missing"
    assert "WEIJIAN_TIANDITU_KEY" in refused.value.message
    assert tianditu_url("http://x", "vec", "k&y").endswith("&tk=k%26y")  # escaped
