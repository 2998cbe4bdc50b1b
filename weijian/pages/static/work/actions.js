// The actions open to the reader (the detail's `actions`), each a form built from the workflow
// document only: a field with choices is a radio group or a select, a number a number input,
// a department a select of the departments, anything else a line of text; the evidence the
// step needs are upload slots (photos from the camera on a phone, documents); the note is
// required when the workflow says so. Submitting uploads the files first, then posts the
// transition with the case's version. A 409 (the case changed meanwhile) says who changed it,
// reloads the case and keeps what was typed and the files already uploaded.

import { ApiError, once, probe, sendJSON } from "/static/common/api.js";
import { fill, h } from "/static/common/dom.js";
import { showError, showInfo, showWarning } from "/static/common/notice.js";
import { beijing } from "/static/common/time.js";
import { FileSlot } from "/static/common/upload.js";

const RADIO_MAX = 4; // more choices than this: a select
const EVIDENCE_LABELS = {
  photo: ["现场照片", "用手机在现场拍摄；可选多张"],
  document: ["文书", "PDF、Word、Excel、OFD 或扫描件"],
};

export class ActionPanel {
  // number: the case's; wf: the workflow document; shown(case): show an answered case;
  // reload(): read the case again
  constructor(el, { number, wf, shown, reload }) {
    this.el = el;
    this.number = number;
    this.wf = wf;
    this.shown = shown;
    this.reload = reload;
    this.forms = new Map(); // action → ActionForm, kept across reloads with what was typed
    this.leftovers = new Map(); // action → what was typed for an action no longer offered
    this.open = null;
  }

  render(c) {
    this.case = c;
    const actions = c.actions || [];
    const codes = new Set(actions.map((a) => a.action));
    for (const [code, form] of [...this.forms]) {
      if (codes.has(code)) continue;
      if (form.hasContent()) this.leftovers.set(code, form.leftover(c, () => { this.leftovers.delete(code); this.render(this.case); }));
      this.forms.delete(code);
    }
    if (this.open && !codes.has(this.open)) this.open = null;
    const parts = [];
    if (!actions.length) parts.push(h("p", { class: "muted no-actions" }, this._none(c)));
    else {
      parts.push(h("div", { class: "action-buttons" }, actions.map((a) => h("button", {
        type: "button", class: "action-button" + (this.open === a.action ? " active" : ""),
        dataset: { action: a.action }, "aria-expanded": String(this.open === a.action),
        onclick: () => this.toggle(a.action),
      }, a.label))));
      if (this.open) parts.push(this._form(actions.find((a) => a.action === this.open)).el);
    }
    parts.push(...this.leftovers.values());
    fill(this.el, parts);
    probe.actions = actions.map((a) => a.action);
  }

  _none(c) {
    if (c.category === "closed") return "本案已办结（" + c.state_label + "），没有待办理的操作。";
    const holder = c.department ? "本案由" + c.department.name + "办理；" : "";
    return holder + "您当前没有可办理的操作。";
  }

  _form(action) {
    let form = this.forms.get(action.action);
    if (!form) {
      form = new ActionForm(action, this);
      this.forms.set(action.action, form);
    }
    return form;
  }

  toggle(code) {
    this.open = this.open === code ? null : code;
    this.render(this.case);
    const form = this.open && this.forms.get(this.open);
    if (form) form.el.querySelector("input, select, textarea, .pick")?.focus({ preventScroll: true });
    if (form) form.el.scrollIntoView({ block: "nearest", behavior: "smooth" });
  }

  done(c, form) {
    this.forms.delete(form.action.action);
    this.open = null;
    showInfo("已提交“" + form.action.label + "”，案件现为“" + c.state_label + "”");
    this.shown(c);
  }

