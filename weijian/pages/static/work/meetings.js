// 联席会议 (/work/meetings): a district's key cases with the reasons each was flagged (rules a
// city keeps as data), the meeting of a date gathering them — all, or those left ticked — its
// agenda as a PDF, and the decision on each case: what is to be done, the responsible unit and
// the deadline, which becomes the case's stage deadline. The page speaks to /api/v1/meetings.

import { api, getJSON, probe, sendJSON } from "/static/common/api.js";
import { $, fill, h } from "/static/common/dom.js";
import { mountHeader } from "/static/common/header.js";
import { whenLoggedIn } from "/static/common/login.js";
import { showError, showInfo } from "/static/common/notice.js";
import { beijing } from "/static/common/time.js";

const view = (probe.meetings = { districts: [], meetings: [], mayConvene: false, key: null, meeting: null, loads: 0 });

const caseLink = (number) => h("a", { class: "case-link", href: "/work/cases/" + encodeURIComponent(number) }, number);
const area = (m2) => (m2 == null ? null : Math.round(m2).toLocaleString("zh-CN") + " ㎡");
const dayText = (iso) => { const [y, m, d] = String(iso).slice(0, 10).split("-"); return y + "年" + Number(m) + "月" + Number(d) + "日"; };

function district() {
  return $("district").value;
}

// -- the district's meetings and key cases ------------------------------------------------------

async function loadMeetings() {
  const answer = await getJSON("/api/v1/meetings?district=" + encodeURIComponent(district()));
  view.meetings = answer.meetings;
  const onDay = view.meetings.find((m) => m.held_on === $("held-on").value);
  fill($("meeting-links"), view.meetings.length
    ? [h("span", { class: "muted" }, "已建立的会议："), ...view.meetings.slice(0, 8).map((m) =>
      h("a", { href: "#" + m.id, class: "chip info", dataset: { id: m.id } },
        dayText(m.held_on) + "（" + m.decided + "/" + m.cases + " 件已决定）"))]
    : h("span", { class: "muted" }, "本区县尚未建立联席会议"));
  return onDay;
}

async function loadKey() {
  $("meeting").hidden = true;
  $("key").hidden = false;
  fill($("key-body"), h("p", { class: "muted" }, "正在按规则查找重点案件…"));
  let answer;
  try {
    [answer] = await Promise.all([getJSON("/api/v1/meetings/key-cases?district=" + encodeURIComponent(district())), loadMeetings()]);
  } catch (e) {
    fill($("key-body"), h("p", { class: "error-text" }, e.message));
    return;
  }
  view.key = answer;
  view.loads += 1;
  renderKey(answer);
}

function reasonList(reasons) {
  return h("ul", { class: "key-reasons" }, reasons.map((r) =>
    h("li", { dataset: { code: r.code } }, h("span", { class: "chip danger" }, r.label), " ", r.detail)));
}

function caseHead(c, lead) {
  return h("div", { class: "key-head" }, lead, caseLink(c.number),
    h("span", { class: "badge" }, c.state_label),
    c.days_overdue ? h("span", { class: "chip warn" }, "超期 " + c.days_overdue + " 日") : null);
}

function caseFacts(c) {
  return h("div", { class: "key-facts muted" }, [c.address, c.department || "未确定承办部门", area(c.area_m2)].filter(Boolean).join(" · "));
}

function renderKey(answer) {
  const cases = answer.cases;
  const rules = h("details", { class: "key-rules" }, h("summary", {}, "重点案件认定规则（" + answer.rules.length + " 条）"),
    h("ol", {}, answer.rules.map((r) => h("li", {}, h("b", {}, r.label), "：", r.rule))));
  if (!cases.length) {
    fill($("key-body"), h("p", { class: "key-empty" }, answer.district.name + "目前没有符合规则的重点案件。"), rules);
    return;
  }
  const items = cases.map((c) => {
    const tick = view.mayConvene ? h("input", { type: "checkbox", checked: true, value: c.number, "aria-label": "提交会议：" + c.number, onchange: count }) : null;
    return h("li", { class: "key-case", dataset: { number: c.number } },
      caseHead(c, tick), caseFacts(c), reasonList(c.reasons),
      c.last_decision ? h("p", { class: "key-last" }, "前次会议（" + dayText(c.last_decision.held_on) + "）决定：" + c.last_decision.decision
        + "；责任单位 " + c.last_decision.assignee + "，办结期限 " + dayText(c.last_decision.decided_due)) : null);
  });
  const chosen = h("span", { id: "chosen-count" });
  const create = view.mayConvene
    ? h("div", { class: "key-create" }, chosen,
      h("button", { type: "button", class: "primary", id: "create", onclick: createMeeting }, "建立会议并生成议程"))
    : h("p", { class: "hint" }, "联席会议由督导人员或区县政府建立；您可以查看重点案件和已建立的会议。");
  fill($("key-body"),
    h("p", { class: "key-sum" }, answer.district.name + "共有重点案件 " + answer.total + " 件",
      answer.total > cases.length ? "（显示前 " + cases.length + " 件）" : "", "，按原因多少、超期长短和面积大小排列。",
      view.mayConvene ? "取消勾选的案件不提交本次会议。" : ""),
    rules, h("ol", { class: "key-list", id: "key-list" }, items), create);
  count();
}

