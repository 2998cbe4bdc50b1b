// 查询进度 and 大家评: the holder of a receipt follows his report — its state, the steps in plain
// words, the outcome the officer wrote for the public — and rates the handling once the case is
// closed (1 to 5, with a comment, once). The code comes in the link's fragment (#code), which a
// browser never sends to a server or its logs.

import { $, fill, h } from "../common/dom.js";
import { beijing } from "../common/time.js";
import { call, header, probe, say } from "./public.js";

const SCORES = { 1: "很不满意", 2: "不满意", 3: "一般", 4: "满意", 5: "很满意" };
let code = "";

function stars(score) {
  return "★".repeat(score) + "☆".repeat(5 - score);
}

function ratingPart(seen) {
  if (seen.rating) {
    return h("section", { class: "rated", id: "follow-rated" }, h("h3", {}, "您的评价"),
      h("p", { class: "stars", "aria-label": seen.rating.score + " 分" }, stars(seen.rating.score), " ", SCORES[seen.rating.score]),
      seen.rating.comment ? h("p", {}, seen.rating.comment) : null,
      h("p", { class: "muted" }, "评价于 " + beijing(seen.rating.rated_at) + "，感谢您的监督"));
  }
  if (!seen.can_rate) return h("p", { class: "muted" }, "案件办结后，您可以在这里评价办理情况。");
  let score = 0;
  const buttons = [1, 2, 3, 4, 5].map((n) => h("button", {
    type: "button", class: "star", dataset: { score: n }, "aria-label": n + " 分 " + SCORES[n], "aria-pressed": "false",
    onclick: () => {
      score = n;
      for (const b of buttons) b.setAttribute("aria-pressed", String(Number(b.dataset.score) <= n));
      fill(label, SCORES[n]);
    },
  }, "★"));
  const label = h("span", { class: "muted" }, "请选择");
  const comment = h("textarea", { id: "rating-comment", rows: "3", maxlength: "500", placeholder: "说说您对办理情况的看法（可选）" });
  const out = h("div", { "aria-live": "polite" });
  const send = h("button", { type: "submit", class: "primary", id: "rating-send" }, "提交评价");
  return h("form", { class: "rate", id: "rating-form", onsubmit: async (e) => {
    e.preventDefault();
    if (!score) return say(out, "error", "请先点选 1 至 5 颗星");
    send.disabled = true;
    try {
      const after = await call("/api/v1/receipts/" + encodeURIComponent(code) + "/rating", { json: { score, comment: comment.value.trim() || null } });
      show(after);
    } catch (err) {
      say(out, "error", err.message);
      send.disabled = false;
    }
  } }, h("h3", {}, "评价办理情况（大家评）"), h("div", { class: "stars-row", role: "group", "aria-label": "评分" }, buttons, label),
    h("label", { for: "rating-comment", class: "hint" }, "评价内容（可选）"), comment, out, send);
}

function show(seen) {
  probe.receipt = seen;
  const closed = seen.category === "closed" || seen.closed_at;
  fill($("follow-case"), h("div", { class: "card follow" },
    h("h2", {}, "案件 ", seen.number, " ", h("span", { class: "badge " + (closed ? "done" : "open"), id: "follow-state" }, seen.state_label)),
    h("p", { class: "muted" }, "举报时间 " + beijing(seen.reported_at)),
    seen.outcome ? h("section", { class: "outcome", id: "follow-outcome" }, h("h3", {}, "办理结果"), h("p", {}, seen.outcome),
      seen.outcome_at ? h("p", { class: "muted" }, "公布于 " + beijing(seen.outcome_at)) : null) : null,
    h("h3", {}, "办理进度"),
    h("ol", { class: "timeline", id: "follow-timeline" }, seen.timeline.map((t) =>
      h("li", {}, h("time", {}, beijing(t.at)), h("span", {}, t.text)))),
    ratingPart(seen)));
}

async function lookup(event) {
  if (event) event.preventDefault();
  code = $("follow-code").value.trim();
  if (!code) return say($("follow-say"), "error", "请输入回执码");
  history.replaceState(null, "", "#" + code);
  say($("follow-say"), "info", "正在查询…");
  try {
    show(await call("/api/v1/receipts/" + encodeURIComponent(code)));
    say($("follow-say"), "", "");
  } catch (e) {
    fill($("follow-case"));
    say($("follow-say"), "error", e.message);
  }
}

header();
$("follow-form").addEventListener("submit", lookup);
const given = decodeURIComponent(location.hash.slice(1));
if (given) {
  $("follow-code").value = given;
  lookup();
}
probe.ready = true;
