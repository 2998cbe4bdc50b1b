// 执法记录仪视频 on the case page: the recorder's videos of the case, each with the step it
// belongs to, the time the recorder started and its length (read from the file by the server),
// its size and SHA-256, played in a <video> by ranges from a playback link the server signs
// (a <video> cannot send the bearer token); and an upload — the file chosen and the step, sent
// as the request's body (the browser streams the file) with a progress bar and a way to cancel.
// GET/POST /api/v1/cases/{number}/footage.

import { ApiError, authHeaders, getJSON, probe, setToken } from "/static/common/api.js";
import { fill, h } from "/static/common/dom.js";
import { showError, showInfo } from "/static/common/notice.js";
import { beijing, beijingShort, fileSize } from "/static/common/time.js";
import { filePicker } from "/static/common/upload.js";

const ACCEPT = "video/*,.mp4,.mov,.avi,.ts,.mkv,.webm,.flv,.wmv,.mpg";
const MB = 1024 * 1024;
let panel = null;

// the one call of the case page: the panel made the first time, brought up to date after
export function renderFootage(c, reload) {
  if (!panel || panel.number !== c.number) panel = new FootagePanel(c.number, reload);
  panel.render(c).catch((e) => { if (e.status !== 401) showError(e); });
}

// “1:05:09”, “3:07”, “0:02”
export function clock(seconds) {
  if (seconds == null) return "未知";
  const s = Math.round(seconds);
  const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
  const two = (n) => String(n).padStart(2, "0");
  return hh ? hh + ":" + two(mm) + ":" + two(ss) : mm + ":" + two(ss);
}

const size = (bytes) => (bytes >= 1024 * MB ? Number((bytes / 1024 / MB).toFixed(2)) + " GB" : fileSize(bytes));

// “现场核查 · 3月2日 09:20 · 张伟”: a step as the officer knows it (its label, when, who)
const stepName = (s, long) => [s.label, long ? beijing(s.at) : beijingShort(s.at), s.actor_name].filter(Boolean).join(" · ");

class FootagePanel {
  constructor(number, reload) {
    this.number = number;
    this.reload = reload;
    this.base = "/api/v1/cases/" + encodeURIComponent(number) + "/footage";
    this.items = new Map(); // sha256 → {li, video, entry}
    this.xhr = null;
    this.list = h("ul", { id: "footage-list", class: "footage-list" });
    this.empty = h("p", { class: "muted footage-empty" }, "本案尚未上传执法记录仪视频。");
    this.step = h("select", { id: "footage-step", required: true });
    this.picker = filePicker({ name: "footage", accept: ACCEPT, label: "选择视频文件" });
    this.picker.input.id = "footage-file";
    this.picker.el.querySelector("label").setAttribute("for", "footage-file");
    this.limit = h("p", { class: "hint" });
    this.bar = h("progress", { max: "1", value: "0" });
    this.status = h("span", { class: "footage-status", "aria-live": "polite" });
    this.cancel = h("button", { type: "button", class: "footage-cancel", onclick: () => this.xhr && this.xhr.abort() }, "取消上传");
    this.progress = h("div", { class: "footage-progress", hidden: true }, this.bar, this.status, this.cancel);
    this.send = h("button", { type: "submit", class: "primary", id: "footage-upload" }, "上传视频");
    this.form = h("form", { id: "footage-form", class: "footage-form", onsubmit: (e) => this.submit(e) },
      h("h3", {}, "上传视频"),
      h("div", { class: "field" }, h("label", { for: "footage-step" }, "所属办理步骤"), this.step),
      h("div", { class: "field" }, h("span", { class: "field-label" }, "视频文件"), this.picker.el),
      this.limit, this.progress,
      h("div", { class: "form-buttons" }, this.send));
    this.section = h("section", { id: "footage", class: "card footage", "aria-labelledby": "footage-title" },
      h("h2", { id: "footage-title" }, "执法记录仪视频", h("small", {}, "原始文件留存，不可删除")),
      this.empty, this.list, this.form);
    document.getElementById("history").before(this.section);
    window.addEventListener("beforeunload", (e) => {
      if (this.xhr) { e.preventDefault(); e.returnValue = ""; }
    });
  }

  async render() {
    const answer = await getJSON(this.base);
    probe.footage = answer.footage;
    this.maxMb = answer.max_mb;
    this.renderSteps(answer.steps);
    this.limit.textContent = "可上传记录仪导出的 MP4、MOV、AVI、TS、MKV、WebM 等视频，单个文件不超过 "
      + size(answer.max_mb * MB) + "。开始录制时间和时长从视频文件中读取；文件上传后保存原件并计算 SHA-256 校验值，不能删除或替换。";
    const steps = new Map(answer.steps.map((s) => [s.seq, s]));
    const order = answer.footage.slice().sort((a, b) =>
      (a.step.seq - b.step.seq) || String(a.recorded_at || a.uploaded_at).localeCompare(String(b.recorded_at || b.uploaded_at)));
    for (const entry of order) {
      const known = this.items.get(entry.sha256);
      if (known) known.entry = entry; // the newest link, for a video that must load again
      else this.items.set(entry.sha256, this.item(entry, steps.get(entry.step.seq)));
    }
    fill(this.list, order.map((e) => this.items.get(e.sha256).li));
    this.empty.hidden = order.length > 0;
  }

  renderSteps(steps) {
    const chosen = this.step.value;
    fill(this.step, steps.slice().reverse().map((s) =>
      h("option", { value: String(s.seq) }, stepName(s, false))));
    if (chosen && steps.some((s) => String(s.seq) === chosen)) this.step.value = chosen;
  }

