"""The look-up page (/lookup): what this server holds and a jurisdiction look-up form, in
Chinese, with no asset from outside. The front page / is the supervisors' map."""

from __future__ import annotations

from html import escape

import shapely
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from weijian.api.dependencies import EngineDep, JurisdictionDep
from weijian.api.headers import nonce
from weijian.layers import repository

router = APIRouter(include_in_schema=False)

FAMILY = {"zones": "规划分区 / 地类", "grids": "网格"}
LEVEL = {"district": "区县", "town": "镇办", "community": "社区", "compound": "小区"}
PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>weijian 违法建设长效管控平台</title>
<style>
 body {{ font-family: "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; margin: 2rem auto;
        max-width: 60rem; color: #222; padding: 0 1rem; }}
 h1 {{ font-size: 1.5rem; }} h2 {{ font-size: 1.15rem; margin-top: 2rem; }}
 table {{ border-collapse: collapse; width: 100%; }}
 th, td {{ border-bottom: 1px solid #ddd; padding: .35rem .5rem; text-align: left; }}
 th {{ background: #f3f5f7; }} .num {{ text-align: right; }}
 form {{ display: flex; gap: .5rem; flex-wrap: wrap; align-items: end; }}
 label {{ display: flex; flex-direction: column; font-size: .85rem; }}
 input, select, button {{ font-size: 1rem; padding: .3rem .5rem; }}
 pre {{ background: #f6f8fa; padding: 1rem; overflow: auto; max-height: 30rem; }}
 .result {{ font-size: 1.1rem; margin: .5rem 0; }}
</style></head>
<body>
<h1>weijian 违法建设长效管控平台</h1>
<p><a href="/">← 返回监管地图</a></p>
<p>数据库 PostGIS，坐标统一存储为 CGCS2000（EPSG:4490）。接口文档：<a href="/docs">/docs</a>；
运行状态：<a href="/api/v1/health">/api/v1/health</a>。</p>
<h2>业务功能（接口，登录后使用）</h2>
<ul>
 <li>违建案件上报与办理（现场核查、认定、责令停止、查封、拆除、验收、销号、移交）：
  <code>/api/v1/cases</code></li>
 <li>12345 热线对接（Open311 GeoReport v2）：<code>/open311/v2/services.json</code></li>
 <li>群众随手拍凭回执查询办理进度：<code>/api/v1/receipts/{{回执码}}</code></li>
 <li>网格巡查图（PDF）：<code>/api/v1/patrol-maps/grids/{{网格编码}}.pdf</code></li>
 <li>月度台账、考评排名、清零进度、责任倒查：<code>/api/v1/ledger</code>、
  <code>/api/v1/assessment</code>、<code>/api/v1/campaigns</code></li>
</ul>
<h2>管辖判定（按坐标查询责任部门）</h2>
<form id="lookup">
 <label>经度 / X<input name="lon" value="{lon}" required></label>
 <label>纬度 / Y<input name="lat" value="{lat}" required></label>
 <label>坐标系<select name="crs">
  <option value="wgs84">WGS84（手机定位）</option>
  <option value="cgcs2000">CGCS2000 经纬度</option>
  <option value="gcj02">GCJ-02（高德、腾讯、微信）</option>
  <option value="bd09">BD-09（百度）</option>
  <option value="EPSG:4551">CGCS2000 高斯-克吕格 中央经线126°</option>
  <option value="EPSG:4530">CGCS2000 高斯-克吕格 42带（带带号）</option>
 </select></label>
 <label>容差（米）<input name="tolerance_m" value="10" size="4"></label>
 <button type="submit">查询</button>
</form>
<div class="result" id="summary"></div>
<pre id="answer" hidden></pre>
<h2>图层（当前版本）</h2>
<table><tr><th>图层</th><th>类别</th><th>级别</th><th class="num">当前版本</th>
<th class="num">要素数</th><th class="num">版本数</th></tr>
{rows}
</table>
<h2>管辖规则（第 {rule_version} 版）</h2>
<table><tr><th>优先级</th><th>规则</th><th>责任部门类型</th></tr>
{rules}
</table>
<script nonce="{nonce}">
const form = document.getElementById("lookup");
form.addEventListener("submit", async (event) => {{
  event.preventDefault();
  const params = new URLSearchParams(new FormData(form));
  history.replaceState(null, "", "?" + params);
  const response = await fetch("/api/v1/jurisdiction?" + params);
  const body = await response.json();
  const summary = document.getElementById("summary");
  if (!response.ok) {{
    summary.textContent = body.message || ("输入有误：" + JSON.stringify(body.detail || ""));
  }} else if (body.status === "assigned") {{
    summary.textContent = "责任部门：" + body.department.name + "（依据：" + body.rule.name +
      "）" + (body.ambiguous ? "　注意：容差范围内存在其他判定结果" : "");
  }} else {{
    summary.textContent = "无法判定：" + body.reason_text;
  }}
  if (response.ok) {{
    const levels = ["district", "town", "community", "compound"];
    const names = levels.map((l) => body.grid[l] && body.grid[l].name).filter(Boolean);
    if (names.length) summary.textContent += "　所在网格：" + names.join(" / ");
  }}
  const pre = document.getElementById("answer");
  pre.hidden = false;
  pre.textContent = JSON.stringify(body, null, 2);
}});
// a link with ?lon=…&lat=… (as the address bar shows after a query) asks at once
const given = new URLSearchParams(location.search);
if (given.has("lon") && given.has("lat")) {{
  for (const [key, value] of given) {{ if (form.elements[key]) form.elements[key].value = value; }}
  form.requestSubmit();
}}
</script>
</body></html>
"""


@router.get("/lookup", response_class=HTMLResponse)
def home(request: Request, engine: EngineDep, holder: JurisdictionDep) -> str:
    with engine.connect() as conn:
        layers = repository.list_layers(conn)
    rows = (
        "\n".join(
            f"<tr><td>{escape(row['title'] or row['name'])}（{escape(row['name'])}）</td>"
            f"<td>{FAMILY.get(row['family'], row['family'])}</td>"
            f"<td>{LEVEL.get(row['grid_level'] or '', '')}</td>"
            f"<td class='num'>{row['active_version'] or '—'}</td>"
            f"<td class='num'>{row['feature_count'] or 0:,}</td>"
            f"<td class='num'>{row['versions']}</td></tr>"
            for row in layers
        )
        or "<tr><td colspan='6'>尚未导入任何图层：weijian import zones / grids …</td></tr>"
    )
    snap = holder.snapshot
    rules = "\n".join(
        f"<tr><td>{r.priority}</td><td>{escape(r.name)}</td>"
        f"<td>{escape(snap.templates.get(r.department_type, (r.department_type,))[0])}</td></tr>"
        for r in snap.rules.ordered()
    )
    lon, lat = 126.4215, 41.9398  # an example spot: inside an urban management area if any
    urban = [
        (layer, int(layer.pair_first[n]))
        for layer in snap.zone_layers
        for n, (kind, _) in enumerate(layer.pairs)
        if kind == "urban_managed"
    ]
    if urban:
        layer, first = urban[0]
        centre = shapely.point_on_surface(layer.index.geoms[first])
        lon, lat = round(centre.x, 5), round(centre.y, 5)
    return PAGE.format(
        rows=rows,
        rules=rules,
        rule_version=snap.rules.version,
        lon=lon,
        lat=lat,
        nonce=nonce(request),
    )
