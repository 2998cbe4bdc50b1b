// 系统管理 · 规则: the jurisdiction rules in force as an editable table (priority, name, zone
// kinds and land-use codes → department type, validity); 预览影响 asks how many open cases
// the edited rules would move to another department (nothing saved); 保存 with a required
// reason makes them a new version; the versions with who, when and why.

import { getJSON, once, probe, sendJSON } from "/static/common/api.js";
import { fill, h } from "/static/common/dom.js";
import { showError, showInfo } from "/static/common/notice.js";
import { beijing } from "/static/common/time.js";
import { KIND_LABELS } from "/static/work/admin-layers.js";

const ZONE_KINDS = ["urban_managed", "town_planned", "rural_construction", "homestead", "agricultural",
  "farmland", "forest", "construction", "unused"];

export async function mountRules(el) {
  const state = (probe.admin.rules = { rules: [], effect: null, version: null, loads: 0 });
  const [wf, departments] = await Promise.all([once("/api/v1/cases/workflow"), getJSON("/api/v1/jurisdiction/departments")]);
  const types = [...new Set(departments.map((d) => d.type))];
  const typeLabel = (t) => wf.roles[t] || t;
  const editor = h("section", { id: "rules-editor", class: "card" });
  const effect = h("section", { id: "rules-effect", class: "card", hidden: true });
  const history = h("section", { id: "rules-versions", class: "card" });
  fill(el, editor, effect, history);

  function row(rule) {
    const kinds = h("select", { name: "zone_kinds", multiple: true, size: 3, "aria-label": "分区类型" },
      ZONE_KINDS.map((k) => h("option", { value: k, selected: rule.zone_kinds.includes(k) }, KIND_LABELS[k])));
    const type = h("select", { name: "department_type", "aria-label": "责任部门类型" },
      [...new Set([...types, rule.department_type].filter(Boolean))].map((t) => h("option", { value: t, selected: t === rule.department_type }, typeLabel(t))));
    const tr = h("tr", { class: "rule-row" },
      h("td", {}, h("input", { name: "priority", type: "number", min: 0, value: rule.priority, "aria-label": "优先级", style: "max-width:5rem" })),
      h("td", {}, h("input", { name: "name", value: rule.name, "aria-label": "规则名称", required: true })),
      h("td", {}, kinds),
      h("td", {}, h("input", { name: "code_patterns", value: rule.code_patterns.join("，"), placeholder: "如 01、03*", "aria-label": "地类编码" })),
      h("td", {}, type),
      h("td", {}, h("input", { name: "valid_from", type: "date", value: rule.valid_from || "", "aria-label": "生效日期" })),
      h("td", {}, h("input", { name: "valid_to", type: "date", value: rule.valid_to || "", "aria-label": "失效日期" })),
      h("td", {}, h("button", { type: "button", class: "remove-rule", onclick: () => { tr.remove(); edited(); } }, "删除")));
    tr.addEventListener("input", edited);
    tr.addEventListener("change", edited);
    return tr;
  }

  function edited() {
    effect.hidden = true;
    state.effect = null;
  }

  function collect() {
    return [...editor.querySelectorAll("tr.rule-row")].map((tr) => {
      const v = (name) => tr.querySelector(`[name=${name}]`).value.trim();
      return {
        priority: Number(v("priority")),
        name: v("name"),
        department_type: v("department_type"),
        zone_kinds: [...tr.querySelector("[name=zone_kinds]").selectedOptions].map((o) => o.value),
        code_patterns: v("code_patterns").split(/[,，、\s]+/).filter(Boolean),
        valid_from: v("valid_from") || null,
        valid_to: v("valid_to") || null,
      };
    });
  }

  async function preview() {
    const answer = await sendJSON("/api/v1/jurisdiction/rules/preview", { rules: collect() });
    state.effect = answer;
    effect.hidden = false;
    fill(effect, h("h2", {}, "预览影响", h("small", {}, "按修改后的规则重新判定在办案件，尚未保存")),
      h("p", { class: "effect-summary" }, `在办案件 ${answer.open_cases} 件，其中 `,
        h("b", {}, answer.changed), ` 件的责任部门将改变。`),
      answer.moves.length ? h("div", { class: "table-wrap" }, h("table", { class: "admin-table effect-moves" },
        h("thead", {}, h("tr", {}, h("th", {}, "原责任部门"), h("th", {}, "新责任部门"), h("th", { class: "num" }, "案件数"))),
        h("tbody", {}, answer.moves.map((m) => h("tr", {}, h("td", {}, m.from.name), h("td", {}, m.to.name), h("td", { class: "num" }, m.cases)))))) : null,
      answer.sample.length ? [h("h3", {}, "受影响的案件（部分）"), h("div", { class: "table-wrap" }, h("table", { class: "admin-table effect-sample" },
        h("thead", {}, h("tr", {}, h("th", {}, "案件编号"), h("th", {}, "地址"), h("th", {}, "原责任部门"), h("th", {}, "新责任部门"))),
        h("tbody", {}, answer.sample.map((c) => h("tr", {},
          h("td", {}, h("a", { href: "/work/cases/" + encodeURIComponent(c.number) }, c.number)),
          h("td", {}, c.address || "—"), h("td", {}, c.from.name), h("td", {}, c.to.name))))))] : null);
  }

  async function save(reason) {
    const saved = await sendJSON("/api/v1/jurisdiction/rules", { rules: collect(), reason });
    showInfo(`规则已保存为第 ${saved.version} 版并生效`);
    await load();
  }

  async function load() {
    const [current, versions] = await Promise.all([getJSON("/api/v1/jurisdiction/rules"), getJSON("/api/v1/jurisdiction/rules/versions")]);
    state.rules = current.rules;
    state.version = current.version;
    const body = h("tbody", {}, current.rules.map(row));
    const reason = h("input", { name: "reason", placeholder: "如：根据市政府文件调整城市化管理区域的管辖", required: true, style: "flex:1;min-width:14rem" });
    const form = h("form", { class: "form-actions rules-save" },
      h("button", { type: "button", class: "add-rule", onclick: () => body.append(row({ priority: 100, name: "", department_type: types[0], zone_kinds: [], code_patterns: [] })) }, "添加规则"),
      h("button", { type: "button", class: "preview-rules", onclick: () => preview().catch(showError) }, "预览影响"),
      h("label", { class: "visually-hidden", for: "rules-reason" }, "修改原因"), reason,
      h("button", { type: "submit", class: "primary" }, "保存"));
    reason.id = "rules-reason";
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      if (!reason.value.trim()) { showError("请填写修改原因：规则的每个版本都记录修改人、时间和原因"); return; }
      save(reason.value.trim()).catch(showError);
    });
    fill(editor, h("h2", {}, "管辖规则", h("small", {}, `第 ${current.version} 版 · 优先级小的先匹配；地类编码可写前缀，如 01 表示耕地`)),
      h("div", { class: "table-wrap" }, h("table", { class: "admin-table rules-table" },
        h("thead", {}, h("tr", {}, h("th", {}, "优先级"), h("th", {}, "名称"), h("th", {}, "分区类型"), h("th", {}, "地类编码"),
          h("th", {}, "责任部门"), h("th", {}, "生效日期"), h("th", {}, "失效日期"), h("th", {}, ""))),
        body)),
      form);
    fill(history, h("h2", {}, "规则版本"), h("div", { class: "table-wrap" }, h("table", { class: "admin-table" },
      h("thead", {}, h("tr", {}, h("th", {}, "版本"), h("th", {}, "状态"), h("th", {}, "修改人"), h("th", {}, "时间"), h("th", {}, "原因"))),
      h("tbody", {}, versions.slice().reverse().map((v) => h("tr", { dataset: { version: v.version } },
        h("td", {}, "第 " + v.version + " 版"), h("td", {}, v.active ? h("span", { class: "chip info" }, "生效中") : "—"),
        h("td", {}, v.created_by), h("td", {}, beijing(v.created_at)), h("td", {}, v.reason)))))));
    edited();
    state.loads += 1;
  }

  await load();
}
