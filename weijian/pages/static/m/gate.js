// 门岗: the field app's gate-log tab. A property company records what comes to its compound's
// gate — the unit, the materials, whether a permit was shown, stopped or let in — through the
// offline queue (each entry sent once, with the time it was made). The server decides the
// warnings (repeated entries for one unit without a permit: the rule is data on the server);
// they are listed here for the compound's grid worker and the property company, each made a
// report with one tap (一键上报), queued like every other case-changing call.
import { fill, h } from "../common/dom.js";
import { beijingShort } from "../common/time.js";

const ENTRIES = "gate.entries";
const WARNINGS = "gate.warnings";

let app = null;
let ui = {};
let rule = null; // {materials, warning: {label, …}}: the server's, cached for offline

const probe = (window.weijianGate = { ready: false, entries: 0, warnings: 0, raised: null, reported: null });

const writer = () => app.me.role === "property_company";

// a row of toggle buttons; `many` lets several be pressed; returns {el, value()}
function choices(options, { many = false, name } = {}) {
  const el = h("div", { class: "choices", role: "group", dataset: { name } });
  for (const [value, label] of options) {
    const b = h("button", { type: "button", "aria-pressed": "false", dataset: { value } }, label);
    b.addEventListener("click", () => {
      const pressed = b.getAttribute("aria-pressed") === "true";
      if (!many) for (const other of el.children) other.setAttribute("aria-pressed", "false");
      b.setAttribute("aria-pressed", String(!pressed || !many));
      el.dispatchEvent(new Event("change"));
    });
    el.append(b);
  }
  const value = () => [...el.children].filter((b) => b.getAttribute("aria-pressed") === "true").map((b) => b.dataset.value);
  const clear = () => { for (const b of el.children) b.setAttribute("aria-pressed", "false"); };
  return { el, value, clear };
}

function entryForm() {
  const unit = h("input", { name: "unit", placeholder: "如：3栋2单元502", autocomplete: "off" });
  const materials = choices((rule ? rule.materials : []).map((m) => [m, m]), { many: true, name: "materials" });
  const other = h("input", { name: "material", placeholder: "其他材料（选填）", autocomplete: "off" });
  const permit = choices([["no", "未出示审批手续"], ["yes", "已出示审批手续"]], { name: "permit" });
  const permitNo = h("input", { name: "permit_no", placeholder: "审批手续/许可证编号（选填）", autocomplete: "off" });
  const permitBox = h("label", { hidden: true }, "手续编号", permitNo);
  permit.el.addEventListener("change", () => { permitBox.hidden = permit.value()[0] !== "yes"; });
  const decision = choices([["stopped", "劝阻（未放行）"], ["let_in", "放行"]], { name: "decision" });
  const note = h("textarea", { name: "note", rows: "2", placeholder: "备注（选填），如车牌号、施工人员" });
  const send = h("button", { type: "button", class: "primary big", id: "gate-send" }, "登记");
  send.addEventListener("click", async () => {
    const body = {
      unit: unit.value.trim(), materials: materials.value(), material: other.value.trim() || null,
      permit_shown: permit.value()[0] === "yes", decision: decision.value()[0], note: note.value.trim() || null,
    };
    if (!body.unit) return app.error("请填写单元（楼栋、单元、门牌号）");
    if (!body.materials.length && !body.material) return app.error("请选择或填写运入的材料");
    if (!permit.value().length) return app.error("请选择是否出示审批手续");
    if (!body.decision) return app.error("请选择劝阻或放行");
    if (body.permit_shown && permitNo.value.trim()) body.permit_no = permitNo.value.trim();
    send.disabled = true;
    try {
      body.made_at = new Date().toISOString();
      const id = await app.enqueue({ method: "POST", path: "/api/v1/gate-log", json: body, made_at: body.made_at,
        label: "门岗登记 " + body.unit });
      for (const input of [unit, other, permitNo, note]) input.value = "";
      for (const c of [materials, permit, decision]) c.clear();
      permitBox.hidden = true;
      if (!app.online()) {
        app.toast("已保存，联网后自动发送；是否触发预警将在发送后判断");
        return;
      }
      await app.flush();
      const it = await app.queued(id);
      if (it && it.state === "done" && it.answer) raised(it.answer);
      else app.toast("已保存，联网后自动发送");
      await load();
    } finally {
      send.disabled = false;
    }
  });
  return h("div", { class: "card gate-form" },
    h("div", { class: "step-title" }, "登记运入材料"),
    h("label", {}, "单元", unit),
    h("div", { class: "field-label" }, "材料（可多选）"), materials.el, other,
    h("div", { class: "field-label" }, "审批手续"), permit.el, permitBox,
    h("div", { class: "field-label" }, "处理"), decision.el,
    h("label", {}, "备注", note), send);
}

// the answer of a recorded entry: say so, and whether it raised (or joined) a warning
function raised(entry) {
  if (entry.warning_id) {
    probe.raised = entry.warning_id;
    fill(ui.notice, h("strong", {}, "已触发预警："),
      entry.unit + " 多次未出示审批手续运入材料（" + ((rule && rule.warning.label) || "") + "），已通知网格员；可在下方“预警”中一键上报。");
    ui.notice.className = "check warn";
  } else {
    fill(ui.notice, "已登记：" + entry.unit + "（" + entry.decision_label + "）");
    ui.notice.className = "check";
  }
  ui.notice.hidden = false;
  ui.notice.scrollIntoView({ block: "start" });
}