  item(entry, step) {
    const video = h("video", { controls: true, preload: "metadata", playsinline: true, src: entry.play_url,
      "aria-label": "播放 " + entry.filename });
    const cannot = h("p", { class: "footage-cannot", hidden: true });
    const known = { entry, video, retried: false };
    video.addEventListener("error", () => this.failed(known, cannot));
    const stepText = stepName(step || entry.step, true);
    const who = entry.uploaded_by ? entry.uploaded_by.name + " · " : "";
    const download = h("a", { class: "button footage-download", href: entry.play_url + "&download=1",
      onclick: (e) => this.download(e, known) }, "下载原始文件");
    known.li = h("li", { class: "footage-item", id: "footage-" + entry.sha256, dataset: { sha: entry.sha256 } },
      h("div", { class: "footage-head" },
        h("strong", { class: "footage-name" }, entry.filename),
        h("span", { class: "chip info" }, entry.step.label || "办理步骤")),
      video, cannot,
      h("dl", { class: "footage-facts" },
        h("dt", {}, "开始录制"),
        h("dd", { class: entry.recorded_at ? null : "muted" }, entry.recorded_at ? beijing(entry.recorded_at) : "视频文件中没有记录"),
        h("dt", {}, "时长"), h("dd", {}, clock(entry.duration_s)),
        h("dt", {}, "文件大小"), h("dd", {}, size(entry.size) + (entry.width ? "（" + entry.width + "×" + entry.height + "）" : "")),
        h("dt", {}, "所属步骤"), h("dd", {}, stepText),
        h("dt", {}, "上传"), h("dd", {}, who + beijing(entry.uploaded_at)),
        h("dt", {}, "SHA-256"), h("dd", { class: "hash", title: entry.sha256 }, entry.sha256.slice(0, 16) + "…")),
      h("div", { class: "footage-actions" }, download));
    return known;
  }

  // a video that will not load: its link may have run out (an hour) — asked again once; else
  // the browser cannot play its format, and the file is offered to download
  async failed(known, cannot) {
    if (!known.retried) {
      known.retried = true;
      const at = known.video.currentTime;
      try {
        await this.render();
        known.video.src = known.entry.play_url;
        known.video.addEventListener("loadedmetadata", () => { if (at) known.video.currentTime = at; }, { once: true });
        return;
      } catch (e) { /* shown below */ }
    }
    cannot.hidden = false;
    fill(cannot, "此浏览器无法播放该视频的格式（如 H.265 编码或 AVI 文件）。请点击“下载原始文件”，用视频播放器观看。");
  }

  async download(e, known) {
    e.preventDefault();
    try {
      await this.render(); // a fresh link: the one on the page may have run out
      location.href = known.entry.play_url + "&download=1";
    } catch (err) {
      showError(err);
    }
  }

  async submit(e) {
    e.preventDefault();
    const file = this.picker.input.files[0];
    if (!file) return showError("请先选择要上传的视频文件");
    if (!this.step.value) return showError("请选择视频所属的办理步骤");
    if (this.maxMb && file.size > this.maxMb * MB) {
      return showError("“" + file.name + "”有 " + size(file.size) + "，超过 " + size(this.maxMb * MB)
        + " 的上限。请在记录仪的管理软件中分段导出后分别上传。");
    }
    if (file.size === 0) return showError("“" + file.name + "”是空文件，请重新选择");
    this.send.disabled = this.step.disabled = true;
    this.progress.hidden = false;
    this.show(0, file.size);
    try {
      const entry = await this.upload(file);
      const start = entry.recorded_at ? "，开始录制于 " + beijing(entry.recorded_at) : "";
      showInfo((entry.already_uploaded ? "该视频已上传过：" : "视频已上传：") + entry.filename + "，时长 " + clock(entry.duration_s) + start);
      this.picker.input.value = "";
      this.picker.input.dispatchEvent(new Event("change"));
      await this.reload(); // the case's history shows the upload; the list is drawn again
    } catch (err) {
      if (err.aborted) showInfo("已取消上传，视频未保存");
      else showError(err, { title: "视频上传失败" });
    } finally {
      this.xhr = null;
      this.send.disabled = this.step.disabled = false;
      this.progress.hidden = true;
    }
  }

  show(sent, total) {
    this.bar.value = total ? sent / total : 0;
    const pct = total ? Math.floor((sent / total) * 100) : 0;
    this.status.textContent = sent >= total && total
      ? "已发送，正在校验并读取视频信息…"
      : "已上传 " + size(sent) + " / " + size(total) + "（" + pct + "%）";
  }

  // the file itself as the body: the browser reads it from disk as it sends
  upload(file) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      this.xhr = xhr;
      const query = "?filename=" + encodeURIComponent(file.name) + "&event=" + encodeURIComponent(this.step.value);
      xhr.open("POST", this.base + query);
      for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
      xhr.setRequestHeader("Content-Type", file.type || "application/octet-stream");
      xhr.responseType = "json";
      xhr.upload.addEventListener("progress", (e) => this.show(e.loaded, e.lengthComputable ? e.total : file.size));
      probe.pending += 1;
      xhr.addEventListener("abort", () => reject(Object.assign(new Error("已取消上传"), { aborted: true })));
      xhr.addEventListener("loadend", () => {
        probe.pending -= 1;
        if (xhr.status >= 200 && xhr.status < 300) return resolve(xhr.response);
        if (xhr.status === 0) return reject(new ApiError(0, null));
        const error = new ApiError(xhr.status, xhr.response);
        if (xhr.status === 401) {
          setToken(null);
          window.dispatchEvent(new CustomEvent("weijian:login-needed", { detail: error }));
        }
        reject(error);
      });
      xhr.send(file);
    });
  }
}
