// 执法文书登记簿 (/work/documents): every number given to a document of the cases the user may
// read, per department, kind and year in order, a voided one marked 已作废; exported to Excel
// by the same request with format=xlsx.

import { api, getJSON, probe } from "/static/common/api.js";
import { $, fill, h } from "/static/common/dom.js";
import { mountHeader } from "/static/common/header.js";
import { whenLoggedIn } from "/static/common/login.js";
import { showError } from "/static/common/notice.js";
import { beijing } from "/static/common/time.js";

const departments = new Map();

whenLoggedIn(async () => {
  try {
    await mountHeader($("bar"), { here: "documents" });
    const year = new Date().getFullYear();
    fill($("register-year"), ...[year, year - 1, year - 2].map((y) => h("option", { value: String(y) }, y + " 年")),
      h("option", { value: "" }, "全部年度"));
    const { kinds } = await getJSON("/api/v1/documents/catalogue");
    for (const k of kinds) $("register-kind").append(h("option", { value: k.kind }, k.title));
    for (const id of ["register-year", "register-kind", "register-department"]) $(id).addEventListener("change", load);
    $("register-export").addEventListener("click", exportXlsx);
    await load();
  } catch (e) {
    if (e.status !== 401) showError(e);
  }
});

function query(format) {
  const q = new URLSearchParams({ limit: "5000", format });
  for (const [id, name] of [["register-year", "year"], ["register-kind", "kind"], ["register-department", "department"]]) {
    if ($(id).value) q.set(name, $(id).value);
  }
  return "/api/v1/documents?" + q;
}

async function load() {
  try {
    const { documents } = await getJSON(query("json"));
    for (const d of documents) departments.set(d.department_code, d.department_name);
    const chosen = $("register-department").value;
    fill($("register-department"), h("option", { value: "" }, "全部"),
      ...[...departments].map(([code, name]) => h("option", { value: code, selected: code === chosen || null }, name)));
    render(documents);
  } catch (e) {
    showError(e);
  }
  probe.ready = true;
}

function render(documents) {
  if (!documents.length) {
    fill($("register-list"), h("p", { class: "muted" }, "所选范围内没有签发过执法文书。"));
    return;
  }
  fill($("register-list"), h("table", { class: "register-table" },
    h("thead", {}, h("tr", {}, ...["文号", "文书", "状态", "案件", "承办部门", "签发", "送达"].map((t) => h("th", {}, t)))),
    h("tbody", {}, ...documents.map((d) => h("tr", { class: d.status },
      h("td", { "data-label": "文号" }, h("span", { class: "register-number" }, d.number)),
      h("td", { "data-label": "文书" }, d.title),
      h("td", { "data-label": "状态" }, h("span", { class: "badge " + ({ issued: "ok", voided: "bad" }[d.status] || "") }, d.status_label),
        d.void_reason ? h("div", { class: "muted" }, d.void_reason) : null),
      h("td", { "data-label": "案件" }, h("a", { href: "/work/cases/" + encodeURIComponent(d.case) }, d.case)),
      h("td", { "data-label": "承办部门" }, d.department_name),
      h("td", { "data-label": "签发" }, beijing(d.issued_at) + (d.issued_by ? " " + d.issued_by : "")),
      h("td", { "data-label": "送达" }, d.served_on || (d.kind === "proof_of_service" ? "—" : "未送达")))))));
}

async function exportXlsx() {
  try {
    const r = await api(query("xlsx"));
    const url = URL.createObjectURL(await r.blob());
    const a = h("a", { href: url, download: "执法文书登记簿.xlsx" });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (e) {
    showError(e);
  }
}
