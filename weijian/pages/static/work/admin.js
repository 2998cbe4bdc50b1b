// 系统管理 (/work/admin), for administrators: three tabs — 图层 (import with a preview before
// 启用, versions, the diff of two versions, rollback: admin-layers.js), 规则 (the rule set
// edited with its effect on the open cases previewed: admin-rules.js) and 用户与接口密钥
// (admin-users.js). Another role gets a plain refusal; the API refuses it too (403).

import { probe } from "/static/common/api.js";
import { $, fill } from "/static/common/dom.js";
import { mountHeader } from "/static/common/header.js";
import { whenLoggedIn } from "/static/common/login.js";
import { showError } from "/static/common/notice.js";
import { mountLayers } from "/static/work/admin-layers.js";
import { mountRules } from "/static/work/admin-rules.js";
import { mountUsers } from "/static/work/admin-users.js";

const MOUNTS = { layers: mountLayers, rules: mountRules, users: mountUsers };
const mounted = {};
probe.admin = { tab: null };

async function show(tab) {
  if (!MOUNTS[tab]) tab = "layers";
  probe.admin.tab = tab;
  for (const button of document.querySelectorAll("#tabs [role=tab]")) {
    const on = button.dataset.tab === tab;
    button.setAttribute("aria-selected", on ? "true" : "false");
    $("tab-" + button.dataset.tab).hidden = !on;
  }
  const url = new URL(location.href);
  url.searchParams.set("tab", tab);
  history.replaceState(null, "", url);
  if (!mounted[tab]) {
    mounted[tab] = MOUNTS[tab]($("tab-" + tab));
    try { await mounted[tab]; } catch (e) { mounted[tab] = null; throw e; }
  }
}

whenLoggedIn(async () => {
  try {
    const me = await mountHeader($("bar"), { here: "admin" });
    if (me.role !== "admin") {
      fill($("refused"), "系统管理仅限系统管理员使用。您当前的身份无此权限，如需导入图层、修改规则或管理用户，请联系系统管理员。");
      $("refused").hidden = false;
      probe.ready = true;
      return;
    }
    $("tabs").hidden = false;
    for (const button of document.querySelectorAll("#tabs [role=tab]")) {
      button.addEventListener("click", () => show(button.dataset.tab).catch(showError));
    }
    await show(new URL(location.href).searchParams.get("tab") || "layers");
    probe.ready = true;
  } catch (e) {
    if (e.status !== 401) showError(e);
  }
});
