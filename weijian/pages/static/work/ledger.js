// The monthly ledger page (月度台账报送): pick the month; the town's ledger in the page and as
// a workbook; a town clerk sends it with the signed scan (填报人, 审核人, 备注) and sees every
// submission with the district's decision; the district sees its towns' states and deadlines
// and accepts (接收) or returns (退回, with a reason) each town's latest submission.

import { api, ApiError, getJSON, once, probe, sendJSON, upload } from "/static/common/api.js";
import { $, fill, h } from "/static/common/dom.js";
import { mountHeader } from "/static/common/header.js";
import { whenLoggedIn } from "/static/common/login.js";
import { showError, showInfo } from "/static/common/notice.js";
import { beijing, fileSize, monthChoices, monthText } from "/static/common/time.js";
import { filePicker } from "/static/common/upload.js";
import { showDocument, showPhotos } from "/static/common/viewer.js";

const STATE_CHIPS = {
  not_submitted: "info", overdue: "danger", pending_review: "warn", returned: "danger", accepted: "ok",
};
// the ledger's columns shown in the page (all of them are in the workbook)
const SCAN_ACCEPT = ".pdf,application/pdf,image/jpeg,image/png";

const view = (probe.ledger = {
  loads: 0, loading: false, month: null, district: null, town: null, towns: [], history: null,
  rows: [],
});
let me = null;

const dayText = (d) => { const [y, m, n] = d.split("-"); return y + "年" + Number(m) + "月" + Number(n) + "日"; };

function chip(state, label) {
  return h("span", { class: "chip state-chip " + (STATE_CHIPS[state] || "info"), dataset: { state } }, label);
}

function viewScan(scan) {
  if (scan.media_type === "application/pdf") return showDocument({ path: scan.url, ...scan });
  return showPhotos([{ path: scan.url, title: scan.filename }], 0);
}

function scanLink(scan) {
  if (!scan) return h("span", { class: "muted" }, "—");
  return h("span", { class: "scan" },
    h("button", { type: "button", class: "link-button scan-link", onclick: () => viewScan(scan).catch(showError) }, "查看扫描件"),
    h("span", { class: "muted" }, "（" + (scan.media_type === "application/pdf" ? "PDF" : "照片") + "，" + fileSize(scan.size) + "）"));
}

// the signed scan's chooser, in Chinese whatever the browser's language
const scanPicker = () => filePicker({ name: "scan", accept: SCAN_ACCEPT, label: "选择扫描件" }).el;

// the months to pick from: this month (not over yet) and the two years before it, by the
// server's clock; a month asked for by the address is kept among them
function months(asOf, chosen) {
  fill($("month"), monthChoices(asOf, chosen).map(([value, label]) => h("option", { value }, label)));
  $("month").value = chosen;
}

// -- the month and the district ------------------------------------------------------------

function query() {
  const q = new URLSearchParams(location.search);
  return { month: q.get("month"), district: q.get("district"), town: q.get("town") };
}

function remember() {
  const q = new URLSearchParams();
  if (view.month) q.set("month", view.month);
  if (me && me.grid_code == null && view.district) q.set("district", view.district);
  if (view.town && me.role !== "town") q.set("town", view.town);
  history.replaceState(null, "", location.pathname + "?" + q);
}

async function districts() {
  const list = await once("/api/v1/cases/prefixes");
  return list.filter((d) => d.name);
}

async function load() {
  view.loading = true;
  try {
    const q = new URLSearchParams({ district: view.district });
    if (view.month) q.set("month", view.month);
    const list = await getJSON("/api/v1/ledger/submissions?" + q);
    view.month = list.month;
    view.towns = list.items;
    view.canReview = list.can_review;
    months(list.as_of, list.month);
    fill($("due"), "报送截止：", h("b", {}, dayText(list.due_date)), "（次月 ", list.due_date.slice(8).replace(/^0/, ""), " 日前报区县城管执法部门）");
    if (me.role === "town") view.town = me.grid_code;
    else if (!view.towns.some((t) => t.town_code === view.town)) view.town = view.towns.length ? view.towns[0].town_code : null;
    renderTowns(list);
    remember();
    await loadTown();
  } catch (e) {
    view.towns = [];
    fill($("ledger"), h("p", { class: "muted" }, e.message));
    if (e.status !== 401 && e.status !== 404) showError(e);
  } finally {
    view.loading = false;
    view.loads += 1;
    probe.renders += 1;
  }
}

