// 随手拍: a citizen's report without a login — the place from the phone's GPS or a point picked
// on the map, up to 3 photos compressed on the phone (common/photo.js, as the field app does),
// a description and an optional phone kept private. Before sending, the server says who will
// handle it and whether an open case is already there (POST /api/v1/cases/check). The report
// and its photos go through the offline queue the field app uses (common/queue.js): kept on the
// phone without a network and sent once when it returns, each with its Idempotency-Key; past
// the address's hourly share the page does the proof of work the server asks for. The answer
// is a receipt code and a link to follow the case.

import { $, fill, h } from "../common/dom.js";
import { compress, photoStrip } from "../common/photo.js";
import * as store from "../common/queue.js";
import { call, gridOutlines, header, newMap, probe, say } from "./public.js";

store.useDatabase("weijian-public");

const MAX_PHOTOS = 3;
const CHALLENGE_CHUNK = 4000;

let map = null;
let marker = null;
let point = null; // {lon, lat, accuracy, picked}
let photos = []; // {blob, url, taken_at, lon, lat}
let checkTimer = null;

function setPoint(p) {
  point = p;
  const here = [p.lat, p.lon];
  if (!marker) {
    marker = L.marker(here, { draggable: true, title: "违建位置（可拖动）" }).addTo(map);
    marker.on("dragend", () => { const ll = marker.getLatLng(); setPoint({ lon: ll.lng, lat: ll.lat, picked: true }); });
  } else marker.setLatLng(here);
  if (!p.picked) map.setView(here, 17);
  fill($("report-fix"), p.picked ? "已在地图上选定位置" : "已定位" + (p.accuracy ? "，精度约 " + Math.round(p.accuracy) + " 米" : ""));
  $("report-fix").className = "fix";
  clearTimeout(checkTimer);
  checkTimer = setTimeout(check, 300);
}

