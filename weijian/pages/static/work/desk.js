// The case page's desk (派遣与督办): a department leader dispatches the case to one of his
// officers or takes it back (supervisors and administrators too, from the same list); supervisors,
// administrators and the holding department's leader urge the case with a note and a reply
// deadline; everyone reads the case's urges and their answers, and the holding department
// answers an urge addressed to it; 关注 / 取消关注 sits beside the case's number. The forms
// are built once and kept across reloads, with what was typed.

import { ApiError, api, getJSON, probe, sendJSON } from "/static/common/api.js";
import { fill, h } from "/static/common/dom.js";
import { showError, showInfo } from "/static/common/notice.js";
import { ServerClock, beijing, countdown, tomorrowFive } from "/static/common/time.js";

const SUPERVISING = ["supervisor", "admin"];
// a datetime-local value read as Beijing time: an ISO instant
const fromBeijing = (value) => (value ? value + ":00+08:00" : null);

export class Desk {
  // me: the user (auth/me); shown(case): show an answered case; reload(): read it again
  constructor(el, { number, me, wf, shown, reload }) {
    this.el = el;
    this.number = number;
    this.me = me;
    this.wf = wf;
    this.shown = shown;
    this.reload = reload;
    this.path = "/api/v1/cases/" + encodeURIComponent(number);
    this.answers = new Map(); // urge id → its answer form
    this.state = probe.desk = { urges: null, followed: null, officers: null, loads: 0 };
    this.buildDispatch();
    this.buildUrge();
    this.urgeList = h("ul", { class: "urge-list" });
    this.follow = h("button", { type: "button", class: "follow-button", onclick: () => this.toggleFollow() }, "关注");
  }

  // -- who may do what -----------------------------------------------------------------------

  holds(c) {
    return Boolean(this.me.department_code && c.department && c.department.code === this.me.department_code);
  }

  mayDispatch(c) {
    if (c.category === "closed") return false;
    return SUPERVISING.includes(this.me.role) || (this.me.role === "department_leader" && this.holds(c));
  }

  mayUrge(c) {
    if (c.category === "closed") return false;
    return SUPERVISING.includes(this.me.role) || (this.me.role === "department_leader" && this.holds(c));
  }

  mayAnswer(u) {
    if (u.answered_at) return false;
    return this.me.role === "admin" || Boolean(this.me.department_code && this.me.department_code === u.to_department_code);
  }

  // -- rendering ------------------------------------------------------------------------------

  render(c) {
    this.case = c;
    this.clock = new ServerClock(c.as_of);
    const parts = [];
    if (this.mayDispatch(c)) parts.push(this.dispatchSection(c));
    parts.push(h("section", { class: "desk-part urges" }, h("h3", {}, "督办"), this.urgeList));
    if (this.mayUrge(c)) {
      if (!this.urgeDue.value) this.urgeDue.value = tomorrowFive(this.clock.now());
      parts.push(this.urgeForm);
    }
    fill(this.el, parts);
    const head = document.querySelector("#summary .summary-head");
    if (head) head.append(this.follow);
    this.loadUrges();
    if (typeof c.followed === "boolean") {
      this.state.followed = c.followed;
      this.showFollow();
    } else {
      this.loadFollowed(); // an answer without it (an API client's view)
    }
  }

  // -- 派遣 ------------------------------------------------------------------------------------

  buildDispatch() {
    this.officer = h("select", { name: "officer", "aria-label": "承办人" }, h("option", { value: "" }, "正在读取本部门人员…"));
    this.dispatchButton = h("button", { type: "submit", class: "primary" }, "派遣");
    this.takeBack = h("button", { type: "button", class: "take-back", onclick: () => this.assign(null) }, "收回");
    this.dispatchForm = h("form", { class: "dispatch-form" });
    this.dispatchForm.addEventListener("submit", (e) => {
      e.preventDefault();
      const who = this.officer.value;
      if (!who) return showError("请选择承办人");
      this.assign(who);
    });
  }

