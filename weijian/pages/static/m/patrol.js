// 巡查: the field app's patrol tab. 开始巡查 / 结束巡查, the elapsed time, distance and points;
// GPS watched and sampled sparingly (a point every ≥ 15 s or ≥ 20 m moved, accuracy ≤ 100 m);
// points sent in batches through the app's offline queue (the start, the batches and the stop
// in order, each exactly once); the track drawn on the map; what the server has kept of it
// shown once sent; the user's last patrols listed. The patrol's state lives in the app's cache
// (IndexedDB), so a reload carries on with the same patrol.
import { fill, h } from "../common/dom.js";
import { beijingShort } from "../common/time.js";

const STATE = "patrol.state";
const RECENT = "patrol.recent";
const MIN_SECONDS = 15;
const MIN_METRES = 20;
const MAX_ACCURACY = 100;
const BATCH = 10; // points per queued batch (and whatever is left at 结束巡查)
const BATCH_SECONDS = 120;

let app = null;
// {made_at, startItem, id (the server's, once the start was sent), points: [[lon, lat, t,
//  accuracy]], unsent: [...], lastBatchAt, lastItem (the last batch queued)}
let state = null;
let watch = null;
let timer = null;
let line = null;
let here = null;
let map = null;
let ui = {};
let finished = null; // the points of the patrol just ended, still drawn until the next start

const probe = (window.weijianPatrol = { running: false, points: 0, distance_m: 0, made_at: null, id: null, synced: null, recent: [] });

const metres = (a, b) => {
  const rad = Math.PI / 180;
  const x = (b[0] - a[0]) * rad * Math.cos(((a[1] + b[1]) / 2) * rad);
  const y = (b[1] - a[1]) * rad;
  return Math.hypot(x, y) * 6371008.8;
};
const distance = (points) => points.reduce((sum, p, i) => (i ? sum + metres(points[i - 1], p) : 0), 0);
const km = (m) => (m / 1000).toFixed(2) + " 公里";
const clock = (ms) => {
  const s = Math.max(0, Math.floor(ms / 1000));
  const pad = (n) => String(n).padStart(2, "0");
  return pad(Math.floor(s / 3600)) + ":" + pad(Math.floor((s % 3600) / 60)) + ":" + pad(s % 60);
};

async function save() {
  await app.cache(STATE, state);
}

// the server's id of the patrol, once its start was sent: later items then need no link to
// the start item (the queue forgets sent items after a while)
async function learnId() {
  if (!state || state.id) return;
  const start = await app.queued(state.startItem);
  if (start && start.state === "done" && start.ref) {
    state.id = start.ref;
    await save();
  }
}

async function enqueue(spec) {
  await learnId();
  const path = state.id ? spec.path.replace("{ref}", encodeURIComponent(state.id)) : spec.path;
  return app.enqueue({ ...spec, path, dependsOn: state.id ? null : state.startItem, made_at: new Date().toISOString() });
}

async function enqueueBatch(force) {
  if (!state || !state.unsent.length) return;
  const due = Date.now() - (state.lastBatchAt || 0) >= BATCH_SECONDS * 1000;
  if (!force && state.unsent.length < BATCH && !due) return;
  const points = state.unsent.map(([lon, lat, t, accuracy]) => ({ lon, lat, t, accuracy }));
  state.unsent = [];
  state.lastBatchAt = Date.now();
  state.lastItem = await enqueue({
    method: "POST", path: "/api/v1/patrols/{ref}/points", json: { points, crs: "wgs84" },
    label: "巡查轨迹 " + points.length + " 个点",
  });
  await save();
}

let chain = Promise.resolve(); // fixes handled one after another (each saves the state)
function onPosition(pos) {
  chain = chain.then(() => take(pos)).catch((e) => app.error(e));
}

