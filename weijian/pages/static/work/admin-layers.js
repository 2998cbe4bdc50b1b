// 系统管理 · 图层: the layers and their versions; a file uploaded as a new version that waits
// (activate=false) while its report and its features on a map are looked at, then 启用 — the
// import worked in the background (POST /api/v1/jobs/uploads, kind layer_import) with the
// parcels done of all, its report read from the job's file, followed again after a reload; the
// diff of two versions (counts, area per kind, the changed features drawn); rollback, which
// is 启用 of an older version after a confirmation.

import { getJSON, probe, sendJSON, upload } from "/static/common/api.js";
import { fill, h } from "/static/common/dom.js";
import { jobPanel } from "/static/common/jobs.js";
import { showError, showInfo } from "/static/common/notice.js";
import { beijing } from "/static/common/time.js";
import { filePicker } from "/static/common/upload.js";

/* global L */
export const KIND_LABELS = {
  urban_managed: "城市化管理区域", town_planned: "镇规划建设用地", rural_construction: "村庄建设用地",
  homestead: "农村宅基地", agricultural: "其他农用地", farmland: "耕地", forest: "林地",
  construction: "建设用地", unused: "未利用地",
  district: "区县网格", town: "镇办网格", community: "社区网格", compound: "小区网格",
};
const FAMILY = { zones: "分区", grids: "网格" };
const ENCODING_SOURCE = {
  option: "导入时指定", cpg: ".cpg 文件声明", ldid: "DBF 语言标识字节", detected: "按内容检测",
  format: "格式规定（UTF-8）",
};
const CRS_ORIGIN = { option: "导入时指定", prj: ".prj 文件", file: "文件自带", assumed: "由坐标范围推断" };
const STATUS = { added: "新增", removed: "删除", changed: "变化" };
const STATUS_COLOUR = { added: "#2e7d32", removed: "#c62828", changed: "#b26a00", before: "#7d8ea1" };

const kindLabel = (k) => KIND_LABELS[k] || k || "—";
const hectares = (m2) => (m2 / 10000).toLocaleString("zh-CN", { maximumFractionDigits: 2 }) + " 公顷";
const signedHa = (m2) => (m2 > 0 ? "+" : "") + hectares(m2);

class LayerMap {
  constructor(el) {
    this.el = el;
    this.map = null;
    this.group = null;
  }

  draw(layers) {
    if (!window.L) return;
    if (!this.map) {
      this.map = L.map(this.el, { maxZoom: 19, scrollWheelZoom: false, attributionControl: false });
      L.control.scale({ imperial: false, position: "bottomleft" }).addTo(this.map);
      this.group = L.featureGroup().addTo(this.map);
    }
    this.group.clearLayers();
    for (const { data, style, tooltip } of layers) {
      L.geoJSON(data, { style, onEachFeature: (f, l) => tooltip && l.bindTooltip(tooltip(f)) }).addTo(this.group);
    }
    const bounds = this.group.getBounds();
    this.map.invalidateSize();
    if (bounds.isValid()) this.map.fitBounds(bounds, { padding: [16, 16] });
    else this.map.setView([41.94, 126.42], 10);
  }
}

