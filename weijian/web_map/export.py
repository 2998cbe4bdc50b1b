"""A view of the supervisors' map as one HTML file to send: made with folium, every script and
style carried in the file (Leaflet from the map's own npm assets, no CDN, no tiles), so it
opens offline on a meeting room's laptop. It holds what the view shows within the user's
scope and filters — the grids of the view's level (coloured by a campaign's progress when one
is chosen), the cases as points coloured by state, overdue ones ringed in red — and a legend
with the scope, the filters, the date and the definitions. Nothing personal: a case is its
number, state and place; no reporter, no phone, no grid's responsible people."""

from __future__ import annotations

import html
import json
from datetime import datetime
from pathlib import Path

from sqlalchemy import text

from weijian.cases.clock import LOCAL
from weijian.cases.rows import overdue_sql
from weijian.cases.scope import Principal
from weijian.cases.users import grid_of
from weijian.layers.model import GRID_LEVELS
from weijian.oversight import units
from weijian.styles import shape_svg, state_legend, state_shape, state_style
from weijian.web_map.filters import MapFilters

MAX_CASES = 5000  # points carried in one file; the legend says when there were more
MAX_GRIDS = 2000
#: the Leaflet files the page itself serves, carried inline
LEAFLET = ("leaflet/dist/leaflet.js", "leaflet/dist/leaflet.css")


def export_html(
    service,
    principal: Principal,
    filters: MapFilters,
    bbox: tuple[float, float, float, float],
    level: str,
    campaign: int | None,
    assets_dir: Path,
) -> bytes:
    """The view as a standalone HTML document (UTF-8)."""
    import folium

    service.require_map_user(principal)
    if level not in GRID_LEVELS:
        level = "district"
    now = service.now()
    grids = _grids(service, principal, level, bbox)
    cases, more = _cases(service, principal, filters, bbox, now)
    choropleth = service.choropleth(principal, campaign, level) if campaign else None

    x0, y0, x1, y1 = bbox
    m = folium.Map(
        location=[(y0 + y1) / 2, (x0 + x1) / 2],
        tiles=None,
        zoom_animation=False,  # drawn at once, at the view's extent
    )
    m.default_js, m.default_css = [], []  # no CDN: Leaflet goes in the file below
    js, css = (Path(assets_dir, rel).read_text(encoding="utf-8") for rel in LEAFLET)
    header = m.get_root().header
    header.add_child(folium.Element(f"<style>{css}</style>"), name="leaflet_css")
    header.add_child(folium.Element(f"<script>{js}</script>"), name="leaflet_js")
    header.add_child(folium.Element(f"<title>{html.escape(_title(principal, now))}</title>"))
    header.add_child(folium.Element(f"<style>{LEGEND_CSS}</style>"))
    m.fit_bounds([[y0, x0], [y1, x1]])
    _metric_scale().add_to(m)

    _grid_layer(grids, level, choropleth).add_to(m)
    _case_layer(cases).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    legend = _legend(service, principal, filters, level, choropleth, len(cases), more, now)
    m.get_root().html.add_child(folium.Element(legend))
    return m.get_root().render().encode("utf-8")


def _metric_scale():
    """A scale bar in metres only, drawn with the map (folium's shows feet too)."""
    from branca.element import MacroElement
    from jinja2 import Template

    element = MacroElement()
    element._template = Template(
        "{% macro script(this, kwargs) %}"
        "L.control.scale({imperial: false}).addTo({{ this._parent.get_name() }});"
        "{% endmacro %}"
    )
    return element


def _title(principal: Principal, now: datetime) -> str:
    return f"违法建设监管地图（{now.astimezone(LOCAL):%Y年%m月%d日}导出）"