async function take(pos) {
  if (!state || pos.accuracy == null || pos.accuracy > MAX_ACCURACY) return;
  const point = [pos.lon, pos.lat, pos.at || new Date().toISOString(), pos.accuracy];
  const last = state.points[state.points.length - 1];
  if (last) {
    const seconds = (Date.parse(point[2]) - Date.parse(last[2])) / 1000;
    if (seconds <= 0 || (seconds < MIN_SECONDS && metres(last, point) < MIN_METRES)) return;
  }
  state.points.push(point);
  state.unsent.push(point);
  await save();
  await enqueueBatch(false);
  draw();
  if (map) map.panTo([point[1], point[0]]);
}

function draw() {
  const running = Boolean(state);
  ui.start.hidden = running;
  ui.stop.hidden = !running;
  const points = running ? state.points : [];
  const walked = distance(points);
  const drawn = running ? points : finished || [];
  ui.elapsed.textContent = running ? clock(Date.now() - Date.parse(state.made_at)) : "00:00:00";
  ui.distance.textContent = km(walked);
  ui.count.textContent = points.length + " 个点";
  ui.status.textContent = running
    ? "巡查中，开始于 " + beijingShort(state.made_at) + (app.online() ? "" : "（离线：轨迹点保存在手机上，联网后自动发送）")
    : "未在巡查。点“开始巡查”后请保持本页打开，手机将每 15 秒或每走 20 米记录一个位置。";
  if (line) line.setLatLngs(drawn.map(([lon, lat]) => [lat, lon])).setStyle({ color: running ? "#1f6feb" : "#6b7785" });
  const last = drawn[drawn.length - 1];
  if (here && last) here.setLatLng([last[1], last[0]]).setStyle({ opacity: 1, fillOpacity: 1 });
  Object.assign(probe, {
    running, points: points.length, distance_m: Math.round(walked), made_at: running ? state.made_at : null,
    id: running ? state.id || null : probe.id,
  });
}

// what the server kept of the patrol: the answer of the last batch (or stop) sent
async function synced() {
  if (!state || !state.lastItem) return;
  await learnId();
  const it = await app.queued(state.lastItem);
  if (!it || it.state !== "done" || !it.answer) return;
  showSynced(it.answer);
}

function showSynced(track) {
  probe.synced = track;
  const dropped = (track.dropped_inaccurate || 0) + (track.dropped_jump || 0);
  ui.synced.textContent = "已上传 " + track.point_count + " 个点，" + km(track.length_m)
    + (dropped ? "（" + dropped + " 个定位偏差过大的点未计入）" : "");
}

function follow() {
  if (watch || !state) return;
  try {
    watch = app.position({ watch: onPosition }); // the shell's GPS: WGS84 {lon, lat, accuracy, at}
  } catch (e) {
    app.error(e);
  }
  timer = setInterval(draw, 1000);
}

function unfollow() {
  if (watch) watch.stop();
  watch = null;
  clearInterval(timer);
  timer = null;
}

async function start() {
  ui.start.disabled = true;
  try {
    const made_at = new Date().toISOString();
    const startItem = await app.enqueue({ method: "POST", path: "/api/v1/patrols", json: { made_at }, label: "开始巡查", made_at });
    state = { made_at, startItem, id: null, points: [], unsent: [], lastBatchAt: Date.now(), lastItem: null };
    finished = null;
    probe.synced = null;
    ui.synced.textContent = "";
    await save();
    follow();
    draw();
  } finally {
    ui.start.disabled = false;
  }
}

