// The field app's shell (移动端): the login, the tab bar at the bottom, the banner of what waits
// to be sent, the queue view, the service worker — and the `app` object every tab module is
// given (see mount() below and the README's account of the field app).
//
// The token is kept in localStorage, so that the app opened again offline still knows its
// user; the user (GET /api/v1/auth/me) is cached in IndexedDB for the same reason.

import { ApiError, setToken } from "../common/api.js";
import { $, fill, h } from "../common/dom.js";
import { showError, showInfo } from "../common/notice.js";
import { beijingShort } from "../common/time.js";
import * as store from "../common/queue.js";

const TOKEN = "weijian.field.token";
const TABS = [
  { name: "report", label: "上报", icon: "＋" },
  { name: "grid", label: "我的网格", icon: "▦" },
  { name: "patrol", label: "巡查", icon: "◎" },
  { name: "gate", label: "门岗", icon: "▣", roles: ["property_company", "grid_worker"] },
];
const FLUSH_EVERY_S = 30;

const probe = (window.weijianField = {
  ready: false, tabs: [], shown: null, queue: { waiting: 0, failed: 0, done: 0, pending: 0 },
  sent: 0, worker: null, errors: [],
});

const token = () => localStorage.getItem(TOKEN);
let online = navigator.onLine;
let flushing = null;
let flushTimer = null;
const mounted = new Map(); // tab name → {module, root}

// -- the app object ---------------------------------------------------------------------------