  dispatchSection(c) {
    const department = c.department ? c.department.code : null;
    if (this.state.officers === null || this.officersOf !== department) this.loadOfficers(department);
    const current = c.assignee
      ? h("p", { class: "assignee-now" }, "当前承办人：", h("b", {}, c.assignee.name), " ", this.takeBack)
      : h("p", { class: "assignee-now muted" }, "尚未指派承办人");
    this.dispatchButton.textContent = c.assignee ? "改派" : "派遣";
    fill(this.dispatchForm, this.officer, this.dispatchButton);
    return h("section", { class: "desk-part dispatch" }, h("h3", {}, "派遣"), current, this.dispatchForm);
  }

  // the officers of the case's department (a supervisor, who belongs to none, names it)
  async loadOfficers(department) {
    this.state.officers = [];
    this.officersOf = department;
    try {
      const list = await getJSON("/api/v1/officers" + (department ? "?department=" + encodeURIComponent(department) : ""));
      this.state.officers = list;
      const roles = this.wf.roles || {};
      fill(this.officer, h("option", { value: "" }, "请选择承办人"), list.map((o) =>
        h("option", { value: o.username }, o.display_name + "（" + (roles[o.role] || o.role) + "，在办 " + o.open_cases + " 件）")));
    } catch (e) {
      this.state.officers = null;
      fill(this.officer, h("option", { value: "" }, "人员列表读取失败"));
      if (e.status !== 401) showError(e);
    }
  }