def _grids(service, principal: Principal, level: str, bbox) -> list[dict]:
    codes = service.scope_codes(principal)
    scoped = "" if codes is None else "AND code = ANY(:codes)"
    x0, y0, x1, y1 = bbox
    tolerance = max(x1 - x0, y1 - y0) / 4000  # about a pixel of a large screen
    with service.cases.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT code, name, ST_AsGeoJSON(ST_SimplifyPreserveTopology(geom, :tol), 6) "
                "AS g FROM active_grid WHERE level = :level "
                "AND geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4490) "
                f"{scoped} ORDER BY code LIMIT :n"
            ),
            {
                "level": level,
                "tol": tolerance,
                "codes": codes,
                "n": MAX_GRIDS,
                "x0": x0,
                "y0": y0,
                "x1": x1,
                "y1": y1,
            },
        ).all()
    return [{"code": r.code, "name": r.name, "geometry": json.loads(r.g)} for r in rows]


def _cases(service, principal: Principal, filters: MapFilters, bbox, now) -> tuple[list, bool]:
    where, params = service.case_condition(principal, filters, now)
    x0, y0, x1, y1 = bbox
    with service.cases.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT c.number, c.state, c.is_open, ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat, "
                f"coalesce(c.address, '') AS address, {overdue_sql('c')} AS overdue "
                "FROM violation_case c WHERE c.geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4490) "
                f"AND {where} ORDER BY c.reported_at DESC, c.id DESC LIMIT :n"
            ),
            {**params, "x0": x0, "y0": y0, "x1": x1, "y1": y1, "n": MAX_CASES + 1},
        ).all()
    wf = service.cases.workflow
    out = [
        {
            "number": r.number,
            "state_label": wf.states[r.state].label if r.state in wf.states else r.state,
            "icon": _icon(r.state, r.is_open, bool(r.overdue)),
            "overdue": bool(r.overdue),
            "place": r.address,
            "lon": round(r.lon, 6),
            "lat": round(r.lat, 6),
        }
        for r in rows[:MAX_CASES]
    ]
    return out, len(rows) > MAX_CASES


def _grid_layer(grids: list[dict], level: str, choropleth: dict | None):
    import folium

    percent = (choropleth or {}).get("grids", {})
    classes = (choropleth or {}).get("classes", [])

    def colour(code: str) -> str | None:
        p = (percent.get(code) or {}).get("percent")
        if p is None:
            return None
        for c in classes:
            if (p >= 100 and c["min"] == 100) or (c["min"] <= p < c["max"]):
                return c["colour"]
        return None

    features = [
        {
            "type": "Feature",
            "geometry": g["geometry"],
            "properties": {
                "name": g["name"],
                "code": g["code"],
                "fill": colour(g["code"]),
                "percent": (
                    f"{percent[g['code']]['percent']}%"
                    if percent.get(g["code"], {}).get("percent") is not None
                    else "—"
                ),
            },
        }
        for g in grids
    ]
    fields, aliases = ["name", "code"], ["网格", "编码"]
    if choropleth:
        fields.append("percent")
        aliases.append("清零进度")
    return folium.GeoJson(
        {"type": "FeatureCollection", "features": features},
        name=f"{units.LEVEL_LABELS[level]}网格" + ("（清零进度）" if choropleth else ""),
        style_function=lambda f: {
            "color": "#1f3a5f",
            "weight": 1.5,
            "fillColor": f["properties"]["fill"] or "#ffffff",
            "fillOpacity": 0.55 if f["properties"]["fill"] else 0.05,
        },
        tooltip=folium.GeoJsonTooltip(fields=fields, aliases=aliases),
    )