export async function mountLayers(el) {
  const state = (probe.admin.layers = {
    layers: [], layer: null, versions: [], report: null, preview: 0, diff: null, loads: 0,
  });
  const list = h("section", { id: "layer-list", class: "card" }, h("h2", {}, "图层"));
  const form = importForm();
  const reportCard = h("section", { id: "import-report", class: "card", hidden: true });
  const versionsCard = h("section", { id: "versions", class: "card", hidden: true });
  const diffCard = h("section", { id: "diff", class: "card", hidden: true });
  fill(el, h("div", { class: "admin-grid" }, list, form.card), reportCard, versionsCard, diffCard);

  async function loadLayers() {
    state.layers = await getJSON("/api/v1/layers");
    const options = state.layers.filter((l) => l.family === "zones").map((l) => h("option", { value: l.name }, l.title || l.name));
    fill(form.datalist, options);
    fill(list, h("h2", {}, "图层", h("small", {}, "点选一个图层查看其版本")),
      h("div", { class: "table-wrap" }, h("table", { class: "admin-table" },
        h("thead", {}, h("tr", {}, h("th", {}, "图层"), h("th", {}, "类别"), h("th", { class: "num" }, "生效版本"),
          h("th", { class: "num" }, "要素数"), h("th", { class: "num" }, "版本数"))),
        h("tbody", {}, state.layers.map((l) => h("tr", {
          class: l.name === state.layer ? "selected" : null, dataset: { layer: l.name },
        },
        h("td", {}, h("a", { href: "#versions", onclick: (e) => { e.preventDefault(); openLayer(l.name).catch(showError); } },
          l.title || l.name), h("div", { class: "muted" }, l.name)),
        h("td", {}, FAMILY[l.family] || l.family),
        h("td", { class: "num" }, l.active_version ? "第 " + l.active_version + " 版" : "未启用"),
        h("td", { class: "num" }, l.feature_count ?? "—"),
        h("td", { class: "num" }, l.versions)))))));
  }

  async function openLayer(name) {
    state.layer = name;
    state.versions = await getJSON("/api/v1/layers/" + encodeURIComponent(name) + "/versions");
    await loadLayers();
    renderVersions();
    renderDiffForm();
    state.loads += 1;
  }

  function renderVersions() {
    const layer = state.layers.find((l) => l.name === state.layer);
    versionsCard.hidden = false;
    fill(versionsCard, h("h2", {}, "版本", h("small", {}, (layer && (layer.title || layer.name)) || state.layer)),
      h("div", { class: "table-wrap" }, h("table", { class: "admin-table stack" },
        h("thead", {}, h("tr", {}, h("th", {}, "版本"), h("th", {}, "状态"), h("th", {}, "来源文件"),
          h("th", { class: "num" }, "要素数"), h("th", {}, "导入人"), h("th", {}, "导入时间"), h("th", {}, "操作"))),
        h("tbody", {}, state.versions.map((v) => h("tr", { dataset: { version: v.number }, class: v.active ? "selected" : null },
          h("td", {}, "第 " + v.number + " 版"),
          h("td", {}, v.active ? h("span", { class: "chip info" }, "生效中") : h("span", { class: "chip" }, v.activated_at ? "已停用" : "待启用")),
          h("td", {}, v.source),
          h("td", { class: "num", "data-label": "要素" }, v.feature_count),
          h("td", { "data-label": "导入人" }, v.created_by || "—"),
          h("td", {}, beijing(v.created_at)),
          h("td", {}, h("div", { class: "inline-actions" },
            h("button", { type: "button", class: "show-report", onclick: () => showVersion(v.number).catch(showError) }, "报告与预览"),
            v.active ? null : h("button", { type: "button", class: "activate", onclick: () => activate(v.number).catch(showError) },
              activeNumber() && v.number < activeNumber() ? "回退到此版" : "启用")))))))));
  }

  const activeNumber = () => (state.versions.find((v) => v.active) || {}).number;

  async function activate(number) {
    const current = activeNumber();
    const back = current && number < current;
    const question = back
      ? `确定将图层“${state.layer}”回退到第 ${number} 版吗？当前生效的第 ${current} 版将停用，管辖判定随即按第 ${number} 版执行。`
      : `确定启用图层“${state.layer}”的第 ${number} 版吗？` + (current ? `当前生效的第 ${current} 版将停用，` : "") + "管辖判定随即按新版本执行。";
    if (!window.confirm(question)) return;
    await sendJSON("/api/v1/layers/" + encodeURIComponent(state.layer) + "/activate", { version: number });
    showInfo(back ? `已回退到第 ${number} 版` : `第 ${number} 版已启用`);
    await openLayer(state.layer);
    if (state.report && state.report.version === number) renderReport(state.report, true);
  }

  async function showVersion(number) {
    const v = await getJSON(`/api/v1/layers/${encodeURIComponent(state.layer)}/versions/${number}`);
    renderReport({ ...v.report, version: number, family: v.family }, v.active);
  }

  const previewMap = { map: null };
  function renderReport(report, active) {
    state.report = report;
    reportCard.hidden = false;
    const mapEl = h("div", { id: "preview-map", class: "admin-map", role: "img", "aria-label": "新版本要素预览地图" });
    const g = report.geometry || {};
    const dropped = g.dropped || {};
    const kinds = report.kinds || (report.level ? { [report.level]: report.features.imported } : {});
    fill(reportCard,
      h("h2", {}, "导入报告", h("small", {}, `${report.layer} · 第 ${report.version} 版`)),
      active ? h("p", { class: "chip info" }, "此版本正在生效")
        : h("div", { class: "pending-banner" },
          h("span", {}, `第 ${report.version} 版已导入，尚未启用：管辖判定仍按当前生效版本执行。请核对报告和地图后启用。`),
          h("button", { type: "button", class: "primary activate-new", onclick: () => activate(report.version).catch(showError) },
            `启用第 ${report.version} 版`)),
      h("dl", { class: "facts-list" },
        h("dt", {}, "来源文件"), h("dd", {}, report.source + "（" + report.format + "）"),
        h("dt", {}, "字符编码"), h("dd", { class: "encoding" }, (report.encoding.encoding || "").toUpperCase(), "，依据：",
          ENCODING_SOURCE[report.encoding.source] || report.encoding.source, h("span", { class: "muted" }, "（" + report.encoding.detail + "）")),
        h("dt", {}, "坐标系"), h("dd", { class: "crs" }, report.source_crs.crs, "，依据：", CRS_ORIGIN[report.source_crs.origin] || report.source_crs.origin),
        h("dt", {}, "要素"), h("dd", { class: "features" }, `读取 ${report.features.read} 个，导入 ${report.features.imported} 个`),
        h("dt", {}, "几何修复"), h("dd", { class: "repairs" }, `修复 ${g.repaired ?? 0} 个；舍弃 ${(dropped.null ?? 0) + (dropped.empty ?? 0) + (dropped.collapsed_by_repair ?? 0)} 个`
          + `（无图形 ${dropped.null ?? 0}、空 ${dropped.empty ?? 0}、修复后退化 ${dropped.collapsed_by_repair ?? 0}）`
          + (g.z_dropped ? `；去除 Z/M 坐标 ${g.z_dropped} 个` : "")),
        h("dt", {}, "类型与数量"), h("dd", { class: "kinds" }, Object.entries(kinds).map(([k, n]) => h("span", { class: "chip" }, `${kindLabel(k)} ${n}`))),
        h("dt", {}, "总面积"), h("dd", {}, (report.area_km2 ?? 0).toLocaleString("zh-CN") + " 平方千米"),
      ),
      report.notes && report.notes.length ? h("ul", { class: "notes" }, report.notes.map((n) => h("li", {}, n))) : null,
      mapEl);
    previewMap.map = new LayerMap(mapEl);
    getJSON(`/api/v1/layers/${encodeURIComponent(report.layer)}/versions/${report.version}/features?limit=5000`).then((data) => {
      previewMap.map.draw([{ data, style: { color: "#1f5fbf", weight: 1.2, fillOpacity: 0.2 },
        tooltip: (f) => [kindLabel(f.properties.kind || f.properties.level), f.properties.name || f.properties.code].filter(Boolean).join(" · ") }]);
      state.preview = data.features.length;
      if (data.features.length >= 5000) mapEl.after(h("p", { class: "hint" }, "要素较多，地图只显示前 5000 个。"));
    }).catch(showError);
  }

  function renderDiffForm() {
    diffCard.hidden = state.versions.length < 2;
    if (diffCard.hidden) return;
    const numbers = state.versions.map((v) => v.number);
    const pick = (name, chosen) => h("select", { name }, numbers.map((n) => h("option", { value: n, selected: n === chosen }, "第 " + n + " 版")));
    const active = activeNumber() || numbers[0];
    const newest = numbers[numbers.length - 1];
    const from = pick("from", newest === active ? numbers[numbers.length - 2] : active);
    const to = pick("to", newest);
    const result = h("div", { id: "diff-result" });
    const form = h("form", { class: "form-actions diff-form" },
      h("label", {}, "从 ", from), h("label", {}, "到 ", to), h("button", { type: "submit", class: "primary" }, "比较"));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      compare(Number(from.value), Number(to.value), result).catch(showError);
    });
    fill(diffCard, h("h2", {}, "版本比较", h("small", {}, "要素的增、删、变化及各类面积变化")), form, result);
  }

  async function compare(a, b, result) {
    const diff = await getJSON(`/api/v1/layers/${encodeURIComponent(state.layer)}/diff?from=${a}&to=${b}`);
    state.diff = diff;
    const c = diff.counts;
    const mapEl = h("div", { id: "diff-map", class: "admin-map", role: "img", "aria-label": "版本差异地图" });
    fill(result,
      h("div", { class: "counts" },
        h("span", { class: "count added" }, "新增", h("b", {}, c.added)),
        h("span", { class: "count removed" }, "删除", h("b", {}, c.removed)),
        h("span", { class: "count changed" }, "变化", h("b", {}, c.changed)),
        h("span", { class: "count" }, "未变", h("b", {}, c.unchanged))),
      h("p", { class: "muted" }, `第 ${a} 版 ${c.from_features} 个要素 → 第 ${b} 版 ${c.to_features} 个要素`),
      h("div", { class: "table-wrap" }, h("table", { class: "admin-table diff-kinds" },
        h("thead", {}, h("tr", {}, h("th", {}, "类型"), h("th", { class: "num" }, `第 ${a} 版`), h("th", { class: "num" }, `第 ${b} 版`),
          h("th", { class: "num" }, "增加面积"), h("th", { class: "num" }, "减少面积"), h("th", { class: "num" }, "净变化"))),
        h("tbody", {}, diff.kinds.map((k) => h("tr", { dataset: { kind: k.kind } },
          h("td", {}, kindLabel(k.kind)), h("td", { class: "num" }, k.from_count), h("td", { class: "num" }, k.to_count),
          h("td", { class: "num" }, hectares(k.gained_m2)), h("td", { class: "num" }, hectares(k.lost_m2)),
          h("td", { class: "num" }, signedHa(k.net_m2))))))),
      h("p", { class: "map-legend" }, "图例：",
        ["added", "removed", "changed"].flatMap((s) => [h("span", { class: "legend-swatch", style: `background:${STATUS_COLOUR[s]}` }), STATUS[s]]),
        h("span", { class: "legend-swatch", style: `background:${STATUS_COLOUR.before};opacity:.5` }), "变化前"),
      mapEl,
      diff.features.length ? h("div", { class: "table-wrap" }, h("table", { class: "admin-table diff-features" },
        h("thead", {}, h("tr", {}, h("th", {}, "变化"), h("th", {}, "类型"), h("th", {}, "编码"), h("th", {}, "名称"))),
        h("tbody", {}, diff.features.map((f) => h("tr", { dataset: { status: f.status } },
          h("td", {}, STATUS[f.status]),
          h("td", {}, f.from && f.from.kind !== f.kind ? `${kindLabel(f.from.kind)} → ${kindLabel(f.kind)}` : kindLabel(f.kind)),
          h("td", {}, f.code || "—"),
          h("td", {}, f.from && f.from.name !== f.name ? `${f.from.name || "—"} → ${f.name || "—"}` : f.name || "—")))))) : null);
    const feature = (f, geometry) => ({ type: "Feature", geometry, properties: { status: f.status, kind: f.kind, name: f.name } });
    const before = diff.features.filter((f) => f.geometry_before).map((f) => feature(f, f.geometry_before));
    const now = diff.features.filter((f) => f.geometry).map((f) => feature(f, f.geometry));
    new LayerMap(mapEl).draw([
      { data: { type: "FeatureCollection", features: before }, style: { color: STATUS_COLOUR.before, weight: 1, dashArray: "4 3", fillOpacity: 0.1 } },
      { data: { type: "FeatureCollection", features: now },
        style: (f) => ({ color: STATUS_COLOUR[f.properties.status], weight: 1.5, fillOpacity: 0.3 }),
        tooltip: (f) => `${STATUS[f.properties.status]} · ${kindLabel(f.properties.kind)}${f.properties.name ? " · " + f.properties.name : ""}` },
    ]);
  }

  form.onImported = async (report) => {
    await openLayer(report.layer);
    renderReport(report, report.activated);
    reportCard.scrollIntoView({ block: "start" });
  };
  await loadLayers();
}

