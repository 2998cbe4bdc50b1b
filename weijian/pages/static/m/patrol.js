// 巡查: the field app's patrol tab. 开始巡查 / 结束巡查, the elapsed time, distance and points;
// GPS watched and sampled sparingly (a point every ≥ 15 s or ≥ 20 m moved, accuracy ≤ 100 m);
// points sent in batches through the app's offline queue; the track drawn on the map. The
// state lives in the app's cache (IndexedDB), so a reload carries on with the same patrol.
import { h, fill } from "../common/dom.js";

const STATE = "patrol.state";
const MIN_SECONDS = 15;
const MIN_METRES = 20;
const MAX_ACCURACY = 100;
const BATCH = 10; // points per queued batch (and whatever is left at 结束巡查)
const BATCH_SECONDS = 120;

let app = null;
let state = null; // {made_at, startItem, points: [[lon, lat, t, accuracy]], unsent: [...], lastBatchAt}
let watch = null;
let timer = null;
let line = null;
let map = null;
let ui = {};

const metres = (a, b) => {
  const rad = Math.PI / 180;
  const x = (b[0] - a[0]) * rad * Math.cos(((a[1] + b[1]) / 2) * rad);
  const y = (b[1] - a[1]) * rad;
  return Math.hypot(x, y) * 6371008.8;
};
const distance = (points) => points.reduce((sum, p, i) => (i ? sum + metres(points[i - 1], p) : 0), 0);
const clock = (ms) => {
  const s = Math.max(0, Math.floor(ms / 1000));
  const pad = (n) => String(n).padStart(2, "0");
  return pad(Math.floor(s / 3600)) + ":" + pad(Math.floor((s % 3600) / 60)) + ":" + pad(s % 60);
};

async function save() {
  await app.cache(STATE, state);
}

function enqueueBatch(force) {
  if (!state || !state.unsent.length) return;
  const due = Date.now() - (state.lastBatchAt || 0) >= BATCH_SECONDS * 1000;
  if (!force && state.unsent.length < BATCH && !due) return;
  const points = state.unsent.map(([lon, lat, t, accuracy]) => ({ lon, lat, t, accuracy }));
  app.enqueue({
    method: "POST",
    path: "/api/v1/patrols/{ref}/points",
    json: { points, crs: "wgs84" },
    label: "巡查轨迹 " + points.length + " 个点",
    dependsOn: state.startItem,
    made_at: new Date().toISOString(),
  });
  state.unsent = [];
  state.lastBatchAt = Date.now();
}

function onPosition(pos) {
  if (!state || pos.accuracy == null || pos.accuracy > MAX_ACCURACY) return;
  const point = [pos.lon, pos.lat, pos.at || new Date().toISOString(), pos.accuracy];
  const last = state.points[state.points.length - 1];
  if (last) {
    const seconds = (Date.parse(point[2]) - Date.parse(last[2])) / 1000;
    if (seconds < MIN_SECONDS && metres(last, point) < MIN_METRES) return;
  }
  state.points.push(point);
  state.unsent.push(point);
  enqueueBatch(false);
  save();
  draw();
}

function draw() {
  const running = Boolean(state);
  ui.start.hidden = running;
  ui.stop.hidden = !running;
  const points = running ? state.points : [];
  ui.elapsed.textContent = running ? clock(Date.now() - Date.parse(state.made_at)) : "00:00:00";
  const km = distance(points) / 1000;
  ui.distance.textContent = km.toFixed(2) + " 公里";
  ui.count.textContent = points.length + " 个点";
  ui.status.textContent = running ? "巡查中" + (app.online() ? "" : "（离线，轨迹点将在联网后发送）") : "未在巡查";
  if (line) line.setLatLngs(points.map(([lon, lat]) => [lat, lon]));
  const here = points[points.length - 1];
  if (map && here) map.panTo([here[1], here[0]]);
  window.weijianPatrol = { running, points: points.length, distance_m: Math.round(km * 1000), made_at: running ? state.made_at : null };
}

function follow() {
  if (watch || !state) return;
  // the shell's GPS (WGS84 {lon, lat, accuracy, at}); each fix is sampled by onPosition
  watch = app.position({ watch: onPosition });
  timer = setInterval(draw, 1000);
}

function unfollow() {
  if (watch && typeof watch.stop === "function") watch.stop();
  else if (typeof watch === "number") navigator.geolocation.clearWatch(watch);
  watch = null;
  clearInterval(timer);
  timer = null;
}

async function start() {
  const made_at = new Date().toISOString();
  const startItem = await app.enqueue({
    method: "POST", path: "/api/v1/patrols", json: { made_at }, label: "开始巡查", made_at,
  });
  state = { made_at, startItem, points: [], unsent: [], lastBatchAt: Date.now() };
  await save();
  follow();
  draw();
}

async function stop() {
  if (!state) return;
  unfollow();
  enqueueBatch(true);
  const made_at = new Date().toISOString();
  await app.enqueue({
    method: "POST", path: "/api/v1/patrols/{ref}/stop", json: { made_at },
    label: "结束巡查", dependsOn: state.startItem, made_at,
  });
  const walked = distance(state.points);
  state = null;
  await app.cache(STATE, null);
  draw();
  app.toast("巡查已结束：共 " + (walked / 1000).toFixed(2) + " 公里，轨迹将随待发送队列上传");
}

export async function mount(root, theApp) {
  app = theApp;
  ui.start = h("button", { type: "button", class: "primary big", onclick: start }, "开始巡查");
  ui.stop = h("button", { type: "button", class: "danger big", onclick: stop, hidden: true }, "结束巡查");
  ui.status = h("p", { class: "patrol-status" });
  ui.elapsed = h("strong", { id: "patrol-elapsed" }, "00:00:00");
  ui.distance = h("strong", { id: "patrol-distance" }, "0.00 公里");
  ui.count = h("strong", { id: "patrol-points" }, "0 个点");
  const mapEl = h("div", { class: "patrol-map", style: "height: 55vh" });
  fill(
    root,
    h("section", { class: "patrol" },
      ui.status,
      h("div", { class: "patrol-figures" },
        h("div", null, "用时 ", ui.elapsed), h("div", null, "距离 ", ui.distance), h("div", null, "轨迹 ", ui.count)),
      mapEl,
      h("div", { class: "patrol-actions" }, ui.start, ui.stop)),
  );
  map = app.map(mapEl);
  if (map && window.L) line = window.L.polyline([], { color: "#1f6feb", weight: 4 }).addTo(map);
  state = (await app.cached(STATE)) || null; // a reload carries on with the same patrol
  if (state) follow();
  draw();
}

export function shown() {
  if (state) enqueueBatch(false);
  draw();
}