function locate() {
  if (!navigator.geolocation) {
    fill($("report-fix"), "此浏览器无法定位，请在地图上点击选择违建位置");
    return;
  }
  fill($("report-fix"), "正在获取您的位置…");
  navigator.geolocation.getCurrentPosition(
    (pos) => setPoint({ lon: pos.coords.longitude, lat: pos.coords.latitude, accuracy: pos.coords.accuracy, picked: false }),
    () => fill($("report-fix"), "未能获取位置（可能未允许定位），请在地图上点击选择违建位置"),
    { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
}

async function check() {
  if (!point) return;
  const asked = point;
  try {
    const answer = await call("/api/v1/cases/check", { json: { lon: point.lon, lat: point.lat, crs: "wgs84" } });
    if (asked !== point) return;
    const parts = [h("div", { class: "say info" }, answer.responsible)];
    for (const d of answer.duplicates || []) {
      parts.push(h("div", { class: "say warning" }, "约 " + Math.round(d.distance_m) + " 米处已有正在办理的同一问题（" + d.state_label + "），提交后您的举报将与其关联、一并处理"));
    }
    fill($("report-check"), parts);
  } catch (e) {
    if (asked === point) say($("report-check"), "error", e.message);
  }
}

// -- photos ------------------------------------------------------------------------------------

async function addPhotos(files) {
  for (const file of files) {
    if (photos.length >= MAX_PHOTOS) {
      say($("report-say"), "warning", "每件举报最多附 " + MAX_PHOTOS + " 张照片");
      break;
    }
    const blob = await compress(file);
    photos.push({
      blob, url: URL.createObjectURL(blob),
      taken_at: new Date(file.lastModified || Date.now()).toISOString(),
      lon: point ? point.lon : null, lat: point ? point.lat : null,
    });
  }
  showPhotos();
}

function showPhotos() {
  photoStrip($("report-photos"), photos, showPhotos);
  $("report-shoot").hidden = photos.length >= MAX_PHOTOS;
}

// -- the proof of work the server asks for past the hourly share ---------------------------------

function zeroBits(hex) {
  let bits = 0;
  for (const c of hex) {
    const v = parseInt(c, 16);
    if (v === 0) { bits += 4; continue; }
    return bits + Math.clz32(v) - 28;
  }
  return bits;
}

async function solve(challenge, onProgress) {
  for (let n = 0; ; n += 1) {
    if (zeroBits(window.sha256(challenge.nonce + ":" + n)) >= challenge.bits) return challenge.nonce + ":" + n;
    if (n % CHALLENGE_CHUNK === 0) {
      onProgress(n);
      await new Promise((resolve) => setTimeout(resolve, 0)); // the page stays responsive
    }
  }
}

// -- sending: through the offline queue (common/queue.js, as the field app sends) ---------------

const REPORTS = "/api/v1/cases";
const SHOWN = "weijian.public.shown"; // the reports whose receipt this phone has shown
let flushing = false;
let retryTimer = null;

async function submit(event) {
  event.preventDefault();
  const description = $("report-description").value.trim();
  if (!point) return say($("report-say"), "error", "请先确定违建位置：允许定位，或在地图上点击选择");
  if (!description) {
    $("report-description").focus();
    return say($("report-say"), "error", "请填写问题描述：在哪里、建了什么");
  }
  const made_at = new Date().toISOString();
  const body = { lon: point.lon, lat: point.lat, crs: "wgs84", description, channel: "citizen", made_at };
  const address = $("report-address").value.trim();
  const phone = $("report-phone").value.trim();
  if (address) body.address = address;
  if (phone) body.reporter_phone = phone;
  $("report-send").disabled = true;
  try {
    const reportId = await store.enqueue({ path: REPORTS, json: body, made_at, label: "举报" });
    for (const [i, p] of photos.entries()) {
      const form = [["file", new File([p.blob], "照片-" + (i + 1) + ".jpg", { type: p.blob.type || "image/jpeg" })], ["taken_at", p.taken_at]];
      if (p.lon != null) form.push(["lon", String(p.lon)], ["lat", String(p.lat)], ["crs", "wgs84"]);
      await store.enqueue({ path: "/api/v1/receipts/{receipt}/photos", form, made_at, dependsOn: reportId, label: "照片 " + (i + 1) });
    }
    probe.item = reportId;
    await send();
  } catch (e) {
    say($("report-say"), "error", e.message);
  } finally {
    $("report-send").disabled = false;
  }
}

async function solveChallenge() {
  say($("report-say"), "info", "该网络一小时内举报较多，正在进行安全验证（浏览器自动计算，约需数秒）…");
  const challenge = await call("/api/v1/challenges", { method: "POST" });
  const expected = 2 ** challenge.bits;
  const solution = await solve(challenge, (n) =>
    say($("report-say"), "info", "正在进行安全验证… " + Math.min(99, Math.round((100 * n) / expected)) + "%"));
  probe.challenge = true;
  return solution;
}

// the queue sent (what waits, in order); then what became of this phone's reports
async function send() {
  if (flushing) return;
  flushing = true;
  clearTimeout(retryTimer);
  say($("report-say"), "info", "正在提交…");
  let result;
  try {
    result = await store.flush({ token: () => null, solveChallenge });
  } finally {
    flushing = false;
  }
  say($("report-say"), "", "");
  if (result.waitMs) retryTimer = setTimeout(send, result.waitMs);
  await show();
}

async function show() {
  const all = await store.items();
  const latest = all.filter((it) => it.path === REPORTS).sort((a, b) => b.id - a.id)[0];
  if (!latest) return;
  const shown = JSON.parse(localStorage.getItem(SHOWN) || "[]");
  if (latest.state === "done" && shown.includes(latest.id)) return; // its receipt was read already
  const photosOf = all.filter((it) => it.dependsOn === latest.id);
  if (latest.state === "done") {
    if (photosOf.some((it) => it.state !== "done" && it.state !== "failed")) return; // photos still going
    const failed = photosOf.filter((it) => it.state === "failed").map((it) => it.label + "：" + it.error);
    done(latest.answer, failed);
    localStorage.setItem(SHOWN, JSON.stringify([...shown.slice(-20), latest.id]));
  } else if (latest.state === "failed") {
    $("report-form").hidden = false;
    fill($("report-result"), h("div", { class: "card" },
      h("div", { class: "say error", role: "alert" }, "举报未能提交：", latest.error),
      h("button", { type: "button", onclick: async () => { await store.retry(latest.id); send(); } }, "重试"), " ",
      h("button", { type: "button", onclick: async () => {
        for (const it of [latest, ...photosOf]) await store.remove(it.id);
        fill($("report-result"));
      } }, "放弃这次举报")));
    probe.errors.push(latest.error);
  } else {
    $("report-form").hidden = true;
    probe.saved = true;
    fill($("report-result"), h("div", { class: "card", id: "report-saved" },
      h("h2", {}, "举报已保存在本机"),
      h("p", {}, "网络暂不可用。恢复网络后将自动提交（共 " + photosOf.length + " 张照片），提交后在此显示回执码；请不要清除浏览器数据。"),
      h("button", { type: "button", class: "primary", onclick: send }, "立即重试")));
  }
}

function done(made, failed) {
  probe.receipt = made.receipt;
  probe.number = made.number;
  const link = location.origin + "/report/follow#" + made.receipt;
  $("report-form").hidden = true;
  fill($("report-result"), h("div", { class: "card receipt" },
    h("h2", {}, "举报已受理"),
    h("p", {}, "案件编号 ", h("b", {}, made.number)),
    h("p", {}, "您的回执码（请截图或抄下保存，凭此查询进度和评价）："),
    h("p", { class: "code", id: "receipt-code" }, made.receipt),
    h("p", {}, h("a", { href: "/report/follow#" + made.receipt, id: "receipt-link" }, "查询办理进度"), h("span", { class: "muted link-text" }, link)),
    made.linked_to ? h("div", { class: "say warning", id: "receipt-linked" },
      "您举报的位置约 " + Math.round(made.linked_to.distance_m) + " 米处已有正在办理的同一问题（" + made.linked_to.state_label + "），您的举报已与其关联、一并处理。") : null,
    failed.length ? h("div", { class: "say error" }, "有照片未能上传：", failed.join("；")) : null,
    h("p", { class: "muted" }, "回执码只显示这一次，请妥善保存；他人无法通过回执码看到您的电话。"),
    h("button", { type: "button", onclick: () => location.reload() }, "再举报一处")));
  window.scrollTo(0, 0);
}

function start() {
  header();
  map = newMap($("report-map"), { center: [41.94, 126.42], zoom: 12 });
  gridOutlines(map).then((layer) => { if (layer && !point && layer.getBounds().isValid()) map.fitBounds(layer.getBounds()); });
  map.on("click", (e) => setPoint({ lon: e.latlng.lng, lat: e.latlng.lat, picked: true }));
  $("report-locate").addEventListener("click", locate);
  const input = $("report-photo-input");
  input.addEventListener("change", async () => { const files = [...input.files]; input.value = ""; await addPhotos(files); });
  $("report-form").addEventListener("submit", submit);
  window.addEventListener("online", send);
  locate();
  store.items().then((all) => { if (all.some((it) => it.state === "waiting")) send(); else show(); });
  probe.ready = true;
}

start();
