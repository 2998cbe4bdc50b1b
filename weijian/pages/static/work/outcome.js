// 向举报人公布的办理结果: the outcome text the holder of a citizen's receipt reads on /report
// (PUT /api/v1/cases/{ref}/public-outcome). Plain words for the public: no names, no internal
// notes. A new text replaces the shown one; every text stays in the case's history.

import { sendJSON } from "/static/common/api.js";
import { fill, h } from "/static/common/dom.js";
import { showError } from "/static/common/notice.js";
import { beijing } from "/static/common/time.js";

export class OutcomePanel {
  constructor(section, body, { number, reload }) {
    this.section = section;
    this.body = body;
    this.number = number;
    this.reload = reload;
    this.text = h("textarea", { id: "outcome-text", rows: "3", maxlength: "1000", placeholder: "如：经现场核查，当事人已于 3 月 12 日自行拆除违建部分。感谢您的举报。" });
    this.send = h("button", { type: "submit", class: "primary", id: "outcome-send" }, "公布");
    this.form = h("form", { onsubmit: (e) => this.submit(e) },
      h("label", { for: "outcome-text" }, "公布给举报人的办理结果"),
      h("p", { class: "hint" }, "举报人凭回执码在“查询进度”页面看到这段文字。请用通俗的语言，不写当事人姓名、内部意见和电话。"),
      this.text, this.send);
    this.shown = h("div", { id: "outcome-shown" });
    fill(this.body, this.shown, this.form);
  }

  render(c) {
    // only a citizen's report has a receipt holder to read it
    this.section.hidden = c.channel !== "citizen";
    fill(this.shown, c.public_outcome
      ? h("div", { class: "outcome-current" }, h("p", {}, c.public_outcome), h("p", { class: "muted" }, "已于 " + beijing(c.public_outcome_at) + " 公布"))
      : h("p", { class: "muted" }, "尚未公布办理结果。"));
  }

  async submit(e) {
    e.preventDefault();
    const text = this.text.value.trim();
    if (!text) return showError("请填写向举报人公布的办理结果");
    this.send.disabled = true;
    try {
      await sendJSON("/api/v1/cases/" + encodeURIComponent(this.number) + "/public-outcome", { text }, "PUT");
      this.text.value = "";
      await this.reload();
    } catch (err) {
      showError(err);
    } finally {
      this.send.disabled = false;
    }
  }
}
