// 我的网格: the user's grid on a map with its zones and open cases, and the list of the cases
// nearest first with distance and direction — or, with 按巡查顺序, numbered in the printed
// patrol map's visiting order (both from GET /api/v1/field/grid: no rule in the browser).
// The last answer, its cases' details and thumbnails are kept for reading offline. A case
// opens with its details, a short timeline and photos, and the steps the user may take (from
// the case's `actions`), sent through the offline queue with made_at and their photos.

import { fill, h } from "../common/dom.js";
import { beijingShort } from "../common/time.js";

export const GRID_KEY = "grid.last"; // the last answer of 我的网格, for offline use
const DETAIL_EVENTS = 5;

let app = null;
let ui = {};
let map = null;
let layers = null;
let answer = null;
let order = "nearest";
let workflow = null;
const thumbs = new Map(); // API path → object URL

const probe = (window.weijianGrid = { loaded: false, offline: false, order: null, numbers: [], opened: null });

async function thumb(path) {
  if (!path) return null;
  if (!thumbs.has(path)) {
    const url = app.api(path).then((r) => r.blob()).then((b) => URL.createObjectURL(b)).catch(() => {
      thumbs.delete(path);
      return null;
    });
    thumbs.set(path, url);
  }
  return thumbs.get(path);
}

function where(c) {
  if (c.distance_m == null) return null;
  const metres = c.distance_m >= 1000 ? (c.distance_m / 1000).toFixed(1) + " 公里" : c.distance_m + " 米";
  return c.direction === "此处" ? "就在此处" : c.direction + " " + metres;
}

function sorted() {
  const list = [...answer.cases];
  if (order === "tour" || answer.order !== "nearest") list.sort((a, b) => a.tour_rank - b.tour_rank);
  return list;
}

function draw() {
  probe.order = order;
  for (const b of ui.toggle.children) b.setAttribute("aria-pressed", String(b.dataset.order === order));
  const list = sorted();
  probe.numbers = list.map((c) => c.number);
  const grid = answer.grids[0];
  fill(ui.title, grid ? grid.name : "我的网格", h("small", { class: "muted" }, " 未办结案件 " + answer.cases.length + " 件"));
  const sortedBy = order === "tour" ? "按巡查顺序（与打印的巡查图编号一致）排列"
    : answer.order === "nearest" ? "按距您当前位置由近到远排列" : "未获得定位，按巡查顺序排列";
  fill(ui.status, probe.offline ? "离线：显示 " + beijingShort(answer.as_of) + " 的数据，" + sortedBy : sortedBy);
  fill(ui.list, list.length ? list.map((c) => {
    const img = c.thumb ? h("img", { class: "case-thumb", alt: "现场照片" }) : h("span", { class: "case-thumb none" }, "无照片");
    if (c.thumb) thumb(c.thumb).then((u) => { if (u) img.src = u; });
    return h("li", { class: "case-item" + (c.overdue ? " overdue" : ""), dataset: { number: c.number }, onclick: () => open(c.number) },
      img,
      h("div", { class: "case-text" },
        h("div", { class: "case-number" }, order === "tour" ? h("span", { class: "rank" }, c.tour_rank) : null, c.number,
          " ", h("span", { class: "chip " + (c.overdue ? "danger" : "info") }, c.overdue ? "已超期" : c.state_label)),
        h("div", { class: "case-where" }, where(c) || c.address || ""),
        h("div", { class: "case-desc" }, c.description || c.address || "")));
  }) : h("p", { class: "muted" }, "本网格暂无未办结案件"));
  drawMap(list);
}

// the outline of the grids of an answer of GET /api/v1/field/grid (also 上报's, without a fix)
export function gridOutline(answer) {
  return L.geoJSON({ type: "FeatureCollection", features: answer.grids.map((g) => ({ type: "Feature", geometry: g.geometry, properties: {} })) },
    { style: { color: "#08306b", weight: 2.5, fill: false }, interactive: false });
}

function drawMap(list) {
  if (!map) return;
  if (layers) layers.remove();
  layers = L.layerGroup().addTo(map);
  for (const z of answer.zones) {
    L.geoJSON(z.geometry, { style: { color: z.colour, weight: 0.5, fillColor: z.colour, fillOpacity: 0.25 }, interactive: false }).addTo(layers);
  }
  const outline = gridOutline(answer).addTo(layers);
  if (order === "tour" && list.length > 1) {
    L.polyline(list.map((c) => [c.lat, c.lon]), { color: "#1f5fbf", weight: 2, dashArray: "5 5", interactive: false }).addTo(layers);
  }
  for (const c of list) {
    const mark = L.circleMarker([c.lat, c.lon], { radius: c.overdue ? 10 : 8, color: c.overdue ? "#e31a1c" : "#fff", weight: 2, fillColor: "#1d2733", fillOpacity: 0.9 })
      .on("click", () => open(c.number)).addTo(layers);
    if (order === "tour") mark.bindTooltip(String(c.tour_rank), { permanent: true, direction: "top", offset: [0, -6] });
  }
  if (answer.position) {
    L.circleMarker([answer.position.lat, answer.position.lon], { radius: 6, color: "#fff", weight: 2, fillColor: "#1f6feb", fillOpacity: 1 })
      .bindTooltip("我的位置").addTo(layers);
  }
  const bounds = outline.getBounds();
  if (bounds.isValid()) map.fitBounds(bounds, { padding: [10, 10] });
}