async function loadTown() {
  if (!view.town) {
    fill($("ledger"), h("p", { class: "muted" }, "本区县没有镇（街道）网格"));
    $("send").hidden = $("history").hidden = true;
    return;
  }
  const base = "/api/v1/ledger/" + encodeURIComponent(view.town) + "/" + view.month;
  const [ledger, past] = await Promise.all([getJSON(base), getJSON(base + "/submissions")]);
  view.rows = ledger.rows;
  view.history = past;
  renderLedger(ledger, base);
  renderSend(past, base);
  renderHistory(past);
}

// -- the district's towns ------------------------------------------------------------------

function renderTowns(list) {
  const el = $("towns");
  if (me.role === "town") { el.hidden = true; return; }
  el.hidden = false;
  const counts = list.state_counts || {};
  const summary = ["accepted", "pending_review", "returned", "overdue", "not_submitted"].map((code) =>
    counts[code] ? h("span", { class: "town-count" }, labelOf(code) + " ", h("b", {}, counts[code])) : null);
  fill(el,
    h("h2", {}, (list.district_name || list.district) + " 各镇（街道）台账报送情况", h("small", {}, monthText(list.month))),
    h("p", { class: "town-summary" }, summary),
    h("div", { class: "town-head", "aria-hidden": "true" },
      ["镇（街道）", "状态", "截止日期", "报送时间", "填报人", "扫描件", "审核"].map((t) => h("span", {}, t))),
    h("ul", { class: "town-list" }, list.items.map(townRow)));
}

function labelOf(code) {
  return { not_submitted: "未报送", overdue: "逾期未报送", pending_review: "待审核", returned: "已退回", accepted: "已接收" }[code];
}

function townRow(t) {
  const canDecide = view.canReview && t.state === "pending_review";
  const decision = t.state === "returned"
    ? h("span", { class: "town-reason" }, "退回理由：", t.reason)
    : t.state === "accepted" ? h("span", { class: "muted" }, t.decided_by + " 接收") : null;
  return h("li", { class: "town-row" + (t.town_code === view.town ? " current" : ""), dataset: { town: t.town_code, state: t.state } },
    h("span", { class: "cell town-name" },
      h("button", { type: "button", class: "link-button", onclick: () => pickTown(t.town_code) }, t.town_name),
      h("span", { class: "muted town-code" }, t.town_code)),
    h("span", { class: "cell" }, chip(t.state, t.state_label), t.late ? h("span", { class: "chip warn late-chip" }, "逾期报送") : null),
    h("span", { class: "cell", "data-label": "截止" }, dayText(t.due_date)),
    h("span", { class: "cell", "data-label": "报送" }, t.submitted_at ? beijing(t.submitted_at) : "—",
      t.times > 1 ? h("span", { class: "muted" }, "（第 " + t.times + " 次）") : null),
    h("span", { class: "cell", "data-label": "填报人" }, t.submitter || "—"),
    h("span", { class: "cell" }, scanLink(t.scan)),
    h("span", { class: "cell town-actions" },
      canDecide ? [
        h("button", { type: "button", class: "primary accept", onclick: () => accept(t) }, "接收"),
        h("button", { type: "button", class: "return", onclick: () => askReturn(t) }, "退回"),
      ] : decision));
}

async function pickTown(code) {
  view.town = code;
  for (const row of document.querySelectorAll(".town-row")) row.classList.toggle("current", row.dataset.town === code);
  remember();
  view.loading = true;
  try { await loadTown(); } catch (e) { showError(e); } finally { view.loading = false; view.loads += 1; }
  $("ledger").scrollIntoView({ block: "start", behavior: "smooth" });
}

async function accept(t) {
  try {
    await sendJSON("/api/v1/ledger/submissions/" + t.submission_id + "/review", { decision: "accept" });
    showInfo(t.town_name + " " + monthText(view.month) + "台账已接收");
    await load();
  } catch (e) { showError(e); }
}

function askReturn(t) {
  const dialog = $("return-dialog");
  const form = dialog.querySelector("form");
  form.reason.value = "";
  fill(form.querySelector(".form-error"));
  fill(form.querySelector(".return-town"), t.town_name + " · " + monthText(view.month) + "台账 · 填报人 " + t.submitter);
  dialog.dataset.submission = t.submission_id;
  dialog.dataset.town = t.town_name;
  dialog.showModal();
  form.reason.focus();
}