async function apiCall(path, options = {}) {
  const { json, ...rest } = options;
  const init = { ...rest, headers: { ...(rest.headers || {}) } };
  if (token()) init.headers.Authorization = "Bearer " + token();
  if (json !== undefined) {
    init.method = init.method || "POST";
    init.body = JSON.stringify(json);
    init.headers["content-type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    setOnline(false);
    throw new ApiError(0, null);
  }
  if (response.headers.get("x-weijian-offline") !== "1") setOnline(true);
  if (response.ok) return response;
  let body = null;
  try { body = await response.json(); } catch (e) { /* not JSON */ }
  if (response.status === 401) needLogin("登录已过期，请重新登录");
  throw new ApiError(response.status, body);
}

export const app = {
  me: null,
  online: () => online,
  api: apiCall,
  getJSON: async (path) => (await apiCall(path)).json(),
  async enqueue(spec) {
    const id = await store.enqueue(spec);
    await refreshQueue();
    kick();
    return id;
  },
  queued: store.item,
  cache: store.cache,
  cached: store.cached,
  position,
  map,
  toast: (text) => showInfo(text),
  error: (e) => showError(e),
  flush: () => kick(true),
  token,
  tab: (name) => show(name),
};
window.weijianApp = app;

// the phone's GPS in WGS84: {lon, lat, accuracy, at}. With `watch` (a function) every fix is
// handed to it and {stop()} is returned; else one fix is resolved (one up to `maximumAge` ms
// old will do; 0 asks for a new one).
function position({ watch, timeout = 20000, maximumAge = 5000 } = {}) {
  const fix = (p) => ({
    lon: p.coords.longitude, lat: p.coords.latitude, accuracy: p.coords.accuracy,
    at: new Date(p.timestamp || Date.now()).toISOString(), crs: "wgs84",
  });
  if (!("geolocation" in navigator)) {
    const error = new Error("此设备不支持定位");
    if (watch) throw error;
    return Promise.reject(error);
  }
  const options = { enableHighAccuracy: true, timeout, maximumAge };
  if (typeof watch === "function") {
    const id = navigator.geolocation.watchPosition((p) => watch(fix(p)), () => {}, options);
    return { stop: () => navigator.geolocation.clearWatch(id) };
  }
  return new Promise((resolve, reject) => {
    navigator.geolocation.getCurrentPosition((p) => resolve(fix(p)), (e) => reject(new Error(
      e.code === 1 ? "未获得定位权限，请在浏览器设置中允许本站使用位置信息" : "暂时无法定位，请到开阔处重试或在地图上点选位置",
    )), options);
  });
}

// a Leaflet map the product's way: no CDN, the configured basemap under it when there is one
// (the map's config, cached for offline), a scale bar; `L` global (leaflet.js in the page)
function map(el, options = {}) {
  if (!window.L) return null;
  const m = L.map(el, { zoomControl: true, attributionControl: true, maxZoom: 20, tap: false, ...options });
  m.attributionControl.setPrefix("Leaflet");
  L.control.scale({ imperial: false, position: "bottomleft" }).addTo(m);
  m.setView([options.lat || 41.94, options.lon || 126.42], options.zoom || 15);
  basemap().then((b) => {
    if (!b || !b.layers || b.crs === "gcj02") return; // a GCJ-02 basemap needs the big map's shift
    b.layers.forEach((l, i) => L.tileLayer(l.url, {
      maxZoom: 20, maxNativeZoom: l.max_zoom || 18, attribution: l.attribution || "", zIndex: i + 1,
      ...(l.subdomains ? { subdomains: l.subdomains } : {}),
    }).addTo(m));
  }).catch(() => {});
  // a map in a tab shown later learns its size then
  setTimeout(() => m.invalidateSize(), 0);
  return m;
}

let basemapAnswer = null;
function basemap() {
  if (!basemapAnswer) {
    basemapAnswer = apiCall("/api/v1/map/config").then((r) => r.json()).then((c) => c.basemap)
      .catch(() => { basemapAnswer = null; return null; });
  }
  return basemapAnswer;
}

// -- online, the queue and its banner -------------------------------------------------------

function setOnline(value) {
  if (online === value) return;
  online = value;
  $("net").hidden = online;
  if (online) kick();
}

async function refreshQueue() {
  const c = await store.counts();
  probe.queue = c;
  const banner = $("queue-banner");
  banner.hidden = c.pending === 0;
  banner.classList.toggle("failed", c.failed > 0);
  fill(banner, "待发送 " + c.pending + " 项", c.failed ? "（" + c.failed + " 项失败，点此查看）" : online ? "" : "（离线，联网后自动发送）");
  if (!$("queue-view").hidden) renderQueue();
  return c;
}

// send what waits: one pass at a time, another at once when more was queued meanwhile, and
// again after the wait the queue asks for (or every FLUSH_EVERY_S seconds)
let again = false;
function kick(now) {
  if (!token()) return Promise.resolve();
  if (flushing) {
    again = true;
    return now ? flushing : Promise.resolve();
  }
  clearTimeout(flushTimer);
  flushing = (async () => {
    let waitMs = null;
    try {
      do {
        again = false;
        const result = await store.flush({ token, onChange: () => refreshQueue() });
        probe.sent += result.sent;
        waitMs = result.waitMs;
        if (result.offline) setOnline(false);
        else if (result.sent) setOnline(true);
        if (result.failed) showError("有 " + result.failed + " 项发送失败，请在“待发送”中查看原因");
        for (const listener of sentListeners) listener(result);
        if (result.unauthorised) {
          needLogin("登录已过期，请重新登录后继续发送");
          break;
        }
        if (result.offline) break;
      } while (again);
    } catch (e) {
      probe.errors.push(String(e));
    } finally {
      flushTimer = setTimeout(kick, waitMs != null ? waitMs + 50 : FLUSH_EVERY_S * 1000);
      flushing = null;
      await refreshQueue();
    }
  })();
  return now ? flushing : Promise.resolve();
}

const sentListeners = [];
app.onSent = (listener) => sentListeners.push(listener);

const STATE_TEXT = { waiting: "等待发送", failed: "发送失败", done: "已发送" };

async function renderQueue() {
  const view = $("queue-view");
  const all = (await store.items()).sort((a, b) => b.id - a.id);
  const rows = all.map((it) => h("li", { class: "queue-item " + it.state, dataset: { id: it.id } },
    h("div", { class: "queue-label" }, it.label),
    h("div", { class: "queue-meta muted" }, "记录于 " + beijingShort(it.made_at), " · ", STATE_TEXT[it.state] || it.state,
      it.state === "done" && it.ref ? "（" + it.ref + "）" : ""),
    it.error && it.state !== "done" ? h("div", { class: "queue-error" }, it.error) : null,
    it.state === "failed" ? h("div", { class: "queue-actions" },
      h("button", { type: "button", class: "primary", onclick: async () => { await store.retry(it.id); await refreshQueue(); kick(); } }, "重试"),
      h("button", { type: "button", class: "danger", onclick: async () => {
        if (!confirm("删除后这项记录将不再发送，确定删除吗？")) return;
        await store.remove(it.id);
        await refreshQueue();
      } }, "删除")) : null));
  fill(view,
    h("div", { class: "sheet-head" }, h("h2", {}, "待发送"),
      h("button", { type: "button", class: "sheet-close", onclick: () => { view.hidden = true; } }, "关闭")),
    h("p", { class: "muted" }, online ? "联网时按记录顺序自动发送，每项只发送一次。" : "当前离线：联网后按记录顺序自动发送，每项只发送一次。"),
    rows.length ? h("ul", { class: "queue-list" }, rows) : h("p", { class: "muted" }, "没有待发送的记录"),
    h("button", { type: "button", class: "primary big", onclick: () => kick(true) }, "立即发送"));
}

// -- the login and the account ----------------------------------------------------------------

function needLogin(message) {
  setToken(null);
  localStorage.removeItem(TOKEN);
  showLogin(message);
}

function showLogin(message) {
  const error = h("p", { class: "login-error", role: "alert" }, message || "");
  const username = h("input", { name: "username", autocomplete: "username", required: true, autocapitalize: "off" });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const button = h("button", { type: "submit", class: "primary big" }, "登录");
  const form = h("form", { class: "login-form" },
    h("h2", {}, "违建巡查"), h("p", {}, "违法建设长效管控平台 · 移动端"),
    h("label", {}, "用户名", username), h("label", {}, "密码", password), button, error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    button.disabled = true;
    try {
      const response = await fetch("/api/v1/auth/login", {
        method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ username: username.value.trim(), password: password.value }),
      });
      const body = await response.json().catch(() => null);
      if (!response.ok) throw new ApiError(response.status, body);
      const before = await store.cached("me");
      localStorage.setItem(TOKEN, body.access_token);
      setToken(body.access_token);
      const me = await (await apiCall("/api/v1/auth/me")).json();
      if (before && before.username !== me.username) await forget();
      await store.cache("me", me);
      overlay.remove();
      start(me);
    } catch (e) {
      error.textContent = e.status === 401 ? "用户名或密码错误" : e.message;
    } finally {
      button.disabled = false;
    }
  });
  document.getElementById("login")?.remove();
  const overlay = h("div", { id: "login" }, form);
  document.body.append(overlay);
  username.focus();
}

