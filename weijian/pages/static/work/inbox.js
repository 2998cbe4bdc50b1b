// The inbox on the workbench's home page (待办箱): the tabs 待办 / 已办 / 督办 / 关注 with their
// counts, a filter bar (words, state, 只看超期 / 只看停滞 / 我的案件), one row per case — its
// number, place, state, the current stage with a live countdown from the server's clock, who
// holds it, its last step and its flags — and 加载更多 for the next page. The tab and the
// filters live in the address (?tab=urged&mine=1), so a reload keeps them. Supervisors and
// administrators have no 待办: their desk opens on 督办. 批量生成文书 asks for the valid
// enforcement documents of the listed cases as a background job (common/jobs.js): its progress
// bar, then the zip with one PDF per document.

import { getJSON, once, probe } from "/static/common/api.js";
import { fill, h } from "/static/common/dom.js";
import { jobPanel } from "/static/common/jobs.js";
import { showError } from "/static/common/notice.js";
import { ServerClock, beijingShort, countdown } from "/static/common/time.js";

const TABS = [["todo", "待办"], ["done", "已办"], ["urged", "督办"], ["followed", "关注"]];
const WITHOUT_TODO = ["supervisor", "admin"];
const EMPTY = {
  todo: "没有待办案件",
  done: "还没有办理过的案件",
  urged: "没有待答复的督办",
  followed: "还没有关注的案件，可在案件页点击“关注”",
};
const CHECKS = [["overdue", "只看超期"], ["stalled", "只看停滞"], ["mine", "我的案件"]];
const PAGE = 30;

export class Inbox {
  constructor(el, { me, wf, config }) {
    this.el = el;
    this.me = me;
    this.wf = wf;
    this.config = config;
    this.tabs = TABS.filter(([code]) => code !== "todo" || !WITHOUT_TODO.includes(me.role));
    this.clock = new ServerClock(null);
    this.asked = 0; // the latest request: answers to older ones are dropped
    this.state = probe.inbox = { tab: null, counts: null, items: [], next: null, loads: 0, loading: false };
    this.readAddress();
    this.build();
  }

  // -- the address: ?tab=…&q=…&state=…&overdue=1&stalled=1&mine=1 ----------------------------

  readAddress() {
    const p = new URLSearchParams(location.search);
    const tab = p.get("tab");
    const first = WITHOUT_TODO.includes(this.me.role) ? "urged" : "todo";
    this.tab = this.tabs.some(([code]) => code === tab) ? tab : first;
    this.filters = {
      q: p.get("q") || "",
      state: p.get("state") || "",
      overdue: p.get("overdue") === "1",
      stalled: p.get("stalled") === "1",
      mine: p.get("mine") === "1",
      grid: p.get("grid") || "", // a grid's code, from the dashboard's tables
    };
  }

  writeAddress() {
    const p = new URLSearchParams();
    p.set("tab", this.tab);
    if (this.filters.q) p.set("q", this.filters.q);
    if (this.filters.state) p.set("state", this.filters.state);
    for (const [key] of CHECKS) if (this.filters[key]) p.set(key, "1");
    if (this.filters.grid) p.set("grid", this.filters.grid);
    history.replaceState(null, "", location.pathname + "?" + p.toString());
  }

  query(cursor) {
    const p = new URLSearchParams({ tab: this.tab, limit: String(PAGE) });
    const f = this.filters;
    if (f.q.trim()) p.set("q", f.q.trim());
    if (f.state) p.set("state", f.state);
    for (const [key] of CHECKS) if (f[key]) p.set(key, "true");
    if (f.grid) p.set("grid", f.grid);
    if (cursor) p.set("cursor", cursor);
    return "/api/v1/inbox?" + p.toString();
  }

  // -- the frame: tabs, filters, the list, 加载更多 ---------------------------------------------

