// What the public pages share: the request to the API (no login, no token, ever), the
// header with the three pages, and one place for messages. Staff pages' code is never loaded.

import { $, fill, h } from "../common/dom.js";

export const probe = (window.weijianPublic = { ready: false, errors: [] });

export class PublicError extends Error {
  constructor(status, body) {
    super((body && body.message) || (status === 0 ? "无法连接服务器，请检查网络后重试" : "请求未能完成（" + status + "），请稍后重试"));
    this.status = status;
    this.code = (body && body.code) || "http." + status;
  }
}

// fetch as JSON; `json` is sent as the body, `form` as multipart; errors carry the Chinese message
export async function call(path, { method, json, form, headers } = {}) {
  const init = { method: method || (json || form ? "POST" : "GET"), headers: { ...(headers || {}) } };
  if (json) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (form) init.body = form;
  let r;
  try {
    r = await fetch(path, init);
  } catch (e) {
    throw new PublicError(0, null);
  }
  const body = await r.json().catch(() => null);
  if (!r.ok) throw new PublicError(r.status, body);
  return body;
}

const PAGES = [["/report", "随手拍"], ["/report/follow", "查询进度"], ["/report/stats", "公开统计"]];

export function header() {
  const here = location.pathname.replace(/\/$/, "");
  fill($("bar"),
    h("a", { class: "brand", href: "/report" }, "违建随手拍"),
    h("nav", { class: "links", "aria-label": "栏目" }, PAGES.map(([href, text]) =>
      h("a", { href, "aria-current": href === here ? "page" : null }, text))));
}

export function say(el, kind, text) {
  if (kind === "error") probe.errors.push(text);
  fill(el, text ? h("div", { class: "say " + kind, role: kind === "error" ? "alert" : "status" }, text) : null);
}

// the city's outline for orientation: the community grids, without anyone's name
export async function gridOutlines(map) {
  try {
    const grids = await call("/api/v1/public/stats/grids?level=community");
    const layer = L.geoJSON(grids, { style: { color: "#6b7a8c", weight: 1, fillOpacity: 0.03 }, interactive: false }).addTo(map);
    return layer;
  } catch (e) {
    return null;
  }
}

// a Leaflet map with the city's basemap under it when one is configured (a GCJ-02 basemap
// needs the supervisors' map's shift, so it is left out here) and a scale bar
export function newMap(el, options) {
  const map = L.map(el, { zoomControl: true, maxZoom: 19, tap: false, ...options });
  map.attributionControl.setPrefix("");
  L.control.scale({ imperial: false, position: "bottomleft" }).addTo(map);
  call("/api/v1/public/basemap").then((b) => {
    if (!b || !b.layers || b.crs === "gcj02") return;
    b.layers.forEach((l, i) => L.tileLayer(l.url, {
      maxZoom: 19, maxNativeZoom: l.max_zoom || 18, attribution: l.attribution || "", zIndex: i + 1,
      ...(l.subdomains ? { subdomains: l.subdomains } : {}),
    }).addTo(map));
  }).catch(() => {});
  return map;
}
