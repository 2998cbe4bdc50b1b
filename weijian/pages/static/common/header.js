// The header of every workbench page: the product's name, the way to the workbench and the
// map, the user with the role, and 退出.

import { api, once, probe, setToken } from "./api.js";
import { fill, h } from "./dom.js";

// the links of the header beside the workbench's own name: [label, href, the page it names,
// who sees it (everyone when left out)]
const LINKS = [
  ["地图", "/", "map"],
  // the figures for the meeting: everyone but the grid's own people
  ["统计", "/work/stats", "stats", (me) => !["grid_worker", "property_company"].includes(me.role)],
  // the monthly ledger: the towns send it, their district reviews it, the city's supervisors see all
  ["台账", "/work/ledger", "ledger", (me) => me.role === "town" || me.grid_level === "district"
    || (me.grid_code == null && ["admin", "supervisor"].includes(me.role))],
  // 建设项目追踪: those who keep the register and inspect (as the API allows)
  ["项目", "/work/projects", "projects", (me) => ["admin", "supervisor", "natural_resources", "urban_enforcement",
    "county_government", "town", "department_leader"].includes(me.role)],
  // 执法文书登记簿: the departments that issue, and those who oversee them
  ["文书", "/work/documents", "documents", (me) => ["admin", "supervisor", "natural_resources", "urban_enforcement",
    "county_government", "department_leader"].includes(me.role)],
  // 联席会议 (会议 on a phone): those who convene it, for the whole city or a district
  [[h("span", { class: "brand-long" }, "联席"), "会议"], "/work/meetings", "meetings", (me) => ["admin", "supervisor", "county_government"].includes(me.role)
    && (me.grid_code == null || me.grid_level === "district")],
  // 系统管理: layers, rules, users and keys
  ["管理", "/work/admin", "admin", (me) => me.role === "admin"],
  // the field app: in sight for the grid's own people, and for everyone on a phone
  ["移动端", "/m", "m"],
];
const FIELD_ROLES = ["grid_worker", "property_company"];

export async function mountHeader(el, { here } = {}) {
  const [me, wf] = await Promise.all([once("/api/v1/auth/me"), once("/api/v1/cases/workflow")]);
  probe.me = me;
  const role = wf.roles[me.role] || me.role;
  const logout = h("button", { type: "button", class: "logout" }, "退出");
  logout.addEventListener("click", async () => {
    try { await api("/api/v1/auth/logout", { method: "POST" }); } catch (e) { /* gone already */ }
    setToken(null);
    location.reload();
  });
  fill(el,
    h("a", { class: "brand", href: "/work", "aria-current": here === "work" ? "page" : null },
      h("span", { class: "brand-long" }, "违法建设"), "工作台"),
    h("nav", { class: "links" }, LINKS.filter(([, , , shows]) => !shows || shows(me)).map(([label, href, page]) =>
      h("a", { href, "aria-current": page === here ? "page" : null,
        class: page === "m" ? (FIELD_ROLES.includes(me.role) ? "field-link" : "field-link phone-only") : null }, label))),
    h("div", { class: "me" },
      h("span", { class: "me-name" }, me.display_name),
      h("span", { class: "me-role" }, role),
      logout),
  );
  return me;
}