  build() {
    this.tabBar = h("div", { class: "inbox-tabs", role: "tablist", "aria-label": "待办箱分页" },
      this.tabs.map(([code, label]) => h("button", {
        type: "button", role: "tab", class: "inbox-tab", dataset: { tab: code },
        onclick: () => this.show(code),
      }, h("span", { class: "tab-label" }, label), h("span", { class: "tab-count" }, ""))));
    const f = this.filters;
    this.q = h("input", { type: "search", name: "q", value: f.q, placeholder: "案件编号、地址或描述", "aria-label": "搜索案件" });
    let typing = null;
    this.q.addEventListener("input", () => {
      clearTimeout(typing);
      typing = setTimeout(() => this.filter({ q: this.q.value }), 350);
    });
    const states = Object.entries(this.wf.states || {});
    this.stateSelect = h("select", { name: "state", "aria-label": "办理状态" },
      h("option", { value: "" }, "全部状态"),
      states.map(([code, s]) => h("option", { value: code, selected: code === f.state }, s.label || code)));
    this.stateSelect.addEventListener("change", () => this.filter({ state: this.stateSelect.value }));
    const checks = CHECKS.map(([key, label]) => {
      const box = h("input", { type: "checkbox", name: key, checked: f[key] });
      box.addEventListener("change", () => this.filter({ [key]: box.checked }));
      return h("label", { class: "inbox-check" }, box, label);
    });
    this.filterBar = h("form", { class: "inbox-filters", role: "search", onsubmit: (e) => { e.preventDefault(); this.filter({ q: this.q.value }); } },
      this.q, this.stateSelect, h("div", { class: "inbox-checks" }, checks), this.gridChip());
    this.head = h("div", { class: "inbox-head", "aria-hidden": "true" },
      ["案件", "状态", "当前环节与时限", "承办", "最近办理", "标记"].map((t) => h("span", {}, t)));
    this.list = h("ul", { class: "inbox-list", "aria-live": "polite" });
    this.status = h("p", { class: "inbox-status muted" });
    this.more = h("button", { type: "button", class: "inbox-more", hidden: true, onclick: () => this.load(true) }, "加载更多");
    this.batchButton = h("button", { type: "button", class: "inbox-batch-documents", disabled: true }, "批量生成文书");
    const panel = h("div", { class: "job-panel", hidden: true });
    const documents = jobPanel(panel, {
      key: "documents.inbox",
      kind: "documents",
      button: this.batchButton,
      doing: "正在生成文书",
      parameters: () => ({ cases: this.state.items.map((item) => item.number) }),
    });
    this.batchButton.addEventListener("click", () => documents.start());
    this.batch = h("div", { class: "inbox-batch" }, this.batchButton,
      h("span", { class: "muted" }, "将列表中已显示案件的有效执法文书打包下载（每份文书一个 PDF）"), panel);
    fill(this.el, h("h2", { id: "inbox-title" }, "待办箱"), this.tabBar, this.filterBar, this.head, this.list, this.status, this.more, this.batch);
    this.el.setAttribute("aria-labelledby", "inbox-title");
    this.markTabs();
  }

  // the grid a link asked for (?grid=CODE): shown, and removed with ✕
  gridChip() {
    if (!this.filters.grid) return null;
    const chip = h("span", { class: "chip info grid-chip" }, "网格 " + this.filters.grid + " ",
      h("button", { type: "button", class: "chip-clear", "aria-label": "取消网格筛选",
        onclick: () => { chip.remove(); this.filter({ grid: "" }); } }, "✕"));
    return chip;
  }

  markTabs() {
    for (const button of this.tabBar.querySelectorAll(".inbox-tab")) {
      const on = button.dataset.tab === this.tab;
      button.setAttribute("aria-selected", String(on));
      button.classList.toggle("active", on);
      const n = this.state.counts ? this.state.counts[button.dataset.tab] : null;
      const count = button.querySelector(".tab-count");
      count.textContent = n == null ? "" : String(n);
      count.dataset.n = n == null ? "" : String(n);
    }
  }

  show(tab) {
    if (tab === this.tab) return;
    this.tab = tab;
    this.markTabs();
    this.writeAddress();
    return this.load(false);
  }

  filter(change) {
    Object.assign(this.filters, change);
    this.writeAddress();
    return this.load(false);
  }

  // -- loading ----------------------------------------------------------------------------------

  async load(more) {
    const asked = ++this.asked;
    const s = this.state;
    s.loading = true;
    this.more.disabled = true;
    if (!more) this.status.textContent = "正在读取…";
    try {
      const page = await getJSON(this.query(more ? s.next : null));
      if (asked !== this.asked) return;
      this.clock = new ServerClock(page.as_of);
      s.tab = page.tab;
      s.counts = page.counts;
      s.items = more ? s.items.concat(page.items) : page.items;
      s.next = page.next_cursor;
      this.render(page.items, more);
    } catch (e) {
      if (asked !== this.asked) return;
      this.status.textContent = "待办箱读取失败";
      if (e.status !== 401) showError(e);
    } finally {
      if (asked === this.asked) {
        s.loading = false;
        s.loads += 1;
        this.more.disabled = false;
      }
    }
  }