function ticked() {
  return [...document.querySelectorAll("#key-list input[type=checkbox]:checked")].map((i) => i.value);
}

function count() {
  const el = $("chosen-count");
  if (!el) return;
  const n = ticked().length;
  fill(el, "已选 " + n + " 件提交会议，会议日期 " + ($("held-on").value ? dayText($("held-on").value) : "（请选择）"));
  $("create").disabled = n === 0;
}

async function createMeeting() {
  const day = $("held-on").value;
  if (!day) return showError("请选择会议日期");
  const existing = view.meetings.find((m) => m.held_on === day);
  if (existing) {
    showInfo("该日的会议已经建立，已为您打开");
    location.hash = "#" + existing.id;
    return;
  }
  $("create").disabled = true;
  try {
    const made = await sendJSON("/api/v1/meetings", { district: district(), held_on: day, cases: ticked() });
    showInfo("已建立" + made.title + "（" + dayText(made.held_on) + "），共 " + made.cases.length + " 件");
    location.hash = "#" + made.id;
  } catch (e) {
    if (e.body && e.body.meeting_id) { location.hash = "#" + e.body.meeting_id; return; }
    showError(e);
    $("create").disabled = false;
  }
}

// -- one meeting: the agenda and the decisions ----------------------------------------------

async function openMeeting(id) {
  let m;
  try {
    m = await getJSON("/api/v1/meetings/" + id);
  } catch (e) {
    showError(e);
    location.hash = "";
    return;
  }
  view.meeting = m;
  if ($("district").value !== m.district_code) {
    $("district").value = m.district_code;
  }
  $("held-on").value = m.held_on;
  await loadMeetings().catch(() => {});
  renderMeeting(m);
}

function renderMeeting(m) {
  $("key").hidden = true;
  $("meeting").hidden = false;
  fill($("meeting-title"), m.title, " ", h("small", {}, dayText(m.held_on)));
  fill($("meeting-facts"), "共 " + m.cases.length + " 件重点案件，已记录决定 " + m.decided + " 件"
    + (m.created_by ? "；由" + m.created_by + "于 " + beijing(m.created_at) + " 建立" : "")
    + "。会议决定记入案件的办理过程，办结期限成为案件当前的办理时限。");
  fill($("meeting-cases"), m.cases.map((c) => h("li", { class: "key-case meeting-case", dataset: { number: c.number } },
    h("div", { class: "meeting-case-info" },
      caseHead(c, h("span", { class: "position" }, c.position + ".")), caseFacts(c), reasonList(c.reasons)),
    h("div", { class: "meeting-case-decision" }, c.decided_at ? decided(c, m) : (m.may_convene ? decisionForm(c, m) : h("p", { class: "muted" }, "尚未记录会议决定"))))));
  probe.meetings.rendered = m.id;
}

function decided(c, m) {
  const box = h("div", { class: "decision-shown" },
    h("p", { class: "decision-text" }, c.decision),
    h("dl", { class: "facts-list" },
      h("dt", {}, "责任单位"), h("dd", {}, c.assignee),
      h("dt", {}, "办结期限"), h("dd", {}, dayText(c.decided_due) + "（当日 24 时前）"),
      h("dt", {}, "落实情况"), h("dd", {}, c.done ? h("span", { class: "chip ok" }, "已于 " + beijing(c.done.at) + " 报告") : h("span", { class: "muted" }, "尚未报告")),
      c.done ? [h("dt", {}, "报告内容"), h("dd", {}, c.done.note + "（" + c.done.by + "）")] : null),
    h("p", { class: "muted small" }, "由" + (c.decided_by || "—") + "于 " + beijing(c.decided_at) + " 记录"));
  if (m.may_convene && !c.done) {
    box.append(h("button", { type: "button", class: "link-button", onclick: () => box.replaceWith(decisionForm(c, m)) }, "修改决定"));
  }
  return box;
}

