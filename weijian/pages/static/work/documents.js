// 执法文书 on the case page: the case's documents with their numbers and status (有效, 已作废,
// 已被替代), each PDF exactly as issued; the form of a new document, asked from the kinds the
// case may be given now (GET /api/v1/documents/kinds) with its defaults drawn from the case;
// voiding with a reason, and 重新制发 (a new document that supersedes the old, which is kept).

import { blobURL, getJSON, sendJSON } from "/static/common/api.js";
import { fill, h } from "/static/common/dom.js";
import { showError } from "/static/common/notice.js";
import { beijing } from "/static/common/time.js";

const STATUS_CLASS = { issued: "ok", voided: "bad", superseded: "muted" };

export class DocumentsPanel {
  constructor(section, body, { number, reload }) {
    this.section = section;
    this.number = number;
    this.reload = reload;
    this.list = h("div", { id: "documents-list" });
    this.kind = h("select", { id: "document-kind", "aria-label": "文书种类", onchange: () => this.showForm() });
    this.form = h("form", { id: "document-form", class: "document-form", onsubmit: (e) => this.submit(e) });
    this.newBox = h("div", { class: "document-new" },
      h("label", { for: "document-kind" }, "制作文书"), this.kind, this.form);
    fill(body, this.list, this.newBox);
    this.kinds = [];
    this.case = null;
    this.supersedes = null;
  }

  async render(c) {
    this.case = c;
    const base = "/api/v1/cases/" + encodeURIComponent(this.number);
    let docs, kinds;
    try {
      [docs, kinds] = await Promise.all([
        getJSON(base + "/documents"),
        getJSON("/api/v1/documents/kinds?case=" + encodeURIComponent(this.number)),
      ]);
    } catch (e) {
      if (e.status === 403 || e.status === 404) { this.section.hidden = true; return; }
      throw e;
    }
    this.section.hidden = false;
    this.kinds = kinds.kinds;
    this.version = kinds.version;
    this.renderList(docs.documents);
    const chosen = this.kind.value;
    const usable = this.kinds.filter((k) => k.available);
    fill(this.kind, h("option", { value: "" }, usable.length ? "请选择要制作的文书…" : "当前状态下没有可制作的文书"),
      ...this.kinds.map((k) => h("option", { value: k.kind, disabled: !k.available, title: k.why_not || "" },
        k.title + (k.available ? "" : "（当前不可制作）"))));
    this.kind.value = usable.some((k) => k.kind === chosen) ? chosen : "";
    if (!this.supersedes) this.showForm();
  }

  renderList(docs) {
    if (!docs.length) {
      fill(this.list, h("p", { class: "muted" }, "本案尚未制发执法文书。"));
      return;
    }
    fill(this.list, h("ul", { class: "documents" }, ...docs.slice().reverse().map((d) => h("li", { class: "document " + d.status },
      h("div", { class: "document-head" },
        h("strong", {}, d.title),
        h("span", { class: "badge " + (STATUS_CLASS[d.status] || "") }, d.status_label)),
      h("div", { class: "document-number" }, d.number),
      h("div", { class: "muted" }, "签发：" + beijing(d.issued_at) + (d.issued_by ? " · " + d.issued_by : "")
        + (d.deadline_days ? " · 期限 " + d.deadline_days + " 日" : "")
        + (d.served_on ? " · 已于 " + d.served_on + " 送达" : (d.status === "issued" && d.kind !== "proof_of_service" ? " · 尚未送达" : ""))),
      d.void_reason ? h("div", { class: "muted" }, "作废原因：" + d.void_reason) : null,
      h("div", { class: "document-actions" },
        h("button", { type: "button", onclick: () => this.open(d) }, "查看 PDF"),
        d.status === "issued" ? h("button", { type: "button", onclick: () => this.startSupersede(d) }, "重新制发") : null,
        d.status === "issued" ? h("button", { type: "button", class: "danger", onclick: () => this.voidForm(d) }, "作废") : null),
      h("div", { class: "document-void", id: "void-" + d.id }),
      h("div", { class: "muted hash" }, "SHA-256 " + d.sha256.slice(0, 16) + "…")))));
  }

  async open(d) {
    try {
      const url = await blobURL(d.pdf);
      const a = h("a", { href: url, download: d.title + d.number + ".pdf", target: "_blank", rel: "noopener" });
      document.body.append(a);
      a.click();
      a.remove();
    } catch (e) {
      showError(e);
    }
  }