  render(items, more) {
    const s = this.state;
    this.markTabs();
    const rows = items.map((item) => this.row(item));
    if (more) this.list.append(...rows);
    else fill(this.list, rows);
    const filtered = this.filters.q.trim() || this.filters.state || this.filters.grid || CHECKS.some(([key]) => this.filters[key]);
    if (!s.items.length) this.status.textContent = filtered ? "没有符合筛选条件的案件" : EMPTY[this.tab];
    else this.status.textContent = "共 " + s.counts[this.tab] + " 件" + (s.next ? "，已显示 " + s.items.length + " 件" : "");
    this.status.classList.toggle("inbox-empty", !s.items.length);
    this.head.hidden = !s.items.length;
    this.more.hidden = !s.next;
    const running = ["queued", "running"].includes(this.batch.querySelector(".job-panel").dataset.state);
    this.batchButton.disabled = !s.items.length || running;
    this.batchButton.textContent = s.items.length ? "批量生成文书（" + s.items.length + " 件）" : "批量生成文书";
    this.tick();
  }

  stateColour(code) {
    const s = this.config && this.config.states.find((x) => x.code === code);
    return s ? s.colour : "#57606a";
  }

  row(item) {
    const href = "/work/cases/" + encodeURIComponent(item.number);
    const stage = item.stage || {};
    const dept = item.department ? item.department.name : "未确定责任部门";
    const holder = item.assignee ? item.assignee.name : "未指派";
    const place = item.address || item.description || "";
    const chips = [];
    if (stage.overdue) chips.push(h("span", { class: "chip danger" }, "超期"));
    if (stage.stalled) chips.push(h("span", { class: "chip warn", title: "长时间没有办理记录" }, "停滞"));
    if (item.urge) {
      chips.push(h("span", { class: "chip danger urge-chip", title: item.urge.note || "" },
        "督办 · " + beijingShort(item.urge.reply_due, this.clock.now()) + "前答复"));
    }
    if (item.followed) chips.push(h("span", { class: "chip info" }, "已关注"));
    const li = h("li", { class: "inbox-row", dataset: { number: item.number, state: item.state } },
      h("div", { class: "cell case-cell" },
        h("a", { class: "case-link", href }, item.number),
        h("div", { class: "case-place" }, place),
        h("div", { class: "case-kind muted" }, [item.track_label, item.channel_label].filter(Boolean).join(" · "))),
      h("div", { class: "cell state-cell" },
        h("span", { class: "badge state", style: "background:" + this.stateColour(item.state) }, item.state_label)),
      h("div", { class: "cell stage-cell" }, stage.label
        ? [h("div", { class: "stage-label" }, stage.label),
          h("div", { class: "due-left", dataset: { due: stage.due } }, "")]
        : h("span", { class: "muted" }, item.category === "closed" ? "已办结" : "无办理时限")),
      h("div", { class: "cell holder-cell" },
        h("div", { class: "holder-dept" }, dept),
        h("div", { class: "holder-name" + (item.assignee ? "" : " muted") }, "承办人：" + holder)),
      h("div", { class: "cell last-cell" }, item.last_event
        ? [h("div", {}, item.last_event.label), h("div", { class: "muted" }, beijingShort(item.last_event.at, this.clock.now()))]
        : "—"),
      h("div", { class: "cell flag-cell" }, chips,
        item.urge ? h("div", { class: "urge-line" }, (item.urge.urged_by_name || "督办") + "：" + item.urge.note) : null));
    // the whole row opens the case; a click on the link itself (or a selection) does as usual
    li.addEventListener("click", (e) => {
      if (e.target.closest("a") || String(window.getSelection() || "")) return;
      location.href = href;
    });
    return li;
  }

  // every countdown of the list, from the server's clock
  tick() {
    const now = this.clock.now();
    for (const el of this.list.querySelectorAll(".due-left[data-due]")) {
      const left = countdown(el.dataset.due, now);
      el.textContent = left.text;
      el.dataset.level = left.level;
    }
  }
}

export async function mountInbox(el, me) {
  const [wf, config] = await Promise.all([
    once("/api/v1/cases/workflow"),
    once("/api/v1/map/config").catch(() => null), // the states' colours
  ]);
  const inbox = new Inbox(el, { me, wf, config });
  setInterval(() => inbox.tick(), 1000);
  await inbox.load(false);
  return inbox;
}
