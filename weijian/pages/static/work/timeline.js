// The timeline of a case: every event with its label, who (name and role), when, the state it
// moved, its note, its data in the workflow's words (field labels, choice labels), and each
// file it carries — named, with its kind, size, uploader and time; photos as thumbnails
// (fetched with the token, ?thumb=320) that open the viewer, documents opened in the page.

import { blobURL, probe } from "/static/common/api.js";
import { fill, h } from "/static/common/dom.js";
import { beijing, fileSize } from "/static/common/time.js";
import { showDocument, showPhotos } from "/static/common/viewer.js";
import { showError } from "/static/common/notice.js";

const KIND = { photo: "照片", document: "文书", video: "视频" };
const THUMB = 320;
// data of events that are no workflow field, in words; anything else stays in the API
const EXTRA = {
  channel: ["来源渠道", (v, c, wf) => wf.channels[v] || v],
  track: ["案件类型", (v, c, wf) => (wf.tracks[v] || {}).label || v],
  // the report's event keeps the numbers only; the intake's answer has their distances too
  possible_duplicates: ["疑似重复", (v) => (v.length ? v.map((d) => (typeof d === "string" ? d : d.number + "（相距 " + Math.round(d.distance_m) + " 米）")).join("、") : null)],
  rebound_of: ["反弹自", (v) => v],
  assignee_name: ["承办人", (v) => v],
  other: ["关联案件", (v) => v],
  into: ["合并至", (v) => v],
  from: ["合并自", (v) => v],
  returned_to: ["退回至", (v) => (v && v.name) || v],
  made_at: ["现场办理时间", (v) => beijing(v)],
  meeting: ["联席会议", (v) => (v && v.title ? v.title + "（" + v.held_on + "）" : null)],
};

const path = (c, sha, thumb) =>
  "/api/v1/cases/" + encodeURIComponent(c.number) + "/evidence/" + sha + (thumb ? "?thumb=" + THUMB : "");

function value(code, v, c, wf, data) {
  const spec = wf.fields[code];
  if (spec) {
    if (spec.choices) return spec.choices[v] || v;
    if (spec.department) return data[code + "_name"] || v;
    if (spec.number) return Number(v).toLocaleString("zh-CN");
    return v;
  }
  return EXTRA[code][1](v, c, wf);
}

function dataList(e, c, wf) {
  const rows = [];
  for (const [code, v] of Object.entries(e.data || {})) {
    if (e.action === "add_evidence" || v == null || v === "") continue;
    // a step made offline on a phone: its time there, when it differs from the time it arrived
    if (code === "made_at" && Math.abs(Date.parse(v) - Date.parse(e.at)) < 60000) continue;
    if (!wf.fields[code] && !EXTRA[code]) continue;
    const shown = value(code, v, c, wf, e.data);
    if (shown == null || shown === "") continue;
    rows.push(h("dt", {}, wf.fields[code] ? wf.fields[code].label : EXTRA[code][0]), h("dd", { dataset: { field: code } }, shown));
  }
  return rows.length ? h("dl", { class: "event-data" }, rows) : null;
}

function fileCard(item, c, wf, photos) {
  const who = item.uploaded_by ? item.uploaded_by.name + (wf.roles[item.uploaded_by.role] ? "（" + wf.roles[item.uploaded_by.role] + "）" : "") : "";
  const meta = [KIND[item.kind] || item.kind, fileSize(item.size), who ? who + "上传于 " + beijing(item.uploaded_at) : beijing(item.uploaded_at),
    item.device_taken_at ? "手机记录拍摄于 " + beijing(item.device_taken_at) : null];
  const warning = item.flagged ? h("div", { class: "file-flag" }, "⚠ " + (item.flag_reason || "拍摄位置存疑")) : null;
  const name = h("span", { class: "file-name" }, item.filename);
  let opener;
  if (item.media_type.startsWith("image/")) {
    // a photo opens among the case's photos; a scanned document on its own
    const at = photos.findIndex((p) => p.sha === item.sha256);
    const own = [{ sha: item.sha256, path: path(c, item.sha256), title: item.filename }];
    const img = h("img", { class: "thumb", alt: item.filename, loading: "lazy" });
    queueThumb(img, path(c, item.sha256, true));
    opener = h("button", {
      type: "button", class: "thumb-button", "aria-label": "查看 " + item.filename,
      onclick: () => (at >= 0 ? showPhotos(photos, at) : showPhotos(own, 0)),
    }, img);
  } else if (item.media_type.startsWith("video/")) {
    // a recorder's video (GBs): played in its panel by ranges, never fetched whole here
    opener = h("button", {
      type: "button", class: "doc-button video-button", "aria-label": "播放视频 " + item.filename,
      onclick: () => playFootage(item.sha256),
    }, "▶ 视频");
  } else {
    const ext = (item.filename.split(".").pop() || "").toUpperCase().slice(0, 4);
    opener = h("button", {
      type: "button", class: "doc-button", "aria-label": "打开文件 " + item.filename,
      onclick: () => showDocument({ path: path(c, item.sha256), filename: item.filename, media_type: item.media_type }).catch(showError),
    }, ext || "文件");
  }
  return h("li", { class: "file", dataset: { sha: item.sha256, kind: item.kind } }, opener,
    h("div", { class: "file-text" }, name, h("div", { class: "file-meta" }, meta.filter(Boolean).join(" · ")), warning));
}

