// A case's page in the workbench: its facts, its place on a map, the jurisdiction answer
// frozen at intake, the deadlines of every stage with a live countdown, the timeline with
// every file, and the actions open to the reader — forms built from the workflow document
// alone (GET /api/v1/cases/workflow), so a city that edits its workflow gets new forms.

import { getJSON, once, probe } from "/static/common/api.js";
import { $, fill, h } from "/static/common/dom.js";
import { mountHeader } from "/static/common/header.js";
import { whenLoggedIn } from "/static/common/login.js";
import { showError } from "/static/common/notice.js";
import { ServerClock, beijing, countdown } from "/static/common/time.js";
import { ActionPanel } from "/static/work/actions.js";
import { CaseMap } from "/static/work/casemap.js";
import { Desk } from "/static/work/desk.js";
import { DocumentsPanel } from "/static/work/documents.js";
import { renderFootage } from "/static/work/footage.js";
import { showMeeting } from "/static/work/meeting-case.js";
import { OutcomePanel } from "/static/work/outcome.js";
import { renderTimeline } from "/static/work/timeline.js";

const number = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop());
const page = { wf: null, config: null, clock: new ServerClock(null), panel: null, map: null, desk: null, outcome: null };
probe.number = number;

whenLoggedIn(start);

async function start() {
  try {
    const me = await mountHeader($("bar"));
    page.wf = await once("/api/v1/cases/workflow");
    page.config = await once("/api/v1/map/config").catch(() => null);  // colours of states and zones
    page.map = page.map || new CaseMap($("case-map"), $("map-legend"));
    page.panel = page.panel || new ActionPanel($("actions-body"), { number, wf: page.wf, shown: render, reload });
    page.desk = page.desk || new Desk($("desk-body"), { number, me, wf: page.wf, shown: render, reload });
    page.outcome = page.outcome || new OutcomePanel($("public"), $("public-body"), { number, reload });
    page.documents = page.documents || new DocumentsPanel($("documents"), $("documents-body"), { number, reload });
    await reload();
  } catch (e) {
    if (e.status !== 401) showError(e);
  }
}

// the case read again (after a change, a conflict, a login): the forms keep what was typed
export async function reload() {
  let c;
  try {
    c = await getJSON("/api/v1/cases/" + encodeURIComponent(number));
  } catch (e) {
    if (e.status === 404) return notFound(e);
    if (e.status !== 401) showError(e);
    return;
  }
  render(c);
}

function render(c) {
  probe.case = c;
  page.clock = new ServerClock(c.as_of);
  document.title = c.number + " · 违法建设工作台";
  renderSummary(c);
  renderFacts(c);
  renderDeadlines(c);
  renderJurisdiction(c);
  renderTimeline($("timeline"), c, page.wf);
  page.panel.render(c);
  page.desk.render(c);
  page.outcome.render(c);
  page.documents.render(c).catch(showError);
  renderFootage(c, reload);
  showMeeting(c, reload);
  page.map.show(c, page.config);
  tick();
  probe.renders += 1;
  probe.ready = true;
}

function notFound(e) {
  fill($("summary"), h("h1", {}, number), h("p", { class: "error-text" }, e.message),
    h("p", {}, h("a", { href: "/work" }, "返回工作台")));
  for (const id of ["facts", "history", "actions", "desk", "deadlines", "place", "jurisdiction"]) $(id).hidden = true;
  probe.ready = true;
}

// -- the summary: number, state, flags, the nearest deadline --------------------------------

function stateColour(code) {
  const s = page.config && page.config.states.find((x) => x.code === code);
  return s ? s.colour : "#57606a";
}