function importForm() {
  const datalist = h("datalist", { id: "zone-layers" });
  const field = (label, name, attrs = {}) => h("label", {}, label, h("input", { name, autocomplete: "off", ...attrs }));
  const family = h("select", { name: "family" }, h("option", { value: "zones" }, "分区图层（规划分区、地类图斑）"), h("option", { value: "grids" }, "网格层级"));
  const kind = h("select", { name: "kind" }, h("option", { value: "" }, "按地类编码字段判定"),
    Object.entries(KIND_LABELS).slice(0, 8).map(([k, label]) => h("option", { value: k }, label)));
  const level = h("select", { name: "level" }, ["district", "town", "community", "compound"].map((l) => h("option", { value: l }, KIND_LABELS[l])));
  const picked = filePicker({ name: "file", accept: ".zip,.gpkg,.geojson,.json", label: "选择图层文件" });
  const file = picked.input;
  const progress = h("progress", { max: 1, value: 0, hidden: true, "aria-label": "上传进度" });
  const submit = h("button", { type: "submit", class: "primary" }, "上传并预览");
  const jobEl = h("div", { id: "import-job", class: "job-panel", hidden: true, "aria-live": "polite" });
  const zones = h("div", { class: "form-grid zone-fields" },
    field("图层名", "layer", { list: "zone-layers", placeholder: "如 landuse、urban_managed", required: true }),
    h("label", {}, "分区类型", kind),
    field("地类编码字段", "code_field", { placeholder: "如 DLBM" }),
    field("名称字段", "name_field", { placeholder: "如 DLMC、MC" }),
    field("城镇村属性码字段", "settlement_field", { placeholder: "如 CZCSXM（可不填）" }),
    field("图层标题", "title", { placeholder: "如 城市化管理区域（可不填）" }));
  const grids = h("div", { class: "form-grid grid-fields", hidden: true },
    h("label", {}, "网格层级", level),
    field("网格编码字段", "code_field_grid", { placeholder: "如 DM" }),
    field("网格名称字段", "name_field_grid", { placeholder: "如 MC" }),
    field("上级编码字段", "parent_field", { placeholder: "可不填：按空间推算" }),
    field("责任人字段", "responsible_field", { placeholder: "可不填" }),
    field("电话字段", "phone_field", { placeholder: "可不填" }));
  const common = h("div", { class: "form-grid" },
    h("div", { class: "file-field" }, h("span", {}, "文件（.zip 压缩的 Shapefile、.gpkg、.geojson）"), picked.el),
    field("坐标系（可不填）", "crs", { placeholder: "默认读 .prj，如 EPSG:4545" }),
    field("字符编码（可不填）", "encoding", { placeholder: "默认读 .cpg 或自动检测" }));
  const form = h("form", { id: "import-form", autocomplete: "off" },
    h("div", { class: "form-grid" }, h("label", {}, "导入为", family)), zones, grids, common,
    h("p", { class: "hint" }, "上传后先生成新版本但不启用：核对导入报告和地图预览后再点“启用”。"),
    h("div", { class: "form-actions" }, submit, progress), jobEl);
  family.addEventListener("change", () => {
    zones.hidden = family.value !== "zones";
    grids.hidden = family.value !== "grids";
    zones.querySelector("[name=layer]").required = family.value === "zones";
  });
  const result = { card: h("section", { class: "card", id: "import" }, h("h2", {}, "导入新版本"), form, datalist), datalist, onImported: null };
  // the import as a job: the panel says 排队中 → 正在导入，已完成 … 个图斑 → 已完成 / 失败：why;
  // once done, its report (the job's file) is shown as the synchronous answer was
  const job = jobPanel(jobEl, {
    key: "layer-import",
    button: submit,
    onFinished: async (done, fresh) => {
      if (done.state !== "succeeded") {
        if (fresh) showError(new Error(done.error ? done.error.message : "导入失败"), { title: "导入未完成：" });
        return;
      }
      const report = await getJSON(done.download_url);
      if (fresh) showInfo(report.version ? `已导入为第 ${report.version} 版` + (report.activated ? "并已启用" : "，尚未启用") : "检查完成");
      if (result.onImported && report.version) await result.onImported(report);
    },
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const parameters = {};
    const value = (name) => (form.querySelector(`[name=${name}]`).value || "").trim();
    const put = (key, name = key) => { if (value(name)) parameters[key] = value(name); };
    parameters.family = family.value;
    if (family.value === "zones") {
      ["layer", "kind", "code_field", "name_field", "settlement_field", "title"].forEach((k) => put(k));
    } else {
      put("level");
      put("code_field", "code_field_grid");
      put("name_field", "name_field_grid");
      ["parent_field", "responsible_field", "phone_field"].forEach((k) => put(k));
    }
    put("crs");
    put("encoding");
    parameters.activate = false;
    if (!file.files[0]) { showError(new Error("请先选择要导入的图层文件")); return; }
    const data = new FormData();
    data.append("kind", "layer_import");
    data.append("parameters", JSON.stringify(parameters));
    data.append("file", file.files[0]);
    submit.disabled = true;
    progress.hidden = false;
    try {
      const queued = await upload("/api/v1/jobs/uploads", data, (p) => { progress.value = p; });
      file.value = "";
      file.dispatchEvent(new Event("change"));
      job.adopt(queued);
    } catch (e) {
      showError(e, { title: "导入未完成：" });
      submit.disabled = false;
    } finally {
      progress.hidden = true;
    }
  });
  return result;
}