  voidForm(d) {
    const box = document.getElementById("void-" + d.id);
    const reason = h("input", { type: "text", maxlength: "500", placeholder: "作废原因，如：当事人姓名有误", "aria-label": "作废原因" });
    fill(box, h("form", { class: "inline-form", onsubmit: async (e) => {
      e.preventDefault();
      if (!reason.value.trim()) return showError("请填写作废原因");
      try {
        await sendJSON("/api/v1/cases/" + encodeURIComponent(this.number) + "/documents/" + d.id + "/void", { reason: reason.value.trim() });
        await this.reload();
      } catch (err) { showError(err); }
    } }, reason, h("button", { type: "submit", class: "danger" }, "确认作废"),
    h("p", { class: "hint" }, "作废后文号保留在登记簿中并标注“已作废”，该文书设定的期限不再计算。")));
    reason.focus();
  }

  startSupersede(d) {
    this.supersedes = d;
    this.kind.value = d.kind;
    this.showForm(d.fields);
    this.form.scrollIntoView({ block: "nearest" });
  }

  showForm(values) {
    const kind = this.kinds.find((k) => k.kind === this.kind.value);
    if (!kind) { this.supersedes = null; fill(this.form); return; }
    if (this.supersedes && this.supersedes.kind !== kind.kind) this.supersedes = null;
    const rows = kind.fields.map((f) => field(f, values && values[f.name] !== undefined ? values[f.name] : f.default));
    const photos = kind.photos ? photoChoice(this.case) : null;
    fill(this.form,
      this.supersedes ? h("p", { class: "supersede-note" }, "重新制发将替代 " + this.supersedes.number + "，原文书保留备查。",
        h("button", { type: "button", class: "link", onclick: () => { this.supersedes = null; this.showForm(); } }, "取消替代")) : null,
      h("p", { class: "hint" }, "提交后生成“" + kind.title + "”并编号，同时办理“" + kind.action_label + "”。文书签发后不能修改，只能作废或重新制发。"),
      ...rows, photos,
      h("button", { type: "submit", class: "primary", id: "document-issue" }, this.supersedes ? "重新制发并编号" : "生成文书并编号"));
  }

  async submit(e) {
    e.preventDefault();
    const kind = this.kinds.find((k) => k.kind === this.kind.value);
    if (!kind) return;
    const fields = {};
    for (const el of this.form.querySelectorAll("[data-field]")) {
      const v = el.value.trim();
      if (v) fields[el.dataset.field] = el.type === "number" ? Number(v) : v;
    }
    const photos = [...this.form.querySelectorAll("input[data-photo]:checked")].map((x) => x.value);
    const button = this.form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const body = { kind: kind.kind, fields, photos, version: this.version };
      if (this.supersedes) body.supersedes = this.supersedes.id;
      const doc = await sendJSON("/api/v1/cases/" + encodeURIComponent(this.number) + "/documents", body);
      this.supersedes = null;
      this.kind.value = "";
      await this.reload();
      this.open(doc);
    } catch (err) {
      showError(err);
    } finally {
      button.disabled = false;
    }
  }
}

function field(f, value) {
  const id = "doc-" + f.name;
  const common = { id, "data-field": f.name, required: f.required || null };
  let input;
  if (f.choices) {
    input = h("select", common, h("option", { value: "" }, "请选择…"),
      ...Object.entries(f.choices).map(([code, label]) => h("option", { value: code, selected: String(value) === code || null }, label)));
  } else if (f.type === "textarea") {
    input = h("textarea", { ...common, rows: "3", maxlength: "2000" });
    input.value = value == null ? "" : String(value);
  } else {
    const type = f.type === "number" ? "number" : f.type === "date" ? "date" : "text";
    input = h("input", { ...common, type, min: f.type === "number" ? "1" : null, max: f.max || null, maxlength: type === "text" ? "500" : null });
    input.value = value == null ? "" : String(value);
  }
  return h("div", { class: "field" }, h("label", { for: id }, f.label + (f.required ? " *" : "")), input);
}

function photoChoice(c) {
  const photos = (c.evidence || []).filter((e) => e.kind === "photo");
  if (!photos.length) return h("p", { class: "error-text" }, "此文书需要引用现场照片：请先在“办理”中上传现场照片。");
  return h("fieldset", { class: "photo-choice" }, h("legend", {}, "引用的现场照片"),
    ...photos.map((p, i) => h("label", { class: "check" },
      h("input", { type: "checkbox", value: p.sha256, "data-photo": "1", checked: i === photos.length - 1 || null }),
      " " + (p.filename || p.sha256.slice(0, 12)) + (p.uploaded_at ? "（" + beijing(p.uploaded_at) + "）" : ""))));
}
