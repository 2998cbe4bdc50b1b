// Messages to the user: a banner for errors (the API's Chinese `message`), which stays until
// closed, and a short toast for what went well.

import { probe } from "./api.js";
import { h } from "./dom.js";

// banners at the top, toasts at the bottom
function area(id = "notices") {
  let el = document.getElementById(id);
  if (!el) {
    el = h("div", { id, "aria-live": "polite" });
    document.body.append(el);
  }
  return el;
}

// an error (an ApiError, an Error or words) as a banner with a close button
export function showError(error, options = {}) {
  const text = typeof error === "string" ? error : (error && error.message) || "操作未能完成";
  probe.errors.push(text);
  return banner(text, "error", options);
}

export function showWarning(text, options = {}) {
  return banner(text, "warning", options);
}

function banner(text, kind, { title } = {}) {
  const el = h("div", { class: "notice " + kind, role: "alert" },
    h("div", { class: "notice-text" }, title ? h("strong", {}, title) : null, text),
    h("button", { type: "button", class: "notice-close", "aria-label": "关闭", onclick: () => el.remove() }, "×"));
  area().append(el);
  return el;
}

// a toast replaces the one before: the latest news is the one that counts
export function showInfo(text, ms = 4000) {
  const el = h("div", { class: "notice info", role: "status" }, h("div", { class: "notice-text" }, text));
  area("toasts").replaceChildren(el);
  setTimeout(() => el.remove(), ms);
  return el;
}

export function clearNotices() {
  area().replaceChildren();
}