// what this phone keeps of a user: the queue, the cache, the service worker's answers
async function forget() {
  await store.clearAll();
  if (window.caches) for (const name of await caches.keys()) if (name.startsWith("weijian-m-api")) await caches.delete(name);
}

async function logout() {
  const c = await store.counts();
  if (c.pending && !confirm("还有 " + c.pending + " 项记录未发送，退出登录将删除这些记录且无法恢复。确定退出吗？")) return;
  try { if (online) await apiCall("/api/v1/auth/logout", { method: "POST" }); } catch (e) { /* offline or expired */ }
  localStorage.removeItem(TOKEN);
  setToken(null);
  await forget();
  location.reload();
}

function account() {
  const view = $("account");
  const me = app.me;
  fill(view,
    h("div", { class: "sheet-head" }, h("h2", {}, "账号"),
      h("button", { type: "button", class: "sheet-close", onclick: () => { view.hidden = true; } }, "关闭")),
    h("p", {}, h("strong", {}, me.display_name || me.username), " ", h("span", { class: "badge" }, me.role_label || me.role)),
    me.grid_code ? h("p", { class: "muted" }, "网格：" + me.grid_code) : null,
    h("p", { class: "muted" }, "添加到主屏幕：在浏览器菜单中选择“添加到主屏幕”或“安装应用”，之后可像普通应用一样打开，离线也能使用。"),
    h("a", { class: "button", href: "/work" }, "打开工作台（电脑版）"),
    h("button", { type: "button", class: "danger big", onclick: logout }, "退出登录"));
  view.hidden = false;
}

