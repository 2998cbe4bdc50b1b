"""The basemap under the supervisors' map, from the settings: none, the XYZ tiles of a city's
own tile server, or the Tianditu (天地图) preset — the national basemap a Chinese city uses: the
vector map and its annotation layer, in Web Mercator (``_w``) as Leaflet draws, requested the
WMTS way with the city's key, from the public service or an intranet mirror. Tianditu is in
CGCS2000, which is WGS84 within centimetres: no shift is applied (GCJ-02 tiles, AMap's and
Tencent's, are shifted back by the page)."""

from __future__ import annotations

from urllib.parse import urlencode

from weijian.errors import EnvironmentProblem
from weijian.settings import Settings

TIANDITU_LAYERS = (("vec", "天地图矢量底图"), ("cva", "天地图矢量注记"))
TIANDITU_SUBDOMAINS = "01234567"
TIANDITU_MAX_ZOOM = 18
TIANDITU_ATTRIBUTION = "天地图 © 国家地理信息公共服务平台"
PUBLIC_TIANDITU = "tianditu.gov.cn"


def tianditu_url(base: str, layer: str, key: str | None) -> str:
    """A Leaflet tile URL of one Tianditu layer: ``{base}/{layer}_w/wmts?…`` with the tile's
    matrix, row and column in Leaflet's ``{z}``, ``{y}``, ``{x}``."""
    query = {
        "SERVICE": "WMTS",
        "REQUEST": "GetTile",
        "VERSION": "1.0.0",
        "LAYER": layer,
        "STYLE": "default",
        "TILEMATRIXSET": "w",
        "FORMAT": "tiles",
    }
    tail = urlencode(query) + "&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}"
    if key:
        tail += "&" + urlencode({"tk": key})
    return f"{base.rstrip('/')}/{layer}_w/wmts?{tail}"


def basemap_config(settings: Settings) -> dict:
    """What the page draws under the overlays: ``layers`` from the bottom up, each a tile URL
    with its subdomains, zoom and attribution, and the datum of the tiles (``crs``)."""
    kind = settings.basemap or ("xyz" if settings.basemap_url else None)
    if kind == "tianditu":
        base = settings.tianditu_url
        if PUBLIC_TIANDITU in base and not settings.tianditu_key:
            raise EnvironmentProblem(
                "天地图底图需要本单位申请的密钥：请设置 WEIJIAN_TIANDITU_KEY，"
                "或用 WEIJIAN_TIANDITU_URL 指向内网天地图镜像",
                code="basemap.tianditu_key_missing",
                detail="the Tianditu preset needs WEIJIAN_TIANDITU_KEY with the public service",
                hint="set WEIJIAN_TIANDITU_KEY, or WEIJIAN_TIANDITU_URL to an intranet mirror",
            )
        layers = [
            {
                "name": name,
                "url": tianditu_url(base, layer, settings.tianditu_key),
                "subdomains": TIANDITU_SUBDOMAINS if "{s}" in base else "",
                "max_zoom": TIANDITU_MAX_ZOOM,
                "attribution": TIANDITU_ATTRIBUTION if i == 0 else "",
            }
            for i, (layer, name) in enumerate(TIANDITU_LAYERS)
        ]
        return {"kind": "tianditu", "crs": "cgcs2000", "layers": layers}
    if kind == "xyz" and settings.basemap_url:
        layer = {
            "name": "底图",
            "url": settings.basemap_url,
            "subdomains": "abc" if "{s}" in settings.basemap_url else "",
            "max_zoom": settings.basemap_max_zoom,
            "attribution": settings.basemap_attribution,
        }
        return {"kind": "xyz", "crs": settings.basemap_crs, "layers": [layer]}
    return {"kind": None, "crs": None, "layers": []}
