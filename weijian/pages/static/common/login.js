// The login form every page shows when it has no token (or the token has expired). A page
// calls `whenLoggedIn(start)`: `start` runs now when a token is there, else after the login —
// and again after any later login (a token that expired while the page was open), so that
// the page reloads what it shows.

import { ApiError, getToken, setToken } from "./api.js";
import { h } from "./dom.js";

let overlay = null;
const starters = [];

function form() {
  if (overlay) return overlay;
  const error = h("p", { class: "login-error", role: "alert" });
  const username = h("input", { name: "username", autocomplete: "username", required: true, autocapitalize: "off" });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const button = h("button", { type: "submit", class: "primary" }, "登录");
  const el = h("form", { class: "login-form" },
    h("h2", {}, "违法建设长效管控平台"),
    h("p", {}, "请登录后使用工作台"),
    h("label", {}, "用户名", username),
    h("label", {}, "密码", password),
    button, error,
    h("p", { class: "login-field" }, "网格员、物业公司请使用移动端：", h("a", { href: "/m" }, "前往移动端 /m")));
  el.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    button.disabled = true;
    try {
      const response = await fetch("/api/v1/auth/login", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ username: username.value.trim(), password: password.value }),
      });
      const body = await response.json().catch(() => null);
      if (!response.ok) throw new ApiError(response.status, body);
      setToken(body.access_token);
      password.value = "";
      overlay.hidden = true;
      for (const start of starters) start();
    } catch (e) {
      error.textContent = e.status === 401 ? "用户名或密码错误" : e.message;
    } finally {
      button.disabled = false;
    }
  });
  overlay = h("div", { id: "login", hidden: true }, el);
  document.body.append(overlay);
  return overlay;
}

export function showLogin(message) {
  const el = form();
  el.hidden = false;
  el.querySelector(".login-error").textContent = message || "";
  el.querySelector("input[name=username]").focus();
}

export function whenLoggedIn(start) {
  starters.push(start);
  if (getToken()) start();
  else showLogin();
}

window.addEventListener("weijian:login-needed", () => showLogin("登录已过期，请重新登录"));
