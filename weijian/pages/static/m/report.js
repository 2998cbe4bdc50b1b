// 上报: a report in three taps — 拍照, the kind, 发送. The position comes from the GPS with its
// accuracy shown and can be corrected by dragging the marker (or tapping the map); photos are
// compressed on the phone, each keeping when and where it was taken; an optional note and an
// optional footprint drawn by tapping its corners. Before sending, the server says who will
// be responsible and warns of a duplicate or a rebound (POST /api/v1/cases/check) — the rules
// stay on the server. Sending queues the report and one upload per photo (the offline queue),
// so it works without a network and is sent once when the network returns.

import { fill, h } from "../common/dom.js";
import { compress, photoStrip } from "../common/photo.js";
import { beijingShort } from "../common/time.js";
import { GRID_KEY, gridOutline } from "./grid.js";

const CHECK_DELAY_MS = 400;

let app = null;
let ui = {};
let map = null;
let marker = null;
let shape = null;
let outlines = null; // the user's grids, drawn when the phone gives no position
let fix = null; // {lon, lat, accuracy, at, moved}
let photos = []; // {blob, url, taken_at, lon, lat}
let track = null;
let drawing = false;
let corners = [];
let checkTimer = null;
let workflow = null;

const probe = (window.weijianReport = { fix: null, check: null, photos: 0, item: null, number: null, saved: false, outlines: 0 });

// -- the position ---------------------------------------------------------------------------

function showFix() {
  probe.fix = fix && { ...fix, text: null };
  if (!fix) {
    fill(ui.fix, "正在定位…");
    return;
  }
  const text = fix.moved ? "位置已在地图上校正" : fix.accuracy != null ? "精度约 " + Math.round(fix.accuracy) + " 米" : "";
  ui.fix.className = "fix" + (!fix.moved && fix.accuracy > 50 ? " poor" : "");
  fill(ui.fix, text, !fix.moved && fix.accuracy > 50 ? "（精度较差，可拖动标记校正）" : "");
  probe.fix.text = ui.fix.textContent;
  const here = [fix.lat, fix.lon];
  if (map) {
    if (!marker) {
      marker = L.marker(here, { draggable: true, autoPan: true, title: "违建位置（可拖动）" }).addTo(map);
      marker.on("dragend", () => moveTo(marker.getLatLng()));
    } else marker.setLatLng(here);
    if (!fix.moved) map.setView(here, Math.max(map.getZoom(), 17));
  }
  scheduleCheck();
}

function moveTo(latlng) {
  fix = { lon: latlng.lng, lat: latlng.lat, accuracy: null, at: new Date().toISOString(), moved: true };
  showFix();
}

async function locate() {
  fill(ui.fix, "正在定位…");
  probe.fix = null;
  try {
    fix = { ...(await app.position({ maximumAge: 0 })), moved: false };
  } catch (e) {
    fill(ui.fix, e.message, /地图/.test(e.message) ? "" : "；也可在下方地图上点选违建位置");
    showOwnGrids();
    return;
  }
  showFix();
}

// without a fix, the user's own grids on the map (the last answer of 我的网格 when offline),
// so that the spot can be found and tapped
async function showOwnGrids() {
  if (!map || outlines) return;
  let answer = null;
  try {
    answer = await (await app.api("/api/v1/field/grid")).json();
  } catch (e) {
    answer = await app.cached(GRID_KEY);
  }
  if (!answer || !answer.grids || !answer.grids.length || outlines) return;
  outlines = gridOutline(answer).addTo(map);
  probe.outlines = answer.grids.length;
  const bounds = outlines.getBounds();
  if (!fix && bounds.isValid()) map.fitBounds(bounds, { padding: [10, 10] });
}

// -- the footprint --------------------------------------------------------------------------

function drawShape() {
  if (shape) shape.remove();
  shape = null;
  if (corners.length >= 2) {
    const latlngs = corners.map(([lon, lat]) => [lat, lon]);
    shape = (corners.length >= 3 ? L.polygon(latlngs, { color: "#c62828", weight: 2 }) : L.polyline(latlngs, { color: "#c62828" })).addTo(map);
  }
  ui.draw.textContent = drawing ? "完成范围（已点 " + corners.length + " 个角点）" : corners.length >= 3 ? "重画违建范围" : "画违建范围（可选）";
  ui.clear.hidden = !corners.length;
}

function footprint() {
  if (corners.length < 3) return null;
  const ring = corners.concat([corners[0]]);
  return { type: "Polygon", coordinates: [ring] };
}

