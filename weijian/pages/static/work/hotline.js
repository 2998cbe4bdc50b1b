// 12345 热线工单导入 on the workbench's home page, for those who may import (administrators,
// supervisors and the departments, as the API allows): the export uploaded, the import worked in
// the background (POST /api/v1/jobs/uploads, kind hotline_import) with the work orders done of
// all, then the result of every row as a workbook to download, with the import's counts (the
// job's summary) beside it. A page opened again follows the same import.

import { upload } from "/static/common/api.js";
import { h } from "/static/common/dom.js";
import { jobPanel } from "/static/common/jobs.js";
import { showError, showInfo } from "/static/common/notice.js";
import { filePicker } from "/static/common/upload.js";

const CRS = [
  ["gcj02", "GCJ-02（高德、腾讯地图）"],
  ["wgs84", "WGS-84（GPS）"],
  ["bd09", "BD-09（百度地图）"],
  ["cgcs2000", "CGCS2000"],
];

export const mayImport = (me, wf) => ["admin", "supervisor", ...(wf.department_roles || [])].includes(me.role);

// the finished import's counts beside its download: 新增 120 条，已存在 3 条，未通过 2 条
export function countsText(job) {
  const s = job.state === "succeeded" && job.summary;
  if (!s || typeof s.created !== "number") return "";
  return "新增 " + s.created + " 条，已存在 " + s.exists + " 条，未通过 " + s.errors + " 条";
}

export function mountHotline(el) {
  const picked = filePicker({ name: "file", accept: ".xlsx,.xlsm,.csv,.txt", label: "选择导出文件" });
  const crs = h("select", { name: "crs" }, CRS.map(([value, label]) => h("option", { value }, label)));
  const submit = h("button", { type: "submit", class: "primary" }, "上传并导入");
  const sending = h("progress", { max: 1, value: 0, hidden: true, "aria-label": "上传进度" });
  const panel = h("div", { id: "hotline-job", class: "job-panel", hidden: true, "aria-live": "polite" });
  const form = h("form", { id: "hotline-form", class: "hotline-form", autocomplete: "off" },
    h("div", { class: "file-pick-field" }, picked.el),
    h("label", {}, "无“坐标系”列时按", crs),
    submit, sending);
  el.replaceChildren(h("h2", {}, "12345 热线工单导入"),
    h("p", { class: "hint" }, "上传 12345 热线导出的 .xlsx 或 .csv 文件：每条工单立一件案件，已导入过的工单不会重复立案。"
      + "导入在后台进行，可离开本页；完成后下载导入结果，查看每行的结果与原因。"),
    form, panel);
  el.hidden = false;

  const job = jobPanel(panel, {
    key: "hotline-import",
    button: submit,
    onFinished: (done, fresh) => {
      const text = countsText(done);
      if (text) panel.append(h("span", { class: "job-counts" }, text));
      if (fresh && done.state === "succeeded") showInfo("12345 工单导入已完成，请下载导入结果查看每行的结果");
    },
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = picked.input.files[0];
    if (!file) { showError(new Error("请先选择 12345 热线导出的文件")); return; }
    const data = new FormData();
    data.append("kind", "hotline_import");
    data.append("parameters", JSON.stringify({ crs: crs.value }));
    data.append("file", file);
    submit.disabled = true;
    sending.hidden = false;
    try {
      const queued = await upload("/api/v1/jobs/uploads", data, (p) => { sending.value = p; });
      picked.input.value = "";
      picked.input.dispatchEvent(new Event("change"));
      job.adopt(queued);
    } catch (e) {
      showError(e, { title: "未能开始导入：" });
      submit.disabled = false;
    } finally {
      sending.hidden = true;
    }
  });
  return job;
}