  async conflict(error) {
    const change = error.body.case && error.body.case.last_change;
    const who = change
      ? change.actor.name + "（" + change.actor.role_label + "）于 " + beijing(change.at) + " 办理了“" + change.label + "”"
      : "他人修改了本案";
    probe.conflict = error.body;
    const form = this.forms.get(this.open);
    if (form) form.say("在您办理期间，" + who + "。页面已更新，请核对后重新提交。", "conflict");
    showWarning("页面已更新为案件的最新情况。您填写的内容和已上传的文件均已保留，请核对后重新提交。", {
      title: "提交未成功：在您办理期间，" + who + "。",
    });
    await this.reload();
  }
}

class ActionForm {
  constructor(action, panel) {
    this.action = action;
    this.panel = panel;
    const wf = panel.wf;
    this.inputs = [
      ...action.fields.map((code) => this._field(code, wf.fields[code] || { label: code }, false)),
      ...(action.optional_fields || []).map((code) => this._field(code, wf.fields[code] || { label: code }, true)),
    ];
    this.slots = Object.entries(action.evidence || {}).filter(([, n]) => n > 0).map(([kind, n]) => {
      const [label, hint] = EVIDENCE_LABELS[kind] || [kind, ""];
      const fresh = kind === "photo" && action.site_photo ? "须为本部门在上报后到现场新拍摄的照片（上报人的照片不能作为核查证据）" : hint;
      return new FileSlot({ kind, min: n, label, hint: fresh });
    });
    this.note = h("textarea", { name: "note", rows: "3", placeholder: action.note_required ? "请写明情况或理由" : "可补充说明现场情况" });
    this.error = h("div", { class: "form-error", role: "alert", hidden: true });
    this.submit = h("button", { type: "submit", class: "primary submit" }, "提交：" + action.label);
    this.el = h("form", { class: "action-form", dataset: { action: action.action }, novalidate: true },
      h("h3", {}, action.label),
      this.inputs.map((f) => f.el),
      this.slots.map((s) => s.el),
      h("label", { class: "note" }, "办理说明", h("span", { class: action.note_required ? "required" : "optional" }, action.note_required ? "（必填）" : "（选填）"), this.note),
      this.error,
      h("div", { class: "form-buttons" }, this.submit,
        h("button", { type: "button", class: "cancel", onclick: () => panel.toggle(action.action) }, "收起")));
    this.el.addEventListener("submit", (e) => { e.preventDefault(); this.send(); });
    // what the form said of a mistake goes as soon as the user mends something
    const mended = () => { if (this.error.dataset.kind === "error") this.say(""); };
    this.el.addEventListener("input", mended);
    this.el.addEventListener("change", mended);
  }

  // a field of the workflow document: required, or `optional` (left empty, it is not sent)
  _field(code, spec, optional) {
    const name = "field-" + code;
    const label = h("span", { class: "field-label" }, spec.label,
      optional ? h("span", { class: "optional" }, "（选填）") : h("span", { class: "required" }, "（必填）"));
    if (spec.choices) {
      const entries = Object.entries(spec.choices);
      if (entries.length <= RADIO_MAX && !optional) {
        const radios = entries.map(([v, l]) => h("label", { class: "radio" }, h("input", { type: "radio", name, value: v }), l));
        const el = h("fieldset", { class: "field choices", dataset: { field: code } }, h("legend", {}, label), h("div", { class: "radios" }, radios));
        return { code, spec, optional, el, value: () => (el.querySelector("input:checked") || {}).value || "" };
      }
      const select = h("select", { name }, h("option", { value: "" }, optional ? "不填" : "请选择"), entries.map(([v, l]) => h("option", { value: v }, l)));
      return { code, spec, optional, el: h("label", { class: "field", dataset: { field: code } }, label, select), value: () => select.value };
    }
    if (spec.department) {
      const select = h("select", { name }, h("option", { value: "" }, "正在读取部门…"));
      this._departments(select);
      return { code, spec, optional, el: h("label", { class: "field", dataset: { field: code } }, label, select), value: () => select.value };
    }
    const input = spec.number
      ? h("input", { type: "number", name, min: "0", step: "any", inputmode: "decimal" })
      : spec.date
        ? h("input", { type: "date", name })
        : h("input", { type: "text", name, maxlength: "200" });
    const value = () => input.value.trim();
    return { code, spec, optional, el: h("label", { class: "field", dataset: { field: code } }, label, input), value };
  }