function flags(c) {
  const out = [];
  const f = c.flags || {};
  if (c.overdue) out.push(["danger", "超期"]);
  if (f.late_report) out.push(["danger", "迟报"]);
  if (f.rebound || c.rebound_of) out.push(["danger", "反弹（原案 " + (c.rebound_of || f.rebound.of) + "）"]);
  const report = (c.events || []).find((e) => e.action === "report");
  const duplicates = ((report && report.data.possible_duplicates) || []).map((d) => (typeof d === "string" ? d : d.number));
  for (const l of c.links || []) if (l.kind === "duplicate" && !duplicates.includes(l.number)) duplicates.push(l.number);
  if (duplicates.length) out.push(["warn", "疑似重复（" + duplicates.join("、") + "）"]);
  if (f.ambiguous_jurisdiction) out.push(["warn", "管辖边界存疑"]);
  if (f.unassigned !== undefined) out.push(["warn", "无适用管辖规则"]);
  if (c.transfer) out.push(["info", "移交待接收（自" + ((c.transfer.from_department || {}).name || "原部门") + "）"]);
  if (c.merged_into) out.push(["info", "已合并至 " + c.merged_into]);
  return out;
}

// the current stage: the pending or missed deadline due first (as the server's stage)
// the countdown is the case's stage as the server decides it (a meeting's decided day
// replaces the deadlines running when it was set)
function pendingDeadline(c) {
  if (!c.stage) return undefined;
  return (c.deadlines || []).find((d) => d.code === c.stage.code && Date.parse(d.due) === Date.parse(c.stage.due));
}

function renderSummary(c) {
  const pending = pendingDeadline(c);
  const dept = c.department ? c.department.name : "未确定责任部门";
  fill($("summary"),
    h("div", { class: "summary-head" },
      h("h1", {}, c.number),
      h("span", { class: "badge state", id: "state", dataset: { state: c.state }, style: "background:" + stateColour(c.state) }, c.state_label)),
    h("div", { class: "summary-sub" }, [c.track_label, c.channel_label, dept].filter(Boolean).join(" · ")),
    h("div", { class: "summary-place" }, c.address || c.description || ""),
    h("div", { class: "chips" }, flags(c).map(([kind, text]) => h("span", { class: "chip " + kind }, text))),
    pending
      ? h("div", { id: "countdown", class: "countdown", dataset: { due: pending.due, code: pending.code } },
        h("span", { class: "countdown-label" }, pending.label), h("span", { class: "countdown-left", dataset: { due: pending.due } }),
        h("span", { class: "countdown-due" }, "期限 " + beijing(pending.due)))
      : null,
  );
}

// -- the facts --------------------------------------------------------------------------------

function row(label, value, attrs) {
  if (value == null || value === "") return null;
  return [h("dt", {}, label), h("dd", attrs || {}, value)];
}

function renderFacts(c) {
  const wf = page.wf;
  const reporter = c.reporter
    ? [c.reporter.name, wf.roles[c.reporter.role], c.reporter.phone].filter(Boolean).join(" · ")
    : null;
  const place = c.address || "（未填写地址）";
  const links = (c.links || []).map((l) => h("a", { href: "/work/cases/" + encodeURIComponent(l.number) }, l.number + "（" + linkKind(l.kind) + "）"));
  fill($("facts-body"), h("dl", { class: "facts-list" },
    row("案件编号", c.number),
    row("办理状态", c.state_label),
    row("案件类型", c.track_label),
    row("来源渠道", c.channel_label + (c.external_id ? "（工单号 " + c.external_id + "）" : "")),
    row("地点", h("span", {}, place, h("br"), h("span", { class: "muted coords" }, c.lon.toFixed(6) + ", " + c.lat.toFixed(6) + "（CGCS2000）"))),
    row("问题描述", c.description),
    row("违建面积", c.area_m2 != null ? Math.round(c.area_m2).toLocaleString("zh-CN") + " 平方米" : null),
    row("发现时间", c.discovered_at ? beijing(c.discovered_at) : null),
    row("上报时间", beijing(c.reported_at)),
    // a report made offline on a phone reached the server later
    row("接收时间", c.received_at && Math.abs(Date.parse(c.received_at) - Date.parse(c.reported_at)) >= 60000 ? beijing(c.received_at) : null),
    row("办理部门", c.department ? c.department.name : "未确定"),
    row("承办人", c.assignee ? c.assignee.name : "未指派"),
    row("上报人", reporter),
    row("关联案件", links.length ? links.flatMap((a, i) => (i ? ["、", a] : [a])) : null),
    row("办结时间", c.closed_at ? beijing(c.closed_at) : null),
  ));
}

