// The supervisors' dashboard (统计): for the user's scope and a period (month, quarter, year or
// a range of days), the totals, the monthly trend as charts (Chart.js, served by this server),
// the ranking tables of districts, towns and communities by the assessment score or by 清零,
// each exported as xlsx by the server, and the definitions. Every figure is the answer of
// GET /api/v1/stats; a row leads to the map, zoomed to its grid with the grid's cases. The
// period lives in the address (?period=2026-Q1, ?from=…&to=…), so a reload or a link keeps it.
// Prints on A4 landscape (stats.css) with the scope, the period, the date and the definitions.
// Long work runs as background jobs (common/jobs.js) with a progress bar and the download: the
// campaign's progress on today's grids (按现行网格重新计算) and, for city-wide users, a table of
// the whole city (生成统计表, for a month, quarter or year) beside the direct 导出 Excel.

import { api, getJSON, probe } from "/static/common/api.js";
import { $, fill, h } from "/static/common/dom.js";
import { mountHeader } from "/static/common/header.js";
import { whenLoggedIn } from "/static/common/login.js";
import { showError } from "/static/common/notice.js";
import { monthChoices } from "/static/common/time.js";
import { jobPanel } from "/static/common/jobs.js";

const state = (probe.stats = { loads: 0, loading: false, data: null, sort: {}, indicators: {} });
const form = $("controls");
const fmt = (n) => (n == null ? "—" : Number(n).toLocaleString("zh-CN"));
const pct = (n) => (n == null ? "—" : n.toFixed(1) + "%");
const charts = {};
const WITHOUT_TODO = ["supervisor", "admin"]; // their desk has no 待办 (inbox.js)

// -- the period: the form ⇄ the address ⇄ the query ------------------------------------------

function readAddress() {
  const p = new URLSearchParams(location.search);
  const period = p.get("period") || "";
  if (p.get("from") && p.get("to")) {
    form.kind.value = "range";
    form.from.value = p.get("from");
    form.to.value = p.get("to");
  } else if (/^\d{4}$/.test(period)) {
    form.kind.value = "year";
    form.year.value = period;
  } else if (/^\d{4}-Q[1-4]$/i.test(period)) {
    form.kind.value = "quarter";
    form.qyear.value = period.slice(0, 4);
    form.quarter.value = period.slice(-1);
  } else {
    form.kind.value = "month";
    state.month = /^\d{4}-\d{2}$/.test(period) ? period : "";  // the choices come with the answer
  }
  state.campaign = p.get("campaign") || "";
  showKind();
}

function query() {
  const p = new URLSearchParams();
  const kind = form.kind.value;
  if (kind === "range" && form.from.value && form.to.value) {
    p.set("from", form.from.value);
    p.set("to", form.to.value);
  } else if (kind === "year" && form.year.value) p.set("period", form.year.value);
  else if (kind === "quarter" && form.qyear.value) p.set("period", form.qyear.value + "-Q" + form.quarter.value);
  else if (kind === "month" && (form.month.value || state.month)) p.set("period", form.month.value || state.month);
  const campaign = form.campaign.value || state.campaign;
  if (campaign) p.set("campaign", campaign);
  return p;
}

function showKind() {
  for (const label of form.querySelectorAll("[data-kind]")) label.hidden = label.dataset.kind !== form.kind.value;
}

// the form shows the period the server answered for (this month when none was asked)
function fillForm(d) {
  const [y, m] = d.period.from.split("-");
  const month = form.month.value || state.month || y + "-" + m;
  fill(form.month, monthChoices(d.as_of, month).map(([value, label]) => h("option", { value }, label)));
  form.month.value = month;
  if (!form.year.value) form.year.value = y;
  if (!form.qyear.value) { form.qyear.value = y; form.quarter.value = String(Math.ceil(Number(m) / 3)); }
  if (!form.from.value) { form.from.value = d.period.from; form.to.value = d.period.to; }
  fill(form.campaign, h("option", { value: "" }, d.campaigns.length ? "最新的清零行动" : "（暂无清零行动）"),
    d.campaigns.map((c) => h("option", { value: String(c.id), selected: String(c.id) === state.campaign }, c.name)));
}