def _case_layer(cases: list[dict]):
    import folium

    group = folium.FeatureGroup(name="违建案件")
    for c in cases:
        tip = f"{c['number']} · {c['state_label']}" + ("（超期）" if c["overdue"] else "")
        if c["place"]:
            tip += f"<br>{html.escape(c['place'])}"
        size = 19 if c["overdue"] else 15
        folium.Marker(
            location=[c["lat"], c["lon"]],
            icon=folium.DivIcon(
                html=c["icon"],
                icon_size=(size, size),
                icon_anchor=(size // 2, size // 2),
                class_name="state-shape",
            ),
            tooltip=tip,
        ).add_to(group)
    return group


def _icon(state: str, is_open: bool, overdue: bool) -> str:
    """A case's marker: its state's shape and colour, sized to fit the icon's box."""
    colour = state_style(state, is_open)[0]
    return shape_svg(state_shape(state, is_open), colour, overdue=overdue, size="100%")


def _legend_icon(svg: str) -> str:
    return f"<span class='shape'>{svg}</span>"


def _describe(service, filters: MapFilters) -> str:
    wf = service.cases.workflow
    parts = []
    if filters.category:
        parts.append("在办案件" if filters.category == "open" else "已办结案件")
    if filters.states:
        parts.append("状态：" + "、".join(wf.states[s].label for s in filters.states))
    if filters.channels:
        parts.append("来源：" + "、".join(wf.channels.get(c, c) for c in filters.channels))
    if filters.track:
        parts.append(wf.tracks.get(filters.track, {}).get("label", filters.track))
    if filters.reported_from or filters.reported_to:
        lo = filters.reported_from.astimezone(LOCAL).date() if filters.reported_from else "—"
        hi = filters.reported_to.astimezone(LOCAL).date() if filters.reported_to else "—"
        parts.append(f"上报时间 {lo} 起至 {hi} 前")
    if filters.district:
        parts.append(f"区县 {filters.district}")
    if filters.overdue:
        parts.append("只看超期未办")
    return "；".join(parts) or "全部案件"


def _legend(service, principal, filters, level, choropleth, shown, more, now) -> str:
    rows = "".join(
        f"<div>{_legend_icon(shape_svg(shape, c))}{html.escape(label)}</div>"
        for c, label, shape in state_legend()
    )
    rows += (
        f"<div>{_legend_icon(shape_svg('o', '#ffffff', overdue=True))}超期未办（红圈、略大）</div>"
    )
    progress = ""
    if choropleth:
        as_of = html.escape(str(choropleth.get("as_of", "")))
        progress = (
            f"<h4>清零进度：{html.escape(choropleth['campaign']['name'])}"
            f"<small>按{units.LEVEL_LABELS[level]}着色，截至 {as_of}</small></h4>"
            + "".join(
                f"<div><i style='background:{c['colour']}'></i>{html.escape(c['label'])}</div>"
                for c in choropleth["classes"]
            )
        )
    scope = grid_of(service.snapshot, principal.grid_code)[1] if principal.grid_code else "全市"
    count = f"案件 {shown} 件" + (f"（只载入最新的 {MAX_CASES} 件）" if more else "")
    return (
        "<div class='weijian-legend' id='legend'>"
        f"<h3>{html.escape(_title(principal, now))}</h3>"
        f"<p>辖区：{html.escape(scope)}；{units.LEVEL_LABELS[level]}网格<br>"
        f"筛选：{html.escape(_describe(service, filters))}<br>{count}<br>"
        f"导出人：{html.escape(principal.display_name)}，{now.astimezone(LOCAL):%Y-%m-%d %H:%M}</p>"
        f"<h4>案件状态</h4>{rows}{progress}"
        "<p class='note'>超期：案件当前环节的办理期限已过而未办理。本图只含案件编号、状态和地点，"
        "不含任何个人信息。</p></div>"
    )


LEGEND_CSS = """
.weijian-legend { position: fixed; right: 10px; bottom: 24px; z-index: 1000; background: #fff;
  padding: 8px 12px; border: 1px solid #bbb; border-radius: 4px; max-width: 320px;
  font: 13px/1.5 "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; box-shadow: 0 1px 4px #0003; }
.weijian-legend h3 { font-size: 14px; margin: 0 0 4px; }
.weijian-legend h4 { font-size: 13px; margin: 6px 0 2px; }
.weijian-legend h4 small { display: block; font-weight: normal; color: #57606a; }
.weijian-legend p { margin: 2px 0; }
.weijian-legend .note { color: #57606a; font-size: 12px; }
.weijian-legend i { display: inline-block; width: 12px; height: 12px; margin-right: 6px;
  vertical-align: -1px; border: 1px solid #0004; }
.weijian-legend .shape svg { width: 15px; height: 15px; margin-right: 5px; vertical-align: -3px; }
.state-shape { background: none; border: none; }
.state-shape svg { display: block; }
"""