function decisionForm(c, m) {
  const id = "d-" + c.position;
  const text = h("textarea", { id: id + "-text", name: "decision", rows: "2", maxlength: "2000", placeholder: "如：限期 15 日自行拆除，逾期由区城管执法局组织强制拆除" });
  const who = h("input", { id: id + "-assignee", name: "assignee", maxlength: "200", list: "departments", placeholder: "如：浑江区城市管理行政执法局" });
  const due = h("input", { id: id + "-due", name: "decided_due", type: "date", min: m.held_on });
  if (c.decided_at) { text.value = c.decision; who.value = c.assignee; due.value = c.decided_due; }
  else if (c.department) who.value = c.department;
  const error = h("p", { class: "form-error", role: "alert", hidden: true });
  const form = h("form", { class: "decision-form", onsubmit: async (e) => {
    e.preventDefault();
    const body = { case: c.number, decision: text.value.trim(), assignee: who.value.trim(), decided_due: due.value, version: c.version };
    const missing = [!body.decision && "决定事项", !body.assignee && "责任单位", !body.decided_due && "办结期限"].filter(Boolean);
    if (missing.length) { error.hidden = false; fill(error, "请填写" + missing.join("、")); return; }
    error.hidden = true;
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const shown = await sendJSON("/api/v1/meetings/" + m.id + "/decisions", body);
      showInfo("已记录 " + c.number + " 的会议决定");
      view.meeting = shown;
      renderMeeting(shown);
      loadMeetings().catch(() => {});
    } catch (err) {
      error.hidden = false;
      fill(error, err.message);
      button.disabled = false;
    }
  } },
  h("label", { for: id + "-text" }, "会议决定 ", h("span", { class: "required" }, "（必填）")), text,
  h("div", { class: "decision-row" },
    h("label", {}, "责任单位", who),
    h("label", {}, "办结期限", due)),
  error,
  h("button", { type: "submit", class: "primary" }, c.decided_at ? "保存修改" : "记录决定"));
  return form;
}

async function downloadAgenda() {
  const m = view.meeting;
  if (!m) return;
  const button = $("agenda");
  button.disabled = true;
  try {
    const blob = await (await api("/api/v1/meetings/" + m.id + "/agenda.pdf")).blob();
    const url = URL.createObjectURL(blob);
    const a = h("a", { href: url, download: m.title + "议程-" + m.held_on + ".pdf" });
    document.body.append(a);
    a.click();
    a.remove();
    probe.meetings.agenda = blob.size;
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  } catch (e) {
    showError(e);
  } finally {
    button.disabled = false;
  }
}

// -- the page -------------------------------------------------------------------------------------

async function route() {
  const id = Number(location.hash.slice(1));
  if (id) await openMeeting(id);
  else await loadKey();
}

async function departments() {
  try {
    const all = await getJSON("/api/v1/jurisdiction/departments");
    const mine = all.filter((d) => !d.district_code || d.district_code === district());
    fill($("departments"), mine.map((d) => h("option", { value: d.name })));
  } catch (e) { /* only suggestions */ }
}

async function start() {
  try {
    await mountHeader($("bar"), { here: "meetings" });
    const answer = await getJSON("/api/v1/meetings");
    view.districts = answer.districts;
    view.mayConvene = answer.may_convene;
    fill($("district"), answer.districts.map((d) => h("option", { value: d.code }, d.name)));
    $("district").disabled = answer.districts.length < 2;
    const soon = new Date(Date.parse(answer.today + "T00:00:00Z") + 86400000).toISOString().slice(0, 10);
    $("held-on").value = soon;
  } catch (e) {
    if (e.status === 403) fill($("key-body"), h("p", { class: "error-text" }, e.message));
    else if (e.status !== 401) showError(e);
    probe.ready = true;
    return;
  }
  $("district").addEventListener("change", () => { departments(); if (location.hash) location.hash = ""; else loadKey(); });
  $("held-on").addEventListener("change", () => { count(); loadMeetings().catch(() => {}); });
  $("agenda").addEventListener("click", downloadAgenda);
  $("back").addEventListener("click", () => { location.hash = ""; });
  window.addEventListener("hashchange", route);
  await departments();
  await route();
  probe.ready = true;
}

whenLoggedIn(start);