// the video in the 执法记录仪视频 panel, scrolled to and played
function playFootage(sha) {
  const item = document.getElementById("footage-" + sha);
  if (!item) return;
  item.scrollIntoView({ behavior: "smooth", block: "center" });
  const video = item.querySelector("video");
  if (video) video.play().catch(() => video.focus());
}

// an upload whose file a later step gave as its evidence: one line here, the card at the step
function fileLine(item, step) {
  return h("li", { class: "file compact", dataset: { sha: item.sha256, kind: item.kind } },
    h("span", { class: "file-name" }, item.filename),
    h("span", { class: "file-meta" }, [KIND[item.kind] || item.kind, fileSize(item.size), "用于“" + step + "”"].join(" · ")));
}

// thumbnails load a few at a time, so that a case of thirty photos does not queue the page
const waiting = [];
let running = 0;
function queueThumb(img, src) {
  waiting.push([img, src]);
  pump();
}
function pump() {
  while (running < 4 && waiting.length) {
    const [img, src] = waiting.shift();
    running += 1;
    probe.thumbs = (probe.thumbs || 0) + 1;
    blobURL(src).then((url) => { img.src = url; }, () => { img.alt = "缩略图读取失败"; })
      .finally(() => { running -= 1; probe.thumbs -= 1; pump(); });
  }
}

export function renderTimeline(el, c, wf) {
  const files = new Map((c.evidence || []).map((e) => [e.sha256, e]));
  const photos = (c.evidence || []).filter((e) => e.kind === "photo").map((e) => ({
    sha: e.sha256, path: path(c, e.sha256), title: e.filename,
    caption: [e.uploaded_by && e.uploaded_by.name, beijing(e.uploaded_at), e.flagged ? e.flag_reason : null].filter(Boolean).join(" · "),
  }));
  const usedBy = new Map(); // sha256 → the label of the first step that gave it as evidence
  for (const e of c.events || []) {
    if (e.action === "add_evidence") continue;
    for (const sha of e.evidence || []) if (!usedBy.has(sha)) usedBy.set(sha, e.label);
  }
  fill(el, (c.events || []).map((e) => {
    const state = e.from_state !== e.to_state && e.to_state
      ? h("span", { class: "event-state" }, (wf.states[e.from_state] || {}).label || "", e.from_state ? " → " : "", (wf.states[e.to_state] || {}).label || e.to_state)
      : null;
    const carried = (e.evidence || []).map((sha) => files.get(sha)).filter(Boolean);
    const used = e.action === "add_evidence" && carried.length && carried.every((item) => usedBy.has(item.sha256));
    return h("li", { class: "event", dataset: { seq: e.seq, action: e.action } },
      h("div", { class: "event-head" }, h("b", { class: "event-label" }, e.label), state),
      h("div", { class: "event-meta" }, e.actor.name, wf.roles[e.actor.role] ? " · " + wf.roles[e.actor.role] : "", " · ", h("time", { datetime: e.at }, beijing(e.at))),
      e.note ? h("p", { class: "event-note" }, e.note) : null,
      dataList(e, c, wf),
      carried.length
        ? h("ul", { class: "files" }, carried.map((item) => (used ? fileLine(item, usedBy.get(item.sha256)) : fileCard(item, c, wf, photos))))
        : null);
  }));
}