function materialsText(e) {
  return [...(e.materials || []), ...(e.material_note ? [e.material_note] : [])].join("、");
}

function entryItem(e) {
  return h("li", { class: "gate-item" + (e.warning_id ? " warned" : ""), dataset: { id: e.id } },
    h("div", { class: "gate-head" }, h("strong", {}, e.unit), " ",
      h("span", { class: "badge" + (e.decision === "stopped" ? " warn" : "") }, e.decision_label),
      e.warning_id ? h("span", { class: "badge danger" }, "预警") : null),
    h("div", {}, materialsText(e)),
    h("div", { class: "muted" }, beijingShort(e.made_at), " · ", e.compound_name || e.compound, " · ",
      e.permit_shown ? "已出示手续" + (e.permit_no ? "（" + e.permit_no + "）" : "") : "未出示手续"));
}

function warningItem(w) {
  const result = h("div", { class: "gate-result" });
  const item = h("li", { class: "gate-item warning" + (w.case_number ? " reported" : ""), dataset: { id: w.id } },
    h("div", { class: "gate-head" }, h("strong", {}, (w.compound_name || w.compound) + " " + w.unit),
      h("span", { class: "badge danger" }, w.entry_count + " 次未出示手续")),
    h("div", { class: "gate-text" }, w.text),
    h("div", { class: "muted" }, "最近一次 " + beijingShort(w.last_entry_at)),
    result);
  if (w.case_number) {
    fill(result, "已上报为案件 ", h("strong", { class: "case-number" }, w.case_number),
      w.reported_by ? "（" + w.reported_by + "，" + beijingShort(w.reported_at) + "）" : "");
    return item;
  }
  const button = h("button", { type: "button", class: "primary big", dataset: { warning: w.id } }, "一键上报");
  button.addEventListener("click", async () => {
    button.disabled = true;
    const id = await app.enqueue({ method: "POST", path: "/api/v1/gate-log/warnings/" + w.id + "/report",
      json: {}, label: "门岗预警上报 " + w.unit });
    if (!app.online()) {
      fill(result, "已保存，联网后自动上报");
      return;
    }
    await app.flush();
    const it = await app.queued(id);
    if (it && it.state === "done" && it.answer && it.answer.case) {
      probe.reported = it.answer.case.number;
      fill(result, "已上报为案件 ", h("strong", { class: "case-number" }, it.answer.case.number));
      button.remove();
      app.toast("已上报：" + it.answer.case.number);
      await load();
    } else {
      fill(result, it && it.error ? it.error : "已保存，联网后自动上报");
      button.disabled = it && it.state === "failed" ? false : button.disabled;
    }
  });
  result.after(button);
  return item;
}

// the warnings and the recent entries: from the server when online, else as last loaded
async function load() {
  let entries = null;
  let warnings = null;
  try {
    const answer = await app.getJSON("/api/v1/gate-log?limit=30");
    rule = answer.rule;
    entries = answer.entries;
    warnings = (await app.getJSON("/api/v1/gate-log/warnings")).warnings;
    await app.cache(ENTRIES, answer);
    await app.cache(WARNINGS, warnings);
    ui.status.textContent = "";
  } catch (e) {
    const last = await app.cached(ENTRIES);
    if (last) { rule = last.rule; entries = last.entries; }
    warnings = await app.cached(WARNINGS);
    ui.status.textContent = e.status ? e.message : "离线：显示上次联网时的记录";
  }
  entries = entries || [];
  warnings = warnings || [];
  Object.assign(probe, { entries: entries.length, warnings: warnings.filter((w) => !w.case_number).length });
  const open = warnings.filter((w) => !w.case_number).length;
  fill(ui.warnings,
    h("h3", {}, "预警", open ? h("span", { class: "badge danger" }, open + " 条待上报") : null),
    rule ? h("p", { class: "muted" }, "规则：" + rule.warning.label) : null,
    warnings.length ? h("ul", { class: "gate-list", id: "gate-warnings" }, warnings.map(warningItem))
      : h("p", { class: "muted" }, "暂无预警"));
  fill(ui.entries, h("h3", {}, "最近登记"),
    entries.length ? h("ul", { class: "gate-list", id: "gate-entries" }, entries.map(entryItem))
      : h("p", { class: "muted" }, "暂无登记记录"));
}

export async function mount(root, theApp) {
  app = theApp;
  ui.status = h("p", { class: "muted", id: "gate-status" });
  ui.notice = h("div", { class: "check", hidden: true, id: "gate-notice", role: "status" });
  ui.warnings = h("section", { class: "gate-warnings" });
  ui.entries = h("section", { class: "gate-entries" });
  ui.formBox = h("div");
  fill(root, h("h2", {}, writer() ? "门岗登记" : "门岗预警"),
    h("p", { class: "muted" }, writer()
      ? "记录运入小区的建筑、装修材料；同一单元多次未出示审批手续将自动向网格员预警。"
      : "物业门岗登记中同一单元多次未出示审批手续运入材料的预警，可一键上报为案件。"),
    ui.status, ui.notice, ui.formBox, ui.warnings, ui.entries);
  await load();
  if (writer()) fill(ui.formBox, entryForm());
  probe.ready = true;
}

export function shown() {
  load();
}