function onMapTap(e) {
  if (drawing) {
    corners.push([e.latlng.lng, e.latlng.lat]);
    drawShape();
  } else {
    if (marker) marker.setLatLng(e.latlng);
    moveTo(e.latlng);
  }
}

// -- photos ---------------------------------------------------------------------------------

async function addPhotos(files) {
  for (const file of files) {
    const blob = await compress(file);
    const taken = file.lastModified ? new Date(file.lastModified) : new Date();
    photos.push({
      blob, url: URL.createObjectURL(blob), taken_at: taken.toISOString(),
      lon: fix ? fix.lon : null, lat: fix ? fix.lat : null,
    });
  }
  showPhotos();
}

function showPhotos() {
  probe.photos = photos.length;
  photoStrip(ui.photos, photos, showPhotos);
  ui.shoot.textContent = photos.length ? "继续拍照（已有 " + photos.length + " 张）" : "拍照";
}

// -- the check before sending ------------------------------------------------------------------

function scheduleCheck() {
  clearTimeout(checkTimer);
  checkTimer = setTimeout(check, CHECK_DELAY_MS);
}

async function check() {
  if (!fix) return;
  if (!app.online()) {
    probe.check = "offline";
    fill(ui.check, h("div", { class: "check offline" }, "离线：责任部门和重复检查将在发送时由服务器判定"));
    return;
  }
  const asked = fix;
  let answer;
  try {
    answer = await (await app.api("/api/v1/cases/check", { json: { lon: fix.lon, lat: fix.lat, crs: "wgs84" } })).json();
  } catch (e) {
    if (asked !== fix) return;
    probe.check = e.status || "offline";
    fill(ui.check, e.status === 0
      ? h("div", { class: "check offline" }, "离线：责任部门和重复检查将在发送时由服务器判定")
      : h("div", { class: "check warn" }, e.message));
    return;
  }
  if (asked !== fix) return; // moved since
  probe.check = answer;
  const parts = [h("div", { class: "check" }, answer.responsible)];
  for (const d of answer.duplicates || []) {
    parts.push(h("div", { class: "check warn" }, "附近约 " + Math.round(d.distance_m) + " 米处已有未办结案件",
      d.number ? " " + d.number : "", "（" + d.state_label + "），请确认是否为同一处违建"));
  }
  for (const r of answer.rebounds || []) {
    parts.push(h("div", { class: "check warn" }, "约 " + Math.round(r.distance_m) + " 米处有已销号案件",
      r.number ? " " + r.number : "", r.closed_at ? "（" + beijingShort(r.closed_at) + " 销号）" : "", "，本次可能为反弹"));
  }
  fill(ui.check, parts);
}

// -- sending --------------------------------------------------------------------------------

async function send() {
  if (!fix) return app.error("尚未获得位置：请允许定位，或在地图上点选违建位置");
  if (!track) return app.error("请选择违建类型：" + Object.values(workflow.tracks).map((t) => t.label).join(" 或 "));
  ui.send.disabled = true;
  const made_at = new Date().toISOString();
  const description = ui.note.value.trim();
  const body = { lon: fix.lon, lat: fix.lat, crs: "wgs84", track, made_at };
  if (description) body.description = description;
  const shapeNow = footprint();
  if (shapeNow) body.footprint = shapeNow;
  try {
    const reportId = await app.enqueue({
      method: "POST", path: "/api/v1/cases", json: body, made_at,
      label: "上报：" + workflow.tracks[track].label + (description ? " · " + description.slice(0, 20) : ""),
    });
    for (const [i, p] of photos.entries()) {
      const form = [["file", new File([p.blob], "现场照片-" + (i + 1) + ".jpg", { type: p.blob.type || "image/jpeg" })], ["kind", "photo"], ["taken_at", p.taken_at]];
      if (p.lon != null) form.push(["lon", String(p.lon)], ["lat", String(p.lat)], ["crs", "wgs84"]);
      await app.enqueue({ method: "POST", path: "/api/v1/cases/{ref}/evidence", form, made_at, dependsOn: reportId, label: "照片 " + (i + 1) + "/" + photos.length });
    }
    probe.item = reportId;
    probe.number = null;
    probe.saved = true;
    result(reportId, photos.length);
    reset();
    ui.result.closest("#tabs").scrollTop = 0; // the result where the eye is
    if (app.online()) await app.flush();
    await showSent(reportId);
  } catch (e) {
    app.error(e);
  } finally {
    ui.send.disabled = false;
  }
}

