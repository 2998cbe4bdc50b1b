// 公开统计: per district and month, the new cases, the backlog at the month's end, the cases
// signed off, 清零 %, the average handling time and the reporters' average rating; and a map
// of the grids coloured by 清零. Counts only: the API answers nothing personal.

import { $, fill, h } from "../common/dom.js";
import { monthText } from "../common/time.js";
import { call, header, newMap, probe, say } from "./public.js";

// 清零 % → colour, from red (little done) to green (cleared); grey: no backlog to clear
const STEPS = [[0, "#d73027", "0—20%"], [20, "#fc8d59", "20—40%"], [40, "#fee08b", "40—60%"], [60, "#91cf60", "60—80%"], [80, "#1a9850", "80—100%"]];
const NONE = "#c7ccd1";
let map = null;
let layer = null;

const colour = (p) => (p == null ? NONE : STEPS.filter(([from]) => p >= from).pop()[1]);
const num = (v, unit = "") => (v == null ? "—" : v + unit);

function cards(city) {
  const items = [
    ["本月新增", num(city.new_cases, " 件")], ["月末在办", num(city.backlog, " 件")], ["本月销号", num(city.signed_off, " 件")],
    ["清零率", num(city.clear_percent, "%")], ["平均办理", num(city.avg_handling_days, " 天")],
    ["群众评分", city.avg_rating == null ? "—" : city.avg_rating + " 分（" + city.ratings + " 人）"],
  ];
  fill($("stats-cards"), items.map(([label, value]) => h("div", { class: "figure" }, h("span", { class: "muted" }, label), h("b", {}, value))));
}

function table(rows) {
  const head = ["区县", "新增", "月末在办", "销号", "清零率", "平均办理（天）", "群众评分"];
  fill($("stats-table"),
    h("thead", {}, h("tr", {}, head.map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows.map((r) => h("tr", { class: r.code ? "" : "total" },
      h("th", { scope: "row" }, r.name), h("td", {}, r.new_cases), h("td", {}, r.backlog), h("td", {}, r.signed_off),
      h("td", {}, num(r.clear_percent, "%")), h("td", {}, num(r.avg_handling_days)),
      h("td", {}, r.avg_rating == null ? "—" : r.avg_rating + "（" + r.ratings + "）")))));
}

async function drawMap(month) {
  const level = $("stats-level").value;
  const grids = await call("/api/v1/public/stats/grids?level=" + level + "&month=" + month);
  probe.grids = grids.features.length;
  if (layer) layer.remove();
  layer = L.geoJSON(grids, {
    style: (f) => ({ color: "#555", weight: 1, fillColor: colour(f.properties.percent), fillOpacity: 0.65 }),
    onEachFeature: (f, l) => {
      const p = f.properties;
      l.bindPopup(h("div", {}, h("b", {}, p.name), h("br"),
        p.baseline ? "清零基数 " + p.baseline + " 件，已销号 " + p.signed_off + " 件，剩余 " + p.remaining + " 件，清零率 " + p.percent + "%" : "无清零任务"));
    },
  }).addTo(map);
  if (layer.getBounds().isValid()) map.fitBounds(layer.getBounds());
}

function legend() {
  fill($("stats-legend"), STEPS.map(([, c, text]) => h("span", {}, h("i", { style: "background:" + c }), text)),
    h("span", {}, h("i", { style: "background:" + NONE }), "无清零任务"));
}

async function load(month) {
  say($("stats-say"), "info", "正在加载…");
  try {
    const s = await call("/api/v1/public/stats" + (month ? "?month=" + month : ""));
    probe.stats = s;
    const select = $("stats-month");
    if (!select.options.length) fill(select, s.months.map((m) => h("option", { value: m }, monthText(m))));
    select.value = s.month;
    fill($("stats-campaign"), s.campaign ? "清零行动：" + s.campaign.name + "（" + s.campaign.start_date + " 起），统计至 " + s.as_of : "暂无清零行动");
    cards(s.city);
    table([...s.districts, { ...s.city, code: null, name: "全市合计" }]);
    await drawMap(s.month);
    say($("stats-say"), "", "");
    probe.ready = true;
  } catch (e) {
    say($("stats-say"), "error", e.message);
  }
}

header();
map = newMap($("stats-map"), { center: [41.94, 126.42], zoom: 10 });
legend();
$("stats-month").addEventListener("change", () => load($("stats-month").value));
$("stats-level").addEventListener("change", () => drawMap($("stats-month").value));
load(null);
