// A background job asked for by a page and followed to its file (POST /api/v1/jobs): a
// progress bar with the step in words — 排队中, 正在生成，已完成 3/12, 已完成 with the download,
// 失败：the reason — while the page goes on. The job is read every second; its id is kept in
// sessionStorage, so a page opened again follows the same job. An import is asked for with its
// file (POST /api/v1/jobs/uploads) by the page itself, which hands the panel the job (`adopt`).

import { api, getJSON, sendJSON } from "./api.js";
import { fill, h } from "./dom.js";

// what tests can read: every state and progress each job was seen in
export const probe = (window.weijianJobs = window.weijianJobs || { seen: {} });

// the kinds whose running step the server words itself (正在导入，已完成 40,960/100,290 个图斑)
const STEPPED = ["layer_import", "hotline_import"];

export function describe(job, doing = "正在生成") {
  const p = job.progress;
  if (job.state === "queued") return p.step && p.step !== "排队中" ? "排队中（" + p.step + "）" : "排队中";
  if (job.state === "running") {
    if (STEPPED.includes(job.kind)) return p.step || "正在导入";
    if (!p.total) return doing;
    return p.done < p.total ? doing + "，已完成 " + p.done + "/" + p.total : doing + "：" + p.step;
  }
  if (job.state === "succeeded") return "已完成";
  return "失败：" + ((job.error && job.error.message) || "原因不明，请重新生成");
}

// a file of the API saved under its Chinese name (a link cannot send the token itself)
export async function save(path, name) {
  const blob = await (await api(path)).blob();
  const a = h("a", { href: URL.createObjectURL(blob), download: name });
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 60000);
}

// The panel of one kind of job in `el` (hidden until there is a job): `start()` asks for a new
// one; a job asked for earlier under the same `key` is followed again at once. `button`, when
// given, is disabled while a job is unfinished. `parameters` may be a function, read when a job is
// asked for (the page's choices at that moment); `doing` names the work (正在生成文书).
// `adopt(job)` follows a job the page asked for itself (an upload). `onFinished(job, fresh)` is
// called once a followed job has succeeded or failed — `fresh` when this page saw it unfinished,
// not when it was finished already as a reloaded page took it up again.
export function jobPanel(el, { key, kind, parameters, button, every = 1000, doing = "正在生成", onFinished }) {
  const stored = "weijian.job." + key;
  let following = null;
  let unfinished = null; // the id of the job seen queued or running

  function render(job) {
    const p = job.progress;
    const done = job.state === "succeeded";
    const bar = h("progress", { class: "job-bar", max: String(p.total || 1) });
    if (done) bar.value = p.total || 1;
    else if (job.state === "running" && p.total) bar.value = p.done; // queued: no value, it moves
    const link = done && job.download_url
      ? h("a", { href: job.download_url, class: "job-download", onclick: (e) => { e.preventDefault(); save(job.download_url, job.file_name).catch((err) => fill(status, "下载失败：" + err.message)); } }, "下载 " + job.file_name)
      : null;
    const status = h("span", { class: "job-status " + job.state }, describe(job, doing));
    fill(el, done || job.state === "failed" ? null : bar, status, link);
    el.dataset.state = job.state;
    el.hidden = false;
    if (button) button.disabled = job.state === "queued" || job.state === "running";
    (probe.seen[job.id] = probe.seen[job.id] || []).push({ state: job.state, done: p.done, total: p.total });
    if (job.state === "queued" || job.state === "running") unfinished = job.id;
  }

  async function follow(id) {
    following = id;
    while (following === id && el.isConnected) {
      let job;
      try {
        job = await getJSON("/api/v1/jobs/" + encodeURIComponent(id));
      } catch (err) {
        if (err.status === 404 || err.status === 401) {
          sessionStorage.removeItem(stored);
          el.hidden = true;
          if (button) button.disabled = false;
          return;
        }
        fill(el, h("span", { class: "job-status" }, "暂时读不到任务进度（" + err.message + "），稍后重试…"));
        await new Promise((r) => setTimeout(r, every * 3));
        continue;
      }
      if (following !== id) return;
      render(job);
      if (job.state === "succeeded" || job.state === "failed") {
        if (onFinished) {
          try {
            await onFinished(job, unfinished === job.id);
          } catch (err) {
            el.append(h("span", { class: "job-status failed" }, "未能读取结果：" + err.message));
          }
        }
        return;
      }
      await new Promise((r) => setTimeout(r, every));
    }
  }

  async function start() {
    if (button) button.disabled = true;
    try {
      const asked = typeof parameters === "function" ? parameters() : parameters;
      const job = await sendJSON("/api/v1/jobs", { kind, parameters: asked });
      sessionStorage.setItem(stored, String(job.id));
      render(job);
      follow(job.id);
    } catch (err) {
      fill(el, h("span", { class: "job-status failed" }, "失败：" + err.message));
      el.hidden = false;
      if (button) button.disabled = false;
    }
  }

  function adopt(job) {
    sessionStorage.setItem(stored, String(job.id));
    render(job);
    follow(job.id);
  }

  // taken up once the page has placed the panel (a panel made before its form is shown)
  const earlier = sessionStorage.getItem(stored);
  if (earlier) Promise.resolve().then(() => follow(earlier));
  return { start, adopt };
}