async function load() {
  const p = query();
  state.loading = true;
  try {
    const d = await getJSON("/api/v1/stats?" + p);
    state.data = d;
    state.query = p.toString();
    history.replaceState(null, "", location.pathname + (p.toString() ? "?" + p : ""));
    fillForm(d);
    render(d);
  } catch (e) {
    if (e.status !== 401) showError(e);
  } finally {
    state.loading = false;
    state.loads += 1;
  }
}

// -- rendering ---------------------------------------------------------------------------------

function render(d) {
  const printed = new Date().toLocaleDateString("sv-SE", { timeZone: "Asia/Shanghai" })  // 2026-03-24;
  $("report-title").textContent = d.scope.name + "违法建设统计";
  $("head-scope").textContent = d.scope.name + (d.scope.level === "city" ? "" : "（" + d.scope.label + "）");
  $("head-period").textContent = d.period.label + "（" + d.period.from + " 至 " + d.period.to + "）";
  $("head-campaign").textContent = d.campaign ? d.campaign.name + "（" + d.campaign.start_date + " 起，截至 " + d.campaign.as_of + "）" : "无";
  $("head-date").textContent = printed;
  document.title = d.scope.name + "违法建设统计 " + d.period.label;
  renderRecompute(d);
  renderTotals(d);
  renderCharts(d);
  fill($("tables"), Object.keys(d.tables).map((level) => tableCard(d, level)));
  fill($("definitions"), d.definitions.map((x) => [h("dt", {}, x.name), h("dd", {}, x.text)]));
}

// -- background jobs: the campaign's progress on today's grids, the city's table ---------------

const CITY_EXPORTERS = (me) => me && !["grid_worker", "property_company"].includes(me.role);
let recompute = null;

function renderRecompute(d) {
  const tools = $("campaign-tools");
  tools.hidden = !d.campaign;
  if (!d.campaign || recompute) return;
  const me = probe.me || {};
  recompute = jobPanel($("recompute-job"), {
    key: "progress_current",
    kind: "progress_current",
    doing: "正在按现行网格统计",
    button: $("recompute"),
    parameters: () => ({ campaign: state.data.campaign.id, grid: me.grid_code || null }),
  });
}

// the period a job can be asked for (2026, 2026-Q1 or 2026-03); a range of days: none
function jobPeriod(d) {
  const kind = form.kind.value;
  if (kind === "range") return null;
  const asked = new URLSearchParams(state.query).get("period");
  if (asked) return asked;
  return kind === "month" ? d.period.from.slice(0, 7) : null;
}

function cityTable(d) {
  return d.scope.level === "city" && CITY_EXPORTERS(probe.me) && jobPeriod(d) != null;
}

function statsJob(level, button, el) {
  return jobPanel(el, {
    key: "stats_export." + level,
    kind: "stats_export",
    button,
    doing: "正在生成统计表",
    parameters: () => {
      const campaign = new URLSearchParams(state.query).get("campaign");
      return {
        period: jobPeriod(state.data),
        table: level,
        sort: state.sort[level] || "score",
        ...(campaign ? { campaign: Number(campaign) } : {}),
      };
    },
  });
}

function renderTotals(d) {
  const t = d.totals;
  if (!t) return fill($("totals"), h("p", { class: "muted" }, "范围内没有案件"));
  const tiles = [
    ["reported", "新增", fmt(t.reported)],
    ["backlog_open", "存量在办", fmt(t.backlog_open)],
    ["signed_off", "办结销号", fmt(t.signed_off)],
    ["clear_percent", "清零进度", t.clear_baseline == null ? "—" : pct(t.clear_percent),
      t.clear_baseline == null ? "无清零行动" : fmt(t.clear_signed_off) + " / " + fmt(t.clear_baseline) + " 件"],
    ["overdue", "超期", fmt(t.overdue)],
    ["stalled", "停滞", fmt(t.stalled)],
    ["urges_open", "督办未答复", fmt(t.urges_open)],
  ];
  const stages = d.stages.filter((s) => t.overdue_by_stage[s.code] > 0);
  fill($("totals"),
    h("ul", { class: "tiles" }, tiles.map(([key, label, value, note]) =>
      h("li", { class: "tile", dataset: { key } }, h("span", { class: "tile-label" }, label),
        h("strong", { class: "tile-value" }, value), note ? h("span", { class: "tile-note" }, note) : null))),
    h("p", { class: "by-stage" }, h("span", { class: "muted" }, "超期案件按环节："),
      stages.length ? stages.map((s) => h("span", { class: "chip danger", dataset: { stage: s.code } }, s.label + " " + t.overdue_by_stage[s.code])) : "无"));
}