  async _departments(select) {
    try {
      const all = await once("/api/v1/jurisdiction/departments");
      const c = this.panel.case;
      const holder = c.department && c.department.code;
      const district = c.grid && c.grid.district;
      const list = all.filter((d) => d.code !== holder)
        .sort((a, b) => (b.district_code === district) - (a.district_code === district) || a.code.localeCompare(b.code));
      fill(select, h("option", { value: "" }, "请选择接收部门"), list.map((d) => h("option", { value: d.code }, d.name)));
    } catch (e) {
      fill(select, h("option", { value: "" }, "部门列表读取失败"));
    }
  }

  hasContent() {
    return Boolean(this.note.value.trim() || this.inputs.some((f) => f.value()) || this.slots.some((s) => s.count()));
  }

  values() {
    const data = {};
    for (const f of this.inputs) {
      const v = f.value();
      if (v !== "") data[f.code] = f.spec.number ? Number(v) : v;
    }
    return data;
  }

  problems() {
    const out = [];
    for (const f of this.inputs) {
      const v = f.value();
      if (v === "") { if (!f.optional) out.push("请填写“" + f.spec.label + "”"); }
      else if (f.spec.number && !(Number(v) >= 0)) out.push("“" + f.spec.label + "”应为不小于 0 的数字");
    }
    for (const s of this.slots) {
      if (s.count() < s.min) out.push("请上传至少 " + s.min + (s.kind === "photo" ? " 张照片" : " 份文书"));
    }
    if (this.action.note_required && !this.note.value.trim()) out.push("请填写办理说明");
    return out;
  }

  say(text, kind = "error") {
    this.error.textContent = text || "";
    this.error.hidden = !text;
    this.error.dataset.kind = kind;
  }

  async send() {
    const problems = this.problems();
    this.say(problems.join("；"));
    if (problems.length) return;
    const number = this.panel.number;
    this.submit.disabled = true;
    this.submit.textContent = "正在提交…";
    try {
      const evidence = [];
      for (const slot of this.slots) evidence.push(...(await slot.uploadAll(number)));
      const body = {
        action: this.action.action,
        version: this.panel.case.version,
        note: this.note.value.trim() || null,
        data: this.values(),
        evidence,
      };
      const c = await sendJSON("/api/v1/cases/" + encodeURIComponent(number) + "/transitions", body);
      this.panel.done(c, this);
    } catch (e) {
      if (e instanceof ApiError && e.status === 409 && e.body.code === "case.version_conflict") {
        await this.panel.conflict(e);
      } else if (e.status !== 401) {
        this.say(e.message);
        showError(e);
      }
    } finally {
      this.submit.disabled = false;
      this.submit.textContent = "提交：" + this.action.label;
    }
  }

  // what was typed for an action the case no longer offers: shown until put away
  leftover(c, dismiss) {
    const lines = [];
    const data = this.values();
    for (const f of this.inputs) if (data[f.code] !== undefined) lines.push(f.spec.label + "：" + f.value());
    if (this.note.value.trim()) lines.push("办理说明：" + this.note.value.trim());
    const uploaded = this.slots.flatMap((s) => s.items.filter((i) => i.state === "done").map((i) => i.name));
    if (uploaded.length) lines.push("已上传（已保存在案件中）：" + uploaded.join("、"));
    return h("div", { class: "leftover", dataset: { action: this.action.action } },
      h("p", {}, "案件现为“" + c.state_label + "”，已不能“" + this.action.label + "”。您未提交的内容如下，可复制后使用："),
      h("pre", {}, lines.join("\n")),
      h("button", { type: "button", onclick: dismiss }, "知道了"));
  }
}