const linkKind = (kind) => ({ duplicate: "重复", related: "相关", merged: "合并" })[kind] || kind;

// -- deadlines --------------------------------------------------------------------------------

function renderDeadlines(c) {
  const list = c.deadlines || [];
  if (!list.length) {
    fill($("deadlines-body"), h("p", { class: "muted" }, "本案没有适用的办理时限"));
    return;
  }
  fill($("deadlines-body"), h("ul", { class: "deadline-list" }, list.map((d) => {
    const open = d.status === "pending" || d.status === "overdue";
    return h("li", { class: "deadline " + d.status, dataset: { code: d.code, status: d.status } },
      h("div", { class: "deadline-label" }, d.label),
      h("div", { class: "deadline-due" }, "期限 " + beijing(d.due)),
      open
        ? h("div", { class: "countdown-left", dataset: { due: d.due } })
        : h("div", { class: "deadline-done" }, h("span", { class: "deadline-status" }, d.status_label),
          d.done_at ? "，完成于 " + beijing(d.done_at) : ""));
  })));
}

// every countdown on the page, from the server's clock, once a second
function tick() {
  const now = page.clock.now();
  for (const el of document.querySelectorAll(".countdown-left[data-due]")) {
    const left = countdown(el.dataset.due, now);
    el.textContent = left.text;
    el.dataset.level = left.level;
    const box = el.closest(".countdown, .deadline");
    if (box) box.dataset.level = left.level;
  }
}
setInterval(tick, 1000);

// -- jurisdiction -------------------------------------------------------------------------------

const REASONS = { outside_city: "不在本市行政区域内", no_zone: "不在任何规划分区或地类图斑内", no_rule: "无适用的管辖规则" };
const LAYER_NAMES = { grid_district: "区县网格", grid_town: "镇街网格", grid_community: "社区网格", grid_compound: "小区网格" };
const LEVELS = [["district", "区县"], ["town", "镇（街道）"], ["community", "社区"], ["compound", "小区"]];

function renderJurisdiction(c) {
  const j = c.jurisdiction || {};
  const rule = j.rule;
  const zone = j.deciding_zone;
  const grid = j.grid || {};
  const chain = LEVELS.filter(([level]) => grid[level]).map(([level, label]) => {
    const g = grid[level];
    const people = (g.responsible || []).map((p) =>
      h("span", { class: "person" }, p.name, p.phone ? [" ", h("a", { href: "tel:" + p.phone }, p.phone)] : null));
    return h("li", {}, h("span", { class: "level" }, label), h("b", {}, g.name),
      people.length ? h("span", { class: "people" }, "责任人：", people.flatMap((p, i) => (i ? ["、", p] : [p]))) : null);
  });
  const alternatives = (j.alternatives || []).map((a) => (a.department && a.department.name) || REASONS[a.reason] || "");
  fill($("jurisdiction-body"),
    h("dl", { class: "facts-list" },
      row("责任部门", j.department ? j.department.name : "无法判定" + (j.reason_text ? "：" + j.reason_text : "")),
      row("判定依据", rule ? rule.name + "（规则第 " + (j.rule_version || c.rule_version) + " 版，优先级 " + rule.priority + "）" : null),
      row("判定图斑", zone ? [zone.name || zone.code || zone.kind, h("span", { class: "muted" }, "（图层 " + zone.layer + " 第 " + zone.version + " 版）")] : null),
      row("判定日期", j.decided_on),
      row("距边界", j.boundary_distance_m != null ? Math.round(j.boundary_distance_m) + " 米" : null),
      j.ambiguous ? row("注意", "容差 " + j.tolerance_m + " 米内存在其他判定结果：" + alternatives.filter(Boolean).join("、"), { class: "warn-text" }) : null,
    ),
    chain.length ? h("div", { class: "grid-block" }, h("h3", {}, "所属网格"), h("ol", { class: "grid-chain" }, chain)) : null,
    h("details", { class: "layer-versions" }, h("summary", {}, "判定所用的图层版本"),
      h("p", {}, Object.entries(c.layer_versions || {}).map(([k, v]) => (LAYER_NAMES[k] || k) + " 第" + v + "版").join("，"))),
  );
}

