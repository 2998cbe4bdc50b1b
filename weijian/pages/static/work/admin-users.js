// 系统管理 · 用户与接口密钥: the users (停用/启用 — a disabled user's login stops at once; 重置密码,
// the new password shown once), a new user whose scope is the grid clicked on a map of the
// grids, and the other systems' API keys (created with the key shown once, disabled).

import { getJSON, once, probe, sendJSON } from "/static/common/api.js";
import { fill, h } from "/static/common/dom.js";
import { showError, showInfo } from "/static/common/notice.js";
import { beijing } from "/static/common/time.js";
import { KIND_LABELS } from "/static/work/admin-layers.js";

/* global L */
const CLIENT_CHANNELS = ["hotline", "citizen", "media", "leadership"];
const LEVELS = ["district", "town", "community", "compound"];

function secret(title, value, note) {
  return h("div", { class: "pending-banner secret-box", role: "status" },
    h("span", {}, title), h("code", { class: "secret" }, value), h("span", { class: "muted" }, note));
}

export async function mountUsers(el) {
  const state = (probe.admin.users = { users: [], clients: [], secret: null, grid: null, gridFeatures: 0, loads: 0 });
  const wf = await once("/api/v1/cases/workflow");
  const roleLabel = (r) => wf.roles[r] || r;
  const usersCard = h("section", { id: "users", class: "card" });
  const addCard = h("section", { id: "user-add", class: "card" });
  const clientsCard = h("section", { id: "clients", class: "card" });
  const shown = h("div", { id: "shown-once" });
  fill(el, shown, usersCard, addCard, clientsCard);

  const reveal = (node) => { fill(shown, node); shown.scrollIntoView({ block: "nearest" }); };

  async function loadUsers() {
    state.users = await getJSON("/api/v1/users");
    fill(usersCard, h("h2", {}, "用户", h("small", {}, `${state.users.length} 人`)),
      h("div", { class: "table-wrap" }, h("table", { class: "admin-table users-table stack" },
        h("thead", {}, h("tr", {}, h("th", {}, "用户名"), h("th", {}, "姓名"), h("th", {}, "角色"), h("th", {}, "网格（权限范围）"),
          h("th", {}, "部门"), h("th", {}, "状态"), h("th", {}, "操作"))),
        h("tbody", {}, state.users.map((u) => h("tr", { dataset: { username: u.username } },
          h("td", {}, u.username), h("td", {}, u.display_name), h("td", {}, roleLabel(u.role)),
          h("td", {}, u.grid_code ? `${u.grid_code}（${KIND_LABELS[u.grid_level] || u.grid_level}）` : "全市"),
          h("td", {}, u.department_code || "—"),
          h("td", {}, !u.active ? h("span", { class: "chip danger" }, "已停用")
            : u.locked_at ? h("span", { class: "chip danger", title: "多次输错密码，" + beijing(u.locked_at) + " 起锁定" }, "已锁定")
              : h("span", { class: "chip info" }, "正常")),
          h("td", {}, h("div", { class: "inline-actions" },
            u.locked_at ? h("button", { type: "button", class: "unlock-user", onclick: () => unlockUser(u).catch(showError) }, "解锁") : null,
            h("button", { type: "button", class: "toggle-user", onclick: () => toggleUser(u).catch(showError) }, u.active ? "停用" : "启用"),
            h("button", { type: "button", class: "reset-password", onclick: () => resetPassword(u).catch(showError) }, "重置密码")))))))));
  }

  async function unlockUser(u) {
    await sendJSON("/api/v1/users/" + encodeURIComponent(u.username) + "/unlock", {});
    showInfo(`已解锁 ${u.username}：可以重新登录`);
    await loadUsers();
  }

  async function toggleUser(u) {
    if (u.active && !window.confirm(`确定停用用户“${u.display_name}（${u.username}）”吗？其登录将立即失效。`)) return;
    await sendJSON("/api/v1/users/" + encodeURIComponent(u.username), { active: !u.active }, "PATCH");
    showInfo(u.active ? `已停用 ${u.username}` : `已启用 ${u.username}`);
    await loadUsers();
  }

  async function resetPassword(u) {
    if (!window.confirm(`确定为“${u.display_name}（${u.username}）”重置密码吗？原密码和已登录的会话将立即失效。`)) return;
    const answer = await sendJSON("/api/v1/users/" + encodeURIComponent(u.username) + "/password-reset", {});
    state.secret = answer.password;
    reveal(secret(`${u.username} 的新密码：`, answer.password, "只显示这一次，请当面或通过安全渠道交给本人。"));
  }

  function addForm() {
    const input = (name, label, attrs = {}) => h("label", {}, label, h("input", { name, autocomplete: "off", ...attrs }));
    const role = h("select", { name: "role" }, Object.entries(wf.roles).map(([k, v]) => h("option", { value: k }, v)));
    const deptType = h("select", { name: "department_type" }, (wf.department_roles || []).filter((r) => r !== "department_leader")
      .map((r) => h("option", { value: r }, roleLabel(r))));
    const deptLabel = h("label", { hidden: true }, "所在部门类型", deptType);
    const grid = h("input", { name: "grid_code", placeholder: "在下方地图上点选网格", autocomplete: "off" });
    const gridName = h("span", { class: "grid-picked muted" }, "未选择：管理员和督导人员可不选（全市）");
    const level = h("select", { name: "level", "aria-label": "地图显示的网格层级" }, LEVELS.map((l) => h("option", { value: l }, KIND_LABELS[l])));
    const mapEl = h("div", { id: "grid-map", class: "admin-map", role: "application", "aria-label": "点选网格的地图" });
    const form = h("form", { id: "user-form", autocomplete: "off" },
      h("div", { class: "form-grid" },
        input("username", "用户名", { required: true, pattern: "[A-Za-z0-9_.@\\-]{2,64}", placeholder: "字母、数字，如 zhang_san" }),
        input("display_name", "姓名", { placeholder: "如 张三" }),
        h("label", {}, "角色", role), deptLabel,
        input("phone", "电话（可不填）", { inputmode: "tel" }),
        input("password", "初始密码", { required: true, minlength: 8, placeholder: "至少 8 个字符" }),
        h("label", {}, "网格代码", grid)),
      h("p", { class: "hint" }, "权限范围：", gridName, "。部门人员请选区县网格。"),
      h("div", { class: "form-actions" }, h("span", {}, "地图显示："), level),
      mapEl,
      h("div", { class: "form-actions" }, h("button", { type: "submit", class: "primary" }, "添加用户")));
    role.addEventListener("change", () => {
      deptLabel.hidden = role.value !== "department_leader";
      if ((wf.department_roles || []).includes(role.value)) { level.value = "district"; drawGrids().catch(showError); }
    });
    let map = null;
    let drawn = null;
    const pick = (code, name, lvl) => {
      grid.value = code;
      state.grid = code;
      fill(gridName, h("b", {}, `${name}（${code}，${KIND_LABELS[lvl]}）`));
      if (drawn) drawn.eachLayer((l) => l.setStyle(l.feature.properties.code === code ? { color: "#c62828", weight: 3, fillOpacity: 0.3 } : { color: "#1f5fbf", weight: 1.2, fillOpacity: 0.08 }));
    };
    async function drawGrids() {
      if (!window.L) return;
      const layers = await getJSON("/api/v1/layers");
      const layer = layers.find((l) => l.name === "grid_" + level.value);
      if (!map) {
        map = L.map(mapEl, { maxZoom: 19, scrollWheelZoom: false, attributionControl: false });
        L.control.scale({ imperial: false, position: "bottomleft" }).addTo(map);
      }
      if (drawn) drawn.remove();
      if (!layer || !layer.active_version) { map.setView([41.94, 126.42], 9); state.gridFeatures = 0; return; }
      const data = await getJSON(`/api/v1/layers/${layer.name}/versions/${layer.active_version}/features?limit=5000`);
      drawn = L.geoJSON(data, {
        style: { color: "#1f5fbf", weight: 1.2, fillOpacity: 0.08 },
        onEachFeature: (f, l) => {
          l.bindTooltip(`${f.properties.name}（${f.properties.code}）`);
          l.on("click", () => pick(f.properties.code, f.properties.name, level.value));
        },
      }).addTo(map);
      map.invalidateSize();
      if (drawn.getBounds().isValid()) map.fitBounds(drawn.getBounds(), { padding: [10, 10] });
      state.gridFeatures = data.features.length;
    }
    level.addEventListener("change", () => drawGrids().catch(showError));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const v = (n) => form.querySelector(`[name=${n}]`).value.trim();
      const body = { username: v("username"), password: form.querySelector("[name=password]").value, role: role.value,
        display_name: v("display_name") || null, grid_code: v("grid_code") || null, phone: v("phone") || null,
        department_type: role.value === "department_leader" ? deptType.value : null };
      try {
        await sendJSON("/api/v1/users", body);
        showInfo(`已添加用户 ${body.username}`);
        form.reset();
        state.grid = null;
        fill(gridName, "未选择");
        await Promise.all([loadUsers(), drawGrids()]);
      } catch (error) { showError(error, { title: "未能添加用户：" }); }
    });
    fill(addCard, h("h2", {}, "添加用户"), form);
    return drawGrids;
  }

  async function loadClients() {
    state.clients = await getJSON("/api/v1/api-clients");
    const name = h("input", { name: "client_name", required: true, placeholder: "如 12345 政务服务热线平台", autocomplete: "off" });
    const channel = h("select", { name: "channel" }, CLIENT_CHANNELS.map((c) => h("option", { value: c }, wf.channels[c] || c)));
    const form = h("form", { id: "client-form", class: "form-actions" },
      h("label", {}, "系统名称 ", name), h("label", {}, "来源渠道 ", channel), h("button", { type: "submit", class: "primary" }, "创建接口密钥"));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        const answer = await sendJSON("/api/v1/api-clients", { name: name.value.trim(), channel: channel.value });
        state.secret = answer.api_key;
        await loadClients();
        reveal(secret(`“${answer.name}”的接口密钥：`, answer.api_key, "只显示这一次，请妥善交给对方系统；遗失后只能停用并重新创建。"));
      } catch (error) { showError(error, { title: "未能创建接口密钥：" }); }
    });
    fill(clientsCard, h("h2", {}, "接口密钥", h("small", {}, "其他系统（如 12345 热线）经 Open311 接口提交诉求所用")),
      state.clients.length ? h("div", { class: "table-wrap" }, h("table", { class: "admin-table clients-table stack" },
        h("thead", {}, h("tr", {}, h("th", {}, "系统名称"), h("th", {}, "渠道"), h("th", {}, "创建时间"), h("th", {}, "状态"), h("th", {}, "操作"))),
        h("tbody", {}, state.clients.map((c) => h("tr", { dataset: { client: c.id } },
          h("td", {}, c.name), h("td", {}, wf.channels[c.channel] || c.channel), h("td", {}, beijing(c.created_at)),
          h("td", {}, c.active ? h("span", { class: "chip info" }, "可用") : h("span", { class: "chip danger" }, "已停用")),
          h("td", {}, h("button", { type: "button", class: "toggle-client", onclick: () => toggleClient(c).catch(showError) }, c.active ? "停用" : "启用"))))))) : h("p", { class: "muted" }, "尚未创建接口密钥"),
      form);
  }

  async function toggleClient(c) {
    if (c.active && !window.confirm(`确定停用“${c.name}”的接口密钥吗？该系统将立即无法提交诉求。`)) return;
    await sendJSON("/api/v1/api-clients/" + c.id, { active: !c.active }, "PATCH");
    await loadClients();
  }

  const drawGrids = addForm();
  await Promise.all([loadUsers(), loadClients()]);
  await drawGrids();
  state.loads += 1;
}