// -- tabs ---------------------------------------------------------------------------------------

async function loadTabs(me) {
  const found = [];
  for (const tab of TABS) {
    if (tab.roles && !tab.roles.includes(me.role)) continue;
    try {
      tab.module = await import("./" + tab.name + ".js");
      found.push(tab);
    } catch (e) {
      // a tab not in this build (its file 404s) is not listed
    }
  }
  return found;
}

async function show(name) {
  const tab = probe.tabs.find((t) => t.name === name);
  if (!tab) return;
  for (const [other, m] of mounted) m.root.hidden = other !== name;
  for (const b of $("tabbar").children) b.setAttribute("aria-current", b.dataset.tab === name ? "page" : "false");
  probe.shown = name;
  history.replaceState(null, "", "#" + name);
  let m = mounted.get(name);
  if (!m) {
    const root = h("section", { class: "tab", dataset: { tab: name } });
    $("tabs").append(root);
    m = { module: tab.module, root };
    mounted.set(name, m);
    try {
      await tab.module.mount(root, app);
    } catch (e) {
      probe.errors.push(String(e && e.stack || e));
      showError(e);
    }
  } else if (typeof m.module.shown === "function") {
    m.module.shown(app);
  }
}

async function start(me) {
  app.me = me;
  const wf = await store.cached("workflow");
  if (wf && wf.roles) me.role_label = wf.roles[me.role];
  const meButton = $("me");
  meButton.textContent = me.display_name || me.username;
  meButton.hidden = false;
  meButton.onclick = account;
  const tabs = await loadTabs(me);
  probe.tabs = tabs;
  fill($("tabs"));
  fill($("tabbar"), tabs.map((t) => h("button", { type: "button", class: "tabbutton", dataset: { tab: t.name }, onclick: () => show(t.name) },
    h("span", { class: "tab-icon", "aria-hidden": "true" }, t.icon), h("span", { class: "tab-label" }, t.label))));
  const wanted = location.hash.slice(1);
  await show(tabs.some((t) => t.name === wanted) ? wanted : tabs[0].name);
  await refreshQueue();
  kick();
  probe.ready = true;
  if (online) {
    // the user and the workflow again, for the next start offline
    apiCall("/api/v1/auth/me").then((r) => r.json()).then((fresh) => store.cache("me", { ...fresh })).catch(() => {});
  }
}

async function boot() {
  $("net").hidden = online;
  window.addEventListener("online", () => setOnline(true));
  window.addEventListener("offline", () => setOnline(false));
  // the shared API client (thumbnails) met a 401
  window.addEventListener("weijian:login-needed", () => needLogin("登录已过期，请重新登录"));
  $("queue-banner").addEventListener("click", () => { $("queue-view").hidden = false; renderQueue(); });
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/m/sw.js", { scope: "/m" })
      .then((r) => { probe.worker = "registered"; return r; })
      .catch((e) => { probe.worker = "failed: " + e.message; });
    navigator.serviceWorker.ready.then(() => { probe.worker = "ready"; });
  }
  const t = token();
  if (!t) {
    showLogin();
    return;
  }
  setToken(t); // the shared API client (thumbnails, uploads) reads it from sessionStorage
  let me = await store.cached("me");
  if (!me) {
    try {
      me = await (await apiCall("/api/v1/auth/me")).json();
      await store.cache("me", me);
    } catch (e) {
      if (e.status !== 401) showLogin(e.message);
      return;
    }
  }
  await start(me);
}

boot().catch((e) => { probe.errors.push(String(e && e.stack || e)); showError(e); });