async function load() {
  fill(ui.status, "正在加载…");
  let here = null;
  try { here = await app.position({ timeout: 8000 }); } catch (e) { here = null; }
  const query = here ? "?lon=" + here.lon.toFixed(7) + "&lat=" + here.lat.toFixed(7) + "&crs=wgs84" : "";
  try {
    const response = await app.api("/api/v1/field/grid" + query);
    answer = await response.json();
    probe.offline = response.headers.get("x-weijian-offline") === "1";
    if (!probe.offline) {
      await app.cache(GRID_KEY, answer);
      keepForOffline(answer);
    }
  } catch (e) {
    const last = await app.cached(GRID_KEY);
    if (!last) {
      fill(ui.status, e.status === 0 ? "离线且没有缓存的网格数据，请联网后再打开" : e.message);
      return;
    }
    answer = last;
    probe.offline = true;
  }
  probe.loaded = true;
  draw();
}

// the thumbnails and every case's details fetched once now, so that they are there offline
// (the service worker keeps the answers; the details are cached here too)
async function keepForOffline(a) {
  for (const c of a.cases) {
    if (c.thumb) thumb(c.thumb);
    try {
      await app.cache("case." + c.number, await (await app.api("/api/v1/cases/" + encodeURIComponent(c.number))).json());
    } catch (e) { /* offline again: what is kept stays */ }
  }
}

// -- a case ---------------------------------------------------------------------------------

async function open(number) {
  probe.opened = number;
  const sheet = ui.sheet;
  sheet.hidden = false;
  fill(sheet, head(number), h("p", { class: "muted" }, "正在加载…"));
  let c = null;
  let offline = false;
  try {
    const response = await app.api("/api/v1/cases/" + encodeURIComponent(number));
    c = await response.json();
    offline = response.headers.get("x-weijian-offline") === "1";
    await app.cache("case." + number, c);
  } catch (e) {
    c = await app.cached("case." + number);
    offline = true;
    if (!c) {
      fill(sheet, head(number), h("p", { class: "queue-error" }, e.message));
      return;
    }
  }
  const photos = (c.evidence || []).filter((e) => e.kind === "photo");
  const gallery = h("div", { class: "photos" });
  for (const p of photos) {
    const img = h("img", { alt: p.filename });
    thumb("/api/v1/cases/" + encodeURIComponent(number) + "/evidence/" + p.sha256 + "?thumb=240").then((u) => { if (u) img.src = u; });
    gallery.append(h("div", { class: "photo" }, img));
  }
  const events = (c.events || []).slice(-DETAIL_EVENTS).reverse();
  fill(sheet,
    head(number),
    offline ? h("p", { class: "check offline" }, "离线：显示上次联网时的案件信息") : null,
    h("div", { class: "card" },
      h("p", {}, h("span", { class: "chip " + (c.overdue ? "danger" : "info") }, c.state_label), " ", c.track_label || ""),
      c.address ? h("p", {}, c.address) : null,
      h("p", {}, c.description || ""),
      c.department ? h("p", { class: "muted" }, "责任部门：" + (c.department.name || "")) : null,
      h("p", { class: "muted" }, "上报于 " + beijingShort(c.reported_at)),
      photos.length ? gallery : h("p", { class: "muted" }, "暂无照片")),
    h("div", { class: "card" }, h("div", { class: "step-title" }, "最近进展"),
      h("ul", { class: "timeline" }, events.map((e) => h("li", {}, beijingShort(e.made_at || e.at), " ", e.label || e.action,
        e.actor && e.actor.name ? "（" + e.actor.name + "）" : "", e.note ? "：" + e.note : "")))),
    actions(c));
}

function head(number) {
  return h("div", { class: "sheet-head" }, h("h2", {}, number),
    h("button", { type: "button", class: "sheet-close", onclick: () => { ui.sheet.hidden = true; probe.opened = null; } }, "关闭"));
}

// a step the user may take, as a form: its note, fields and photos (documents are for the
// workbench); sent through the queue — photos first, the step naming them
function actions(c) {
  const open = (c.actions || []).filter((a) => !(a.fields || []).some((f) => workflow && workflow.fields[f] && workflow.fields[f].department)
    && !(a.evidence && a.evidence.document));
  if (!open.length) return h("p", { class: "muted" }, "您对此案件暂无可办理的操作");
  const box = h("div", { class: "card" }, h("div", { class: "step-title" }, "办理"));
  const buttons = h("div", { class: "choices" });
  const formBox = h("div");
  for (const a of open) {
    buttons.append(h("button", { type: "button", dataset: { action: a.action }, onclick: () => fill(formBox, stepForm(c, a)) }, a.label));
  }
  box.append(buttons, formBox);
  return box;
}