function mountDialog() {
  const dialog = $("return-dialog");
  const form = dialog.querySelector("form");
  dialog.querySelector(".return-cancel").addEventListener("click", () => dialog.close());
  // the message goes once a reason is being written
  form.reason.addEventListener("input", () => fill(form.querySelector(".form-error")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const reason = form.reason.value.trim();
    const error = form.querySelector(".form-error");
    if (!reason) { fill(error, "请填写退回理由"); form.reason.focus(); return; }
    const button = form.querySelector(".return-confirm");
    button.disabled = true;
    try {
      await sendJSON("/api/v1/ledger/submissions/" + dialog.dataset.submission + "/review", { decision: "return", reason });
      dialog.close();
      showInfo(dialog.dataset.town + " 台账已退回");
      await load();
    } catch (e) {
      fill(error, e.message);
    } finally {
      button.disabled = false;
    }
  });
}

// -- the ledger ----------------------------------------------------------------------------

function renderLedger(ledger, base) {
  const download = h("button", { type: "button", class: "download" }, "下载台账（Excel）");
  download.addEventListener("click", async () => {
    try {
      const blob = await (await api(base + "?format=xlsx")).blob();
      const a = h("a", { href: URL.createObjectURL(blob), download: "台账-" + ledger.town_name + "-" + ledger.month + ".xlsx" });
      document.body.append(a);
      a.click();
      a.remove();
      probe.ledger.downloaded = a.download;
    } catch (e) { showError(e); }
  });
  const c = ledger.counts;
  const table = ledger.rows.length
    ? h("div", { class: "ledger-scroll", tabindex: "0", role: "region", "aria-label": "台账明细（可左右滚动）" },
      h("table", { class: "ledger-table" },
        h("thead", {}, h("tr", {}, ledger.headers.map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, ledger.rows.map((r) => h("tr", { class: r.overdue ? "overdue" : null },
          ledger.headers.map((t) => h("td", { class: t === "是否超期" && r[t] === "是" ? "late" : null }, r[t] === "" || r[t] == null ? "" : r[t])))))))
    : h("p", { class: "muted ledger-empty" }, "本月没有在办或新增的违法建设案件（台账为空表，仍须报送）");
  fill($("ledger"),
    h("div", { class: "ledger-head" },
      h("h2", {}, ledger.town_name + " " + monthText(ledger.month) + "违法建设台账"),
      download),
    h("p", { class: "ledger-counts" }, "共 ", h("b", {}, c.total), " 件：新增 ", c.new, " 件，存量 ", c.backlog, " 件，超期 ",
      h("b", { class: c.overdue ? "late" : null }, c.overdue), " 件。下载的台账含标题、签章栏，横向打印、每页重复表头；签字盖章后扫描报送。"),
    table);
}

// -- sending it ----------------------------------------------------------------------------

function renderSend(past, base) {
  const el = $("send");
  if (!past.can_submit) { el.hidden = true; return; }
  el.hidden = false;
  const again = past.state === "returned" || past.state === "pending_review";
  const form = h("form", { class: "send-form", novalidate: true },
    h("div", { class: "send-fields" },
      h("label", {}, "填报人 ", h("span", { class: "required" }, "（必填，本人姓名）"),
        h("input", { name: "submitter", maxlength: "30", autocomplete: "name", placeholder: "如：张建国" })),
      h("label", {}, "审核人 ", h("span", { class: "optional" }, "（选填）"),
        h("input", { name: "reviewer", maxlength: "30", placeholder: "如：李明" }))),
    h("label", {}, "备注 ", h("span", { class: "optional" }, "（选填）"),
      h("textarea", { name: "note", maxlength: "500", rows: "2", placeholder: again ? "如：已按退回意见补签审核人" : "" })),
    h("div", { class: "scan-field" },
      h("span", { class: "scan-label" }, "签字盖章的台账扫描件 ", h("span", { class: "required" }, "（必传，PDF 或 JPG、PNG 照片）")),
      scanPicker()),
    h("p", { class: "form-error", role: "alert" }),
    h("progress", { max: "1", value: "0", hidden: true }),
    h("button", { type: "submit", class: "primary send-button" }, again ? "重新报送" : "报送"));
  form.addEventListener("submit", (event) => { event.preventDefault(); send(form, base); });
  form.addEventListener("input", () => fill(form.querySelector(".form-error")));
  if (past.state === "pending_review") {
    // sent, awaiting the district: a correction is possible, out of the way
    fill(el, h("details", { class: "send-again" },
      h("summary", {}, "需要更正？重新报送", h("span", { class: "muted" }, "（将取代待审核的上一次报送，原记录保留）")),
      form));
    return;
  }
  fill(el,
    h("h2", {}, again ? "重新报送台账" : "报送台账", h("small", {}, "截止 " + dayText(past.due_date))),
    past.state === "returned"
      ? h("p", { class: "returned-note" }, "区县已退回：", h("b", { class: "returned-reason" }, past.items[0].reason), "。请更正后重新报送，原报送记录保留。")
      : null,
    form);
}

async function send(form, base) {
  const error = form.querySelector(".form-error");
  const submitter = form.submitter.value.trim();
  const file = form.scan.files[0];
  if (!submitter) { fill(error, "请填写填报人的姓名"); form.submitter.focus(); return; }
  if (!file) { fill(error, "请选择签字盖章的台账扫描件（PDF 或 JPG、PNG 照片）"); return; }
  fill(error);
  const data = new FormData();
  data.append("submitter", submitter);
  if (form.reviewer.value.trim()) data.append("reviewer", form.reviewer.value.trim());
  if (form.note.value.trim()) data.append("note", form.note.value.trim());
  data.append("scan", file, file.name);
  const button = form.querySelector(".send-button");
  const bar = form.querySelector("progress");
  button.disabled = true;
  bar.hidden = false;
  try {
    const record = await upload(base + "/submission", data, (p) => { bar.value = p; });
    showInfo(monthText(view.month) + "台账已报送，填报人 " + record.submitter);
    await load();
  } catch (e) {
    fill(error, e instanceof ApiError ? e.message : "报送未能完成");
  } finally {
    button.disabled = false;
    bar.hidden = true;
  }
}

// -- the history ---------------------------------------------------------------------------

function renderHistory(past) {
  const el = $("history");
  el.hidden = false;
  const n = past.items.length;
  fill(el,
    h("h2", {}, "报送记录", h("small", {}, monthText(past.month))),
    h("p", { class: "history-state" }, "当前状态：", chip(past.state, past.state_label),
      past.status === "late" ? h("span", { class: "chip warn late-chip" }, "逾期报送") : null,
      h("span", { class: "muted" }, " 报送截止 " + dayText(past.due_date))),
    n ? h("ol", { class: "history-list" }, past.items.map((s, i) => h("li", { class: "submission", dataset: { id: s.id } },
      h("div", { class: "submission-head" },
        h("b", {}, "第 " + (n - i) + " 次报送"),
        h("span", {}, beijing(s.submitted_at)),
        s.superseded_by ? h("span", { class: "chip info" }, "已被重新报送取代")
          : s.decision ? chip(s.decision, s.decision === "accepted" ? "已接收" : "已退回")
          : chip("pending_review", "待审核")),
      h("div", { class: "submission-facts" },
        h("span", {}, "填报人：", h("b", {}, s.submitter)),
        s.reviewer ? h("span", {}, "审核人：", s.reviewer) : null,
        h("span", {}, "案件 " + s.case_count + " 件"),
        scanLink(s.scan)),
      s.note ? h("p", { class: "submission-note" }, "备注：", s.note) : null,
      s.decision ? h("p", { class: "submission-decision " + s.decision },
        s.decision === "returned" ? ["退回理由：", h("b", {}, s.reason), " "] : "已接收 ",
        h("span", { class: "muted" }, "（" + s.decided_by + "，" + beijing(s.reviewed_at) + "）")) : null)))
      : h("p", { class: "muted" }, "本月台账尚未报送"));
}

// -- the start -----------------------------------------------------------------------------

$("pick").addEventListener("change", () => {
  view.month = $("month").value || view.month;
  if (!$("district-field").hidden) view.district = $("district").value;
  load();
});
$("pick").addEventListener("submit", (event) => event.preventDefault());
mountDialog();

whenLoggedIn(async () => {
  try {
    me = await mountHeader($("bar"), { here: "ledger" });
    const q = query();
    view.month = q.month;
    view.town = q.town;
    if (me.grid_code == null) {
      const list = await districts();
      view.district = q.district || (list[0] && list[0].district_code);
      fill($("district"), list.map((d) => h("option", { value: d.district_code }, d.name)));
      $("district").value = view.district;
      $("district-field").hidden = false;
    } else {
      view.district = me.district_code;
    }
    await load();
    probe.ready = true;
  } catch (e) {
    if (e.status !== 401) showError(e);
  }
});
