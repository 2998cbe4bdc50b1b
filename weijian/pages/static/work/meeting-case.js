// 联席会议决定 on the case page: the joint meeting's last decision on the case — what is to be
// done, the responsible unit, the deadline with its countdown (the case page's clock ticks it)
// — and the report that it was carried out, with 报告落实情况 for those who act on it
// (GET /api/v1/cases/{number}/meeting, POST …/meeting-done). Hidden while the case has none.

import { getJSON, probe, sendJSON } from "/static/common/api.js";
import { fill, h } from "/static/common/dom.js";
import { showError, showInfo } from "/static/common/notice.js";
import { ServerClock, beijing, countdown } from "/static/common/time.js";

const STYLE = "/static/work/meetings.css";
let panel = null;

const dayText = (iso) => { const [y, m, d] = String(iso).slice(0, 10).split("-"); return y + "年" + Number(m) + "月" + Number(d) + "日"; };

// the countdown to the deadline, written at once; the case page's clock ticks it on
function left(due, asOf) {
  const now = countdown(due, new ServerClock(asOf).now());
  return h("div", { class: "countdown-left", dataset: { due, level: now.level } }, now.text);
}

// the panel of case `c`, made the first time (after the actions' card), read again each time
export function showMeeting(c, reload) {
  if (!panel) panel = new MeetingPanel(reload);
  panel.render(c).catch(showError);
}

class MeetingPanel {
  constructor(reload) {
    this.reload = reload;
    this.body = h("div", { id: "meeting-decision-body" });
    this.section = h("section", { id: "meeting-decision", class: "card meeting-decision", hidden: true, "aria-labelledby": "meeting-decision-title" },
      h("h2", { id: "meeting-decision-title" }, "联席会议决定"), this.body);
    const after = document.getElementById("actions");
    if (after) after.after(this.section);
    else document.body.append(this.section);
    if (!document.querySelector(`link[href="${STYLE}"]`)) document.head.append(h("link", { rel: "stylesheet", href: STYLE }));
    this.note = h("textarea", { id: "meeting-done-note", rows: "3", maxlength: "2000", placeholder: "如：违建已于 4 月 30 日全部拆除，现场已清理" });
  }

  async render(c) {
    let m;
    try {
      m = await getJSON("/api/v1/cases/" + encodeURIComponent(c.number) + "/meeting");
    } catch (e) {
      if (e.status === 403 || e.status === 404) { this.section.hidden = true; return; }
      throw e;
    }
    probe.meeting = m;
    const d = m.decision;
    this.section.hidden = !d;
    if (!d) return;
    const state = d.done ? "met" : d.overdue ? "overdue" : "pending";
    fill(this.body,
      h("p", { class: "decision-text" }, d.decision),
      h("dl", { class: "facts-list" },
        h("dt", {}, "会议"), h("dd", {}, h("a", { href: "/work/meetings#" + d.meeting.id }, d.meeting.title), "（" + dayText(d.meeting.held_on) + "）"),
        h("dt", {}, "责任单位"), h("dd", { id: "meeting-assignee" }, d.assignee),
        h("dt", {}, "办结期限"), h("dd", { id: "meeting-due", class: "decision-due" }, dayText(d.decided_due) + " 24 时前"),
        h("dt", {}, "记录"), h("dd", { class: "muted" }, (d.decided_by || "—") + "，" + beijing(d.decided_at)),
        m.decisions > 1 ? [h("dt", {}, "此前"), h("dd", { class: "muted" }, "本案共经 " + m.decisions + " 次会议决定，这里是最近一次")] : null),
      h("ul", { class: "deadline-list" }, h("li", { class: "deadline " + state, dataset: { code: "meeting", status: state } },
        h("div", { class: "deadline-label" }, "落实情况"),
        h("div", { class: "deadline-due" }, d.done ? "已由" + d.done.by + "于 " + beijing(d.done.at) + " 报告：" + d.done.note : "尚未报告落实情况"),
        d.done ? h("div", { class: "deadline-done" }, h("span", { class: "deadline-status" }, Date.parse(d.done.at) <= Date.parse(d.due) ? "按时" : "超时完成"))
          : left(d.due, m.as_of))),
      m.may_report ? this.form(c) : (d.done || !m.why_not ? null : h("p", { class: "hint" }, m.why_not)));
  }

  form(c) {
    const button = h("button", { type: "submit", class: "primary", id: "meeting-done" }, "报告落实情况");
    return h("form", { class: "report-form", onsubmit: async (e) => {
      e.preventDefault();
      const note = this.note.value.trim();
      if (!note) return showError("请填写会议决定的落实情况");
      button.disabled = true;
      try {
        await sendJSON("/api/v1/cases/" + encodeURIComponent(c.number) + "/meeting-done", { note });
        this.note.value = "";
        showInfo("已报告落实情况");
        await this.reload();
      } catch (err) {
        showError(err);
      } finally {
        button.disabled = false;
      }
    } },
    h("label", { for: "meeting-done-note" }, "落实情况说明 ", h("span", { class: "required" }, "（必填）")),
    this.note, button);
  }
}