function result(reportId, count) {
  fill(ui.result, h("div", { class: "card result", dataset: { item: reportId } },
    h("p", { class: "number" }, "已保存，联网后自动发送"),
    h("p", { class: "muted" }, "共 " + count + " 张照片，发送进度见顶部“待发送”"),
    h("button", { type: "button", onclick: () => fill(ui.result) }, "继续上报")));
}

async function showSent(reportId) {
  const card = ui.result.querySelector("[data-item='" + reportId + "']");
  const it = await app.queued(reportId);
  if (!card || !it || it.state !== "done") return;
  probe.number = it.ref;
  fill(card,
    h("p", {}, "上报成功，案件编号"),
    h("p", { class: "number", id: "case-number" }, it.ref),
    it.answer && it.answer.responsible ? h("p", { class: "muted" }, it.answer.responsible) : null,
    h("button", { type: "button", onclick: () => fill(ui.result) }, "继续上报"));
}

function reset() {
  photos.forEach((p) => URL.revokeObjectURL(p.url));
  photos = [];
  corners = [];
  drawing = false;
  drawShape();
  showPhotos();
  ui.note.value = "";
  track = null;
  for (const b of ui.kinds.children) b.setAttribute("aria-pressed", "false");
}

// -- the form -------------------------------------------------------------------------------

async function loadWorkflow() {
  try {
    workflow = await (await app.api("/api/v1/cases/workflow")).json();
    await app.cache("workflow", workflow);
  } catch (e) {
    workflow = await app.cached("workflow");
  }
  if (!workflow) throw new Error("离线且尚未缓存流程，请联网后再打开“上报”");
}

export async function mount(root, theApp) {
  app = theApp;
  await loadWorkflow();
  const input = h("input", { type: "file", accept: "image/*", capture: "environment", multiple: true, id: "report-photos", class: "visually-hidden" });
  input.addEventListener("change", async () => {
    const files = [...input.files];
    input.value = "";
    await addPhotos(files);
  });
  ui.fix = h("p", { class: "fix", id: "report-fix" }, "正在定位…");
  ui.photos = h("div", { class: "photos", id: "report-photo-list" });
  ui.shoot = h("label", { class: "button primary big", for: "report-photos" }, "拍照");
  ui.kinds = h("div", { class: "choices", id: "report-kinds" }, Object.entries(workflow.tracks).map(([code, t]) =>
    h("button", { type: "button", dataset: { track: code }, "aria-pressed": "false", onclick: (e) => {
      track = code;
      for (const b of ui.kinds.children) b.setAttribute("aria-pressed", String(b === e.currentTarget));
    } }, t.label)));
  ui.note = h("textarea", { id: "report-note", rows: "2", maxlength: "2000", placeholder: "如：楼顶搭建彩钢房，约 30 平方米" });
  ui.check = h("div", { id: "report-check", "aria-live": "polite" });
  ui.send = h("button", { type: "button", class: "primary big", id: "report-send", onclick: send }, "发送");
  ui.result = h("div", { id: "report-result", "aria-live": "polite" });
  ui.draw = h("button", { type: "button", onclick: () => { drawing = !drawing; if (drawing) corners = []; drawShape(); } }, "画违建范围（可选）");
  ui.clear = h("button", { type: "button", hidden: true, onclick: () => { corners = []; drawing = false; drawShape(); } }, "清除范围");
  const mapEl = h("div", { class: "field-map", id: "report-map" });
  fill(root,
    ui.result,
    h("div", { class: "card" }, h("div", { class: "step-title" }, "① 现场照片"), ui.photos, ui.shoot, input),
    h("div", { class: "card" }, h("div", { class: "step-title" }, "② 违建类型"), ui.kinds,
      h("label", { class: "hint", for: "report-note" }, "情况说明（可选）"), ui.note),
    h("div", { class: "card" }, h("div", { class: "step-title" }, "违建位置"),
      h("div", { class: "row" }, ui.fix, h("button", { type: "button", onclick: locate }, "重新定位")),
      mapEl, h("p", { class: "hint" }, "位置不准时拖动标记或点击地图校正；画范围时依次点击违建的各个角。"),
      h("div", { class: "row" }, ui.draw, ui.clear), ui.check),
    ui.send);
  map = app.map(mapEl, { zoom: 17 });
  if (map) map.on("click", onMapTap);
  showPhotos();
  app.onSent(() => { if (probe.item) showSent(probe.item); });
  locate(); // the first fix may take a while: the app (and its queue) does not wait for it
}

export function shown() {
  if (map) map.invalidateSize();
  if (!fix) locate();
  else scheduleCheck();
}