function fieldInput(name, required) {
  const f = (workflow && workflow.fields[name]) || { label: name };
  let input;
  if (f.choices) {
    input = h("select", { name }, h("option", { value: "" }, required ? "请选择" : "（可不填）"),
      Object.entries(f.choices).map(([k, v]) => h("option", { value: k }, v)));
  } else if (f.number) input = h("input", { name, type: "number", inputmode: "decimal" });
  else if (f.date) input = h("input", { name, type: "date" });
  else input = h("input", { name });
  return { name, input, label: h("label", {}, f.label, required ? h("span", { class: "required" }, " *") : h("span", { class: "optional" }, "（选填）"), input), f };
}

function stepForm(c, a) {
  const inputs = [...(a.fields || []).map((n) => fieldInput(n, true)), ...(a.optional_fields || []).map((n) => fieldInput(n, false))];
  const note = h("textarea", { name: "note", rows: "3", placeholder: a.note_required ? "请填写情况说明（必填）" : "情况说明（选填）" });
  const need = (a.evidence && a.evidence.photo) || 0;
  const shots = [];
  const list = h("div", { class: "photos" });
  const pickId = "step-photos-" + a.action;
  const input = h("input", { type: "file", accept: "image/*", capture: "environment", multiple: true, id: pickId, class: "visually-hidden" });
  input.addEventListener("change", async () => {
    let here = null;
    try { here = await app.position({ timeout: 5000 }); } catch (e) { /* the photo goes without a place */ }
    for (const file of input.files) {
      shots.push({ file, taken_at: new Date(file.lastModified || Date.now()).toISOString(), here });
      const img = h("img", { alt: file.name, src: URL.createObjectURL(file) });
      list.append(h("div", { class: "photo" }, img));
    }
    input.value = "";
  });
  const send = h("button", { type: "button", class: "primary big" }, "提交" + a.label);
  send.addEventListener("click", async () => {
    const data = {};
    for (const i of inputs) {
      const v = i.input.value.trim();
      if (!v) {
        if ((a.fields || []).includes(i.name)) return app.error("请填写“" + i.f.label + "”");
        continue;
      }
      data[i.name] = i.f.number ? Number(v) : v;
    }
    if (a.note_required && !note.value.trim()) return app.error("请填写情况说明");
    if (shots.length < need) return app.error("此操作需要至少 " + need + " 张现场照片");
    send.disabled = true;
    const made_at = new Date().toISOString();
    const path = "/api/v1/cases/" + encodeURIComponent(c.number);
    const uploads = [];
    for (const [i, s] of shots.entries()) {
      const form = [["file", s.file], ["kind", "photo"], ["taken_at", s.taken_at]];
      if (s.here) form.push(["lon", String(s.here.lon)], ["lat", String(s.here.lat)], ["crs", "wgs84"]);
      uploads.push(await app.enqueue({ method: "POST", path: path + "/evidence", form, made_at, label: c.number + " 照片 " + (i + 1) + "/" + shots.length }));
    }
    const body = { action: a.action, version: c.version, data, made_at };
    if (note.value.trim()) body.note = note.value.trim();
    await app.enqueue({ method: "POST", path: path + "/transitions", json: body, made_at, evidenceFrom: uploads, label: c.number + " " + a.label });
    app.toast(app.online() ? a.label + "已提交" : a.label + "已保存，联网后自动发送");
    ui.sheet.hidden = true;
    if (app.online()) {
      await app.flush();
      load();
    }
  });
  return h("div", { class: "step-form" },
    inputs.map((i) => i.label),
    h("label", {}, "情况说明", note),
    h("div", {}, h("div", { class: "hint" }, need ? "需现场照片至少 " + need + " 张" : "可附现场照片（选填）"), list,
      h("label", { class: "button", for: pickId }, "拍照"), input),
    send);
}

export async function mount(root, theApp) {
  app = theApp;
  workflow = await app.cached("workflow");
  if (!workflow) {
    try { workflow = await (await app.api("/api/v1/cases/workflow")).json(); await app.cache("workflow", workflow); } catch (e) { workflow = null; }
  }
  ui.title = h("h2", { class: "grid-title" }, "我的网格");
  ui.status = h("p", { class: "muted", id: "grid-status" });
  ui.toggle = h("div", { class: "toggle", role: "group", "aria-label": "排序" },
    h("button", { type: "button", dataset: { order: "nearest" }, onclick: () => { order = "nearest"; if (answer) draw(); } }, "按距离"),
    h("button", { type: "button", dataset: { order: "tour" }, onclick: () => { order = "tour"; if (answer) draw(); } }, "按巡查顺序"));
  ui.list = h("ul", { class: "case-list", id: "grid-cases" });
  ui.sheet = h("section", { class: "sheet", hidden: true, id: "case-sheet" });
  const mapEl = h("div", { class: "field-map", id: "grid-map" });
  fill(root, ui.title, ui.status, mapEl,
    h("div", { class: "list-head" }, ui.toggle, h("button", { type: "button", id: "grid-refresh", onclick: load }, "刷新")),
    ui.list, ui.sheet);
  map = app.map(mapEl, { zoom: 15 });
  await load();
}

export function shown() {
  if (map) map.invalidateSize();
  load();
}