async function stop() {
  if (!state || !confirm("确定结束本次巡查吗？")) return;
  unfollow();
  await chain;
  await enqueueBatch(true);
  const made_at = new Date().toISOString();
  state.lastItem = await enqueue({ method: "POST", path: "/api/v1/patrols/{ref}/stop", json: { made_at }, label: "结束巡查" });
  const walked = distance(state.points);
  const ended = state;
  finished = ended.points;
  state = null;
  await app.cache(STATE, null);
  draw();
  app.toast("巡查已结束：共 " + km(walked) + "，轨迹随待发送队列上传");
  // the answer of the stop, when it was sent
  const waitSent = async () => {
    const it = await app.queued(ended.lastItem);
    if (it && it.state === "done" && it.answer) {
      showSynced(it.answer);
      recent();
      return true;
    }
    return false;
  };
  app.flush();
  const poll = setInterval(async () => { if (await waitSent()) clearInterval(poll); }, 1000);
  setTimeout(() => clearInterval(poll), 120000);
}

// the user's last patrols (from the server; the last answer kept for offline)
async function recent() {
  let tracks = null;
  try {
    const answer = await app.getJSON("/api/v1/patrols?limit=5&user=" + encodeURIComponent(app.me.username));
    tracks = answer.tracks;
    await app.cache(RECENT, tracks);
  } catch (e) {
    tracks = await app.cached(RECENT);
  }
  // the patrol under way is the figures above, not a line here
  tracks = (tracks || []).filter((t) => !state || Date.parse(t.started_at) !== Date.parse(state.made_at));
  probe.recent = tracks;
  fill(ui.recent, tracks.length
    ? tracks.map((t) => h("li", { class: "patrol-item" },
      h("strong", {}, beijingShort(t.started_at)),
      h("span", { class: "muted" }, t.ended_at ? " 至 " + beijingShort(t.ended_at) : "（未结束）"),
      h("div", {}, km(t.length_m) + " · " + t.point_count + " 个点")))
    : h("li", { class: "muted" }, "还没有巡查记录"));
}

export async function mount(root, theApp) {
  app = theApp;
  ui.start = h("button", { type: "button", class: "primary big", id: "patrol-start", onclick: start }, "开始巡查");
  ui.stop = h("button", { type: "button", class: "danger big", id: "patrol-stop", onclick: stop, hidden: true }, "结束巡查");
  ui.status = h("p", { class: "patrol-status", id: "patrol-status" });
  ui.elapsed = h("strong", { id: "patrol-elapsed" }, "00:00:00");
  ui.distance = h("strong", { id: "patrol-distance" }, "0.00 公里");
  ui.count = h("strong", { id: "patrol-points" }, "0 个点");
  ui.synced = h("p", { class: "patrol-synced muted", id: "patrol-synced" });
  ui.recent = h("ul", { class: "patrol-recent" });
  const mapEl = h("div", { class: "field-map patrol-map" });
  fill(root,
    h("div", { class: "patrol-figures" },
      h("div", {}, h("span", { class: "muted" }, "用时"), ui.elapsed),
      h("div", {}, h("span", { class: "muted" }, "距离"), ui.distance),
      h("div", {}, h("span", { class: "muted" }, "轨迹"), ui.count)),
    h("div", { class: "patrol-actions" }, ui.start, ui.stop),
    ui.status, ui.synced, mapEl,
    h("h3", { class: "step-title" }, "最近巡查"), ui.recent);
  map = app.map(mapEl);
  if (map && window.L) {
    line = L.polyline([], { color: "#1f6feb", weight: 4, interactive: false }).addTo(map);
    here = L.circleMarker([0, 0], { radius: 7, color: "#fff", weight: 2, fillColor: "#1f6feb", fillOpacity: 0, opacity: 0, interactive: false }).addTo(map);
  }
  state = (await app.cached(STATE)) || null; // a reload carries on with the same patrol
  if (state) {
    follow();
    const last = state.points[state.points.length - 1];
    if (map && last) map.setView([last[1], last[0]], 16);
  } else if (map) {
    app.position().then((p) => map.setView([p.lat, p.lon], 16)).catch(() => {});
  }
  app.onSent(() => { synced(); });
  draw();
  synced();
  recent();
}

export function shown() {
  if (state) enqueueBatch(false);
  draw();
  if (map) setTimeout(() => map.invalidateSize(), 0);
}