  async assign(username) {
    const buttons = [this.dispatchButton, this.takeBack];
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const c = await sendJSON(this.path + "/assign", { username, version: this.case.version });
      this.officer.value = "";
      this.state.officers = null; // their open cases have changed
      showInfo(username ? "已派遣给 " + (c.assignee ? c.assignee.name : username) : "已收回，本案暂无承办人");
      this.shown(c);
    } catch (e) {
      if (e.status === 401) return;
      showError(e);
      if (e instanceof ApiError && e.status === 409) await this.reload();
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  // -- 督办 ------------------------------------------------------------------------------------

  buildUrge() {
    this.urgeNote = h("textarea", { name: "urge-note", rows: "2", placeholder: "写明督办要求，如：请于明日前完成现场核查并反馈" });
    this.urgeDue = h("input", { type: "datetime-local", name: "reply-due" });
    this.urgeButton = h("button", { type: "submit", class: "primary" }, "督办");
    this.urgeForm = h("form", { class: "urge-form" }, h("h4", {}, "发起督办"),
      h("label", {}, "督办内容", h("span", { class: "required" }, "（必填）"), this.urgeNote),
      h("label", {}, "答复期限（北京时间）", this.urgeDue),
      h("div", { class: "form-buttons" }, this.urgeButton));
    this.urgeForm.addEventListener("submit", (e) => { e.preventDefault(); this.urge(); });
  }

  async urge() {
    const note = this.urgeNote.value.trim();
    if (!note) return showError("请填写督办内容");
    if (!this.urgeDue.value) return showError("请填写答复期限");
    this.urgeButton.disabled = true;
    try {
      const answer = await sendJSON(this.path + "/urges", { note, reply_due: fromBeijing(this.urgeDue.value) });
      this.urgeNote.value = "";
      this.urgeDue.value = "";
      showInfo("已督办，请" + (this.case.department ? this.case.department.name : "承办部门") + "于 " + beijing(answer.reply_due) + " 前答复");
      await this.reload();
    } catch (e) {
      if (e.status !== 401) showError(e);
    } finally {
      this.urgeButton.disabled = false;
    }
  }

  async loadUrges() {
    try {
      const urges = await getJSON(this.path + "/urges");
      this.state.urges = urges;
      this.renderUrges(urges);
    } catch (e) {
      if (e.status !== 401) showError(e);
    } finally {
      this.state.loads += 1;
    }
  }

  renderUrges(urges) {
    if (!urges.length) {
      fill(this.urgeList, h("li", { class: "muted urge-none" }, "本案暂无督办"));
      return;
    }
    const roles = this.wf.roles || {};
    const now = this.clock.now();
    fill(this.urgeList, urges.slice().reverse().map((u) => {
      const late = !u.answered_at && countdown(u.reply_due, now).level === "missed";
      const status = u.answered_at
        ? h("span", { class: "chip " + (Date.parse(u.answered_at) <= Date.parse(u.reply_due) ? "info" : "warn") },
          Date.parse(u.answered_at) <= Date.parse(u.reply_due) ? "已按时答复" : "逾期答复")
        : h("span", { class: "chip " + (late ? "danger" : "warn") }, late ? "待答复（已超期）" : "待答复");
      return h("li", { class: "urge", dataset: { id: u.id, answered: u.answered_at ? "yes" : "no" } },
        h("div", { class: "urge-head" }, h("b", {}, u.urged_by_name), roles[u.urged_by_role] ? h("span", { class: "muted" }, roles[u.urged_by_role]) : null,
          h("span", { class: "muted" }, beijing(u.urged_at)), status),
        h("p", { class: "urge-note" }, u.note),
        h("div", { class: "urge-due muted" }, "答复期限 " + beijing(u.reply_due)),
        u.answered_at
          ? h("div", { class: "urge-answer" }, h("span", { class: "muted" }, "答复（" + u.answered_by_name + "，" + beijing(u.answered_at) + "）："), u.answer)
          : this.mayAnswer(u) ? this.answerForm(u) : null);
    }));
  }

  answerForm(u) {
    let form = this.answers.get(u.id);
    if (form) return form;
    const note = h("textarea", { name: "answer", rows: "2", placeholder: "写明办理进展或安排" });
    const button = h("button", { type: "submit", class: "primary" }, "答复");
    form = h("form", { class: "answer-form", dataset: { id: u.id } }, note, h("div", { class: "form-buttons" }, button));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      if (!note.value.trim()) return showError("请填写答复内容");
      button.disabled = true;
      try {
        await sendJSON("/api/v1/urges/" + u.id + "/answer", { note: note.value.trim() });
        this.answers.delete(u.id);
        showInfo("已答复督办");
        await this.reload();
      } catch (err) {
        if (err.status !== 401) showError(err);
        if (err.status === 409) await this.reload();
      } finally {
        button.disabled = false;
      }
    });
    this.answers.set(u.id, form);
    return form;
  }

  // -- 关注 ------------------------------------------------------------------------------------

  async loadFollowed() {
    if (this.state.followed !== null || this.asking) return;
    this.asking = true;
    try {
      const page = await getJSON("/api/v1/inbox?tab=followed&limit=200&q=" + encodeURIComponent(this.number));
      this.state.followed = page.items.some((i) => i.number === this.number);
      this.showFollow();
    } catch (e) {
      this.follow.hidden = true; // a user who follows nothing (an API client)
    } finally {
      this.asking = false;
    }
  }

  showFollow() {
    const on = this.state.followed;
    this.follow.textContent = on ? "★ 已关注" : "☆ 关注";
    this.follow.title = on ? "点击取消关注" : "关注后，本案列入工作台“关注”";
    this.follow.setAttribute("aria-pressed", String(Boolean(on)));
    this.follow.classList.toggle("on", Boolean(on));
  }

  async toggleFollow() {
    const on = !this.state.followed;
    this.follow.disabled = true;
    try {
      await api(this.path + "/follow", { method: on ? "PUT" : "DELETE" });
      this.state.followed = on;
      this.showFollow();
      showInfo(on ? "已关注，可在工作台“关注”中查看" : "已取消关注");
    } catch (e) {
      if (e.status !== 401) showError(e);
    } finally {
      this.follow.disabled = false;
    }
  }
}