function renderCharts(d) {
  if (!window.Chart) return;
  const common = { animation: false, responsive: true, maintainAspectRatio: false, plugins: { legend: { position: "bottom" } } };
  const monthly = d.trend.monthly;
  draw("monthly", {
    type: "bar",
    data: {
      labels: monthly.map((m) => m.month),
      datasets: [
        { label: "新增", data: monthly.map((m) => m.reported), backgroundColor: "#6a51a3" },
        { label: "办结销号", data: monthly.map((m) => m.signed_off), backgroundColor: "#2e7d32" },
      ],
    },
    options: { ...common, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
  });
  const clear = d.trend.campaign;
  draw("clear", {
    type: "line",
    data: {
      labels: clear.map((m) => m.month),
      datasets: [{ label: d.campaign ? d.campaign.name : "清零进度", data: clear.map((m) => m.percent), borderColor: "#006837", backgroundColor: "#a6d96a", fill: true, pointRadius: 4 }],
    },
    options: { ...common, scales: { y: { beginAtZero: true, max: 100, ticks: { callback: (v) => v + "%" } } } },
  });
}

function draw(name, config) {
  if (charts[name]) charts[name].destroy();
  charts[name] = new window.Chart($("chart-" + name), config);
}

const COLUMNS = [
  ["reported", "新增"], ["signed_off", "办结销号"], ["backlog_open", "存量在办"],
  ["clear_percent", "清零进度"], ["overdue", "超期"], ["stalled", "停滞"], ["urges_open", "督办未答复"], ["score", "综合得分"],
];

function sortedRows(d, level) {
  const rows = d.tables[level].slice();
  if (state.sort[level] === "clear") rows.sort((a, b) => (a.clear_rank == null) - (b.clear_rank == null) || (a.clear_rank || 0) - (b.clear_rank || 0));
  return rows;
}

function cell(row, key) {
  if (key === "clear_percent") {
    if (row.clear_baseline == null) return "—";
    return h("span", { title: fmt(row.clear_signed_off) + " / " + fmt(row.clear_baseline) + " 件" }, pct(row.clear_percent));
  }
  if (key === "score") return row.score == null ? "—" : row.score.toFixed(1);
  if (key === "overdue" && row.overdue) {
    const parts = state.data.stages.filter((s) => row.overdue_by_stage[s.code]);
    const title = parts.map((s) => s.label + " " + row.overdue_by_stage[s.code]).join("，");
    // to the workbench's list of these cases, for the desks that have one (待办)
    const todo = row.code && !WITHOUT_TODO.includes(probe.me && probe.me.role);
    return todo
      ? h("a", { class: "overdue", title: title + "（在工作台查看）", href: "/work?" + new URLSearchParams({ grid: row.code, overdue: "1" }) }, fmt(row.overdue))
      : h("span", { class: "overdue", title }, fmt(row.overdue));
  }
  return fmt(row[key]);
}

function mapLink(row) {
  return row.code ? "/#grid=" + encodeURIComponent(row.code) : null;
}

function tableCard(d, level) {
  const byClear = state.sort[level] === "clear";
  const showInd = !!state.indicators[level];
  const label = d.levels[level];
  const sorter = h("div", { class: "seg", role: "group", "aria-label": "排序" },
    [["score", "按综合得分"], ["clear", "按清零进度"]].map(([key, text]) =>
      h("button", { type: "button", "aria-pressed": String((state.sort[level] || "score") === key), dataset: { sort: key },
        onclick: () => { state.sort[level] = key; rerender(level); } }, text)));
  const city = cityTable(d);
  const panel = city ? h("div", { class: "job-panel", dataset: { table: level }, hidden: true }) : null;
  const exporter = h("button", { type: "button", class: "export", dataset: { table: level }, onclick: () => exportTable(level) }, "导出 Excel");
  // the whole city's table, made by a worker while the page goes on
  const generate = city
    ? h("button", { type: "button", class: "city-export", dataset: { table: level }, title: "后台生成全市统计表，完成后下载", onclick: () => job.start() }, "生成统计表")
    : null;
  const job = city ? statsJob(level, generate, panel) : null;
  const more = h("button", { type: "button", class: "toggle-ind", "aria-pressed": String(showInd),
    onclick: () => { state.indicators[level] = !showInd; rerender(level); } }, showInd ? "隐藏考评指标" : "显示考评指标");
  const head = h("tr", {}, h("th", { scope: "col" }, byClear ? "清零排名" : "排名"), h("th", { scope: "col", class: "name" }, "名称"),
    COLUMNS.map(([, text]) => h("th", { scope: "col" }, text)),
    showInd ? d.indicators.map((i) => h("th", { scope: "col", class: "ind" }, i.name)) : null,
    h("th", { scope: "col", class: "go" }, "查看"));
  const body = sortedRows(d, level).map((row) => {
    const href = mapLink(row);
    return h("tr", { dataset: { code: row.code || "" } },
      h("td", { class: "rank" }, fmt(byClear ? row.clear_rank : row.rank)),
      h("th", { scope: "row", class: "name" }, href ? h("a", { href }, row.name) : row.name,
        row.parent && level !== "district" ? h("span", { class: "parent" }, parentName(d, level, row)) : null),
      COLUMNS.map(([key]) => h("td", { class: "num", dataset: { key } }, cell(row, key))),
      showInd ? row.indicators.map((i) => h("td", { class: "num ind" }, i.value == null ? "—" : i.unit === "%" ? (100 * i.value).toFixed(1) + "%" : fmt(i.value))) : null,
      h("td", { class: "go" }, href ? h("a", { href, title: "在地图上查看" + row.name + "及其案件" }, "地图·案件") : ""));
  });
  const t = d.totals;
  const foot = t ? h("tr", { class: "sum" }, h("td", {}, ""), h("th", { scope: "row", class: "name" }, "合计"),
    COLUMNS.map(([key]) => h("td", { class: "num", dataset: { key } }, key === "score" ? "" : cell(t, key))),
    showInd ? d.indicators.map(() => h("td", {}, "")) : null, h("td", {}, "")) : null;
  return h("section", { class: "card ranking", dataset: { level }, "aria-label": label + "排名" },
    h("div", { class: "ranking-head" }, h("h2", {}, label + "排名", h("small", {}, d.tables[level].length + " 个")),
      h("div", { class: "ranking-tools" }, sorter, more, exporter, generate)), panel,
    h("div", { class: "scroll" }, h("table", { class: "rank-table" + (showInd ? " wide" : "") },
      h("thead", {}, head), h("tbody", {}, body), foot ? h("tfoot", {}, foot) : null)));
}

function parentName(d, level, row) {
  const up = { town: "district", community: "town" }[level];
  const parent = up && d.tables[up] ? d.tables[up].find((r) => r.code === row.parent) : null;
  return parent ? parent.name : "";
}

function rerender(level) {
  const old = document.querySelector(`.ranking[data-level='${level}']`);
  if (old) old.replaceWith(tableCard(state.data, level));
  probe.renders += 1;
}

async function exportTable(level) {
  const p = new URLSearchParams(state.query);
  p.set("format", "xlsx");
  p.set("table", level);
  p.set("sort", state.sort[level] || "score");
  try {
    const response = await api("/api/v1/stats?" + p);
    const blob = await response.blob();
    const d = state.data;
    const a = h("a", { href: URL.createObjectURL(blob), download: "统计-" + d.scope.name + "-" + d.levels[level] + "-" + d.period.from + "-" + d.period.to + ".xlsx" });
    document.body.append(a);
    a.click();
    a.remove();
  } catch (e) {
    showError(e);
  }
}

// -- the page ----------------------------------------------------------------------------------

form.kind.addEventListener("change", showKind);
form.addEventListener("submit", (e) => { e.preventDefault(); state.campaign = form.campaign.value; load(); });
$("print").addEventListener("click", () => window.print());
$("recompute").addEventListener("click", () => recompute && recompute.start());
// the charts redrawn for the paper's width, and back for the screen
for (const event of ["beforeprint", "afterprint"]) {
  window.addEventListener(event, () => { for (const chart of Object.values(charts)) chart.resize(); });
}
readAddress();

whenLoggedIn(async () => {
  try {
    await mountHeader($("bar"), { here: "stats" });
    await load();
    probe.ready = true;
  } catch (e) {
    if (e.status !== 401) showError(e);
  }
});
