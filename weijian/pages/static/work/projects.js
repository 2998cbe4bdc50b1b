// 建设项目追踪 (/work/projects): the register of construction projects — imported from a
// red-line file or drawn on the map — their stages, inspections with photos, and a finding that
// opens a case (project_tracking); per project its open cases, overdue inspections and the area
// built outside its red line. The page speaks to /api/v1/projects like any other client.

import { blobURL, getJSON, once, probe, sendJSON, upload } from "/static/common/api.js";
import { $, fill, h } from "/static/common/dom.js";
import { mountHeader } from "/static/common/header.js";
import { whenLoggedIn } from "/static/common/login.js";
import { showError, showInfo } from "/static/common/notice.js";
import { beijing } from "/static/common/time.js";
import { FileSlot, filePicker } from "/static/common/upload.js";
import { showPhotos } from "/static/common/viewer.js";

const MOVES = {
  approved: [["under_construction", "开始施工"]],
  under_construction: [["completion_acceptance", "进入竣工验收"]],
  completion_acceptance: [["done", "验收完成"], ["under_construction", "验收未通过，退回施工"]],
  done: [],
};
const view = (probe.projects = { list: [], project: null, loads: 0 });
let map = null;
let overview = null;
let layer = null;
let finding = null; // the marker of a violation found, when 发现违建 is ticked
let drawing = null; // {corners, shape} while a red line is drawn
let workflow = null;

const area = (m2) => (m2 >= 10000 ? (m2 / 10000).toFixed(2) + " 公顷" : Math.round(m2) + " 平方米");

function dueText(p) {
  if (!p.inspection_due) return h("span", { class: "muted" }, "—");
  return p.inspection_overdue
    ? h("span", { class: "chip danger" }, "检查超期（应于 " + beijing(p.inspection_due) + "）")
    : h("span", {}, beijing(p.inspection_due) + " 前");
}

async function load() {
  const q = new URLSearchParams();
  if ($("stage").value) q.set("stage", $("stage").value);
  if ($("overdue").checked) q.set("overdue", "true");
  try {
    view.list = (await getJSON("/api/v1/projects?" + q)).projects;
  } catch (e) {
    return showError(e);
  }
  view.loads += 1;
  fill($("list"),
    h("thead", {}, h("tr", {}, ["项目编号", "项目名称", "阶段", "在办案件", "红线外建设面积", "下次检查"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, view.list.length ? view.list.map((p) => h("tr", {
      class: view.project && view.project.id === p.id ? "chosen" : null, dataset: { id: p.id },
    },
      h("td", {}, h("a", { href: "#" + p.id, onclick: (e) => { e.preventDefault(); choose(p.id); } }, p.code)),
      h("td", {}, p.name), h("td", {}, p.stage_label), h("td", { class: "num" }, p.open_cases),
      h("td", { class: "num" }, p.area_outside_m2 ? h("b", { class: "danger-text" }, area(p.area_outside_m2)) : "0"),
      h("td", {}, dueText(p)))) : h("tr", {}, h("td", { colspan: 6, class: "muted" }, "没有符合条件的项目"))));
  drawOverview();
}

function drawOverview() {
  if (overview) overview.remove();
  overview = L.geoJSON({ type: "FeatureCollection", features: view.list.map((p) => ({ type: "Feature", geometry: p.red_line, properties: { id: p.id, name: p.name } })) },
    { style: { color: "#c62828", weight: 1.5, fillOpacity: 0.05, dashArray: "4 3" },
      onEachFeature: (f, l) => { l.bindTooltip(f.properties.name); l.on("click", () => { if (!drawing) choose(f.properties.id); }); } }).addTo(map);
  if (!view.project && overview.getBounds().isValid()) map.fitBounds(overview.getBounds(), { maxZoom: 17 });
}

async function choose(id) {
  try {
    view.project = await getJSON("/api/v1/projects/" + id);
  } catch (e) {
    return showError(e);
  }
  history.replaceState(null, "", "#" + id);
  for (const tr of $("list").querySelectorAll("tbody tr")) tr.classList.toggle("chosen", tr.dataset.id === String(id));
  render(view.project);
}

function render(p) {
  if (layer) layer.remove();
  layer = L.featureGroup([L.geoJSON(p.red_line, { style: { color: "#c62828", weight: 3, fillOpacity: 0.08 } })]);
  for (const c of p.case_list) {
    layer.addLayer(L.circleMarker([c.lat, c.lon], { radius: 6, color: "#fff", weight: 1.5, fillColor: c.is_open ? "#e65100" : "#2e7d32", fillOpacity: 1 })
      .bindTooltip(c.number + (c.inside ? "（红线内）" : "（红线外）")));
  }
  layer.addTo(map);
  map.fitBounds(layer.getBounds(), { maxZoom: 18, padding: [20, 20] });
  if (finding) { finding.remove(); finding = null; }
  const labels = workflow ? workflow.states : {};
  fill($("project-body"),
    h("h2", {}, p.name, " ", h("span", { class: "badge", id: "project-stage" }, p.stage_label)),
    h("dl", { class: "facts" },
      h("dt", {}, "项目编号"), h("dd", {}, p.code),
      h("dt", {}, "建设单位"), h("dd", {}, p.developer || "—"),
      h("dt", {}, "属地街道（乡镇）"), h("dd", {}, p.town_name || "—"),
      h("dt", {}, "规划许可证号"), h("dd", {}, p.planning_permit || "—"),
      h("dt", {}, "施工许可证号"), h("dd", {}, p.construction_permit || "—"),
      h("dt", {}, "红线面积"), h("dd", {}, area(p.area_m2)),
      h("dt", {}, "红线外建设面积"), h("dd", { id: "project-outside" }, p.area_outside_m2 ? h("b", { class: "danger-text" }, area(p.area_outside_m2)) : "无"),
      h("dt", {}, "关联案件"), h("dd", {}, p.cases + " 件，在办 " + p.open_cases + " 件"),
      h("dt", {}, "下次检查"), h("dd", { id: "project-due" }, dueText(p))),
    MOVES[p.stage].length ? h("div", { class: "row stage-moves" }, MOVES[p.stage].map(([to, label]) =>
      h("button", { type: "button", dataset: { stage: to }, onclick: () => move(p, to, label) }, label))) : null,
    p.case_list.length ? h("section", {}, h("h3", {}, "关联案件"), h("ul", { class: "project-cases" }, p.case_list.map((c) =>
      h("li", {}, h("a", { href: "/work/cases/" + encodeURIComponent(c.number) }, c.number), " ",
        (labels[c.state] || {}).label || c.state, c.inside ? "" : h("span", { class: "chip warn" }, "红线外"))))) : null,
    p.stage !== "done" ? inspectionForm(p) : null,
    h("section", {}, h("h3", {}, "检查记录"), p.inspections.length ? h("ol", { class: "inspections", id: "inspections" }, p.inspections.map((i) =>
      h("li", {}, h("div", {}, h("b", {}, i.kind_label), " · ", beijing(i.inspected_at), " · ", i.inspector_name, " ",
        h("span", { class: "chip " + (i.passed ? "info" : "danger") }, i.passed ? "符合" : "发现问题")),
        h("p", {}, i.findings),
        i.case_number ? h("p", {}, "已立案：", h("a", { href: "/work/cases/" + encodeURIComponent(i.case_number) }, i.case_number)) : null,
        i.photos.length ? h("div", { class: "thumbs" }, i.photos.map((f, n) => thumb(p, i, f, n))) : null)))
      : h("p", { class: "muted" }, "尚无检查记录")));
  probe.projects.rendered = p.id;
}

function thumb(p, inspection, photo, n) {
  const img = h("img", { alt: photo.filename, width: 72, height: 72 });
  const path = "/api/v1/projects/" + p.id + "/photos/" + photo.sha256;
  blobURL(path).then((u) => { img.src = u; }).catch(() => {});
  return h("button", { type: "button", class: "thumb", onclick: () => showPhotos(inspection.photos.map((f) => ({ path: "/api/v1/projects/" + p.id + "/photos/" + f.sha256, title: f.filename })), n) }, img);
}

async function move(p, to, label) {
  try {
    await sendJSON("/api/v1/projects/" + p.id + "/stage", { stage: to }, "PUT");
    showInfo("已" + label);
    await load();
    await choose(p.id);
  } catch (e) {
    showError(e);
  }
}

function inspectionForm(p) {
  const photos = new FileSlot({ kind: "photo", label: "现场照片", hint: "可多张；在手机上可直接拍照" });
  const found = h("input", { type: "checkbox", id: "inspection-found" });
  const where = h("p", { class: "hint", id: "inspection-where" }, "勾选后在地图上点击违建位置（红线内外均可）。");
  const description = h("input", { name: "description", maxlength: "500", placeholder: "违建情况，如：东侧超出红线搭建板房" });
  const foundPart = h("div", { class: "found", hidden: true }, where, h("label", {}, "违建描述", description));
  found.addEventListener("change", () => { foundPart.hidden = !found.checked; passed.checked = !found.checked; });
  const passed = h("input", { type: "checkbox", name: "passed", checked: true, id: "inspection-passed" });
  const error = h("p", { class: "form-error", role: "alert" });
  const form = h("form", { class: "inspection-form", id: "inspection-form", onsubmit: async (e) => {
    e.preventDefault();
    const data = new FormData();
    data.set("kind", form.elements.kind.value);
    data.set("findings", form.elements.findings.value.trim());
    data.set("passed", String(passed.checked));
    for (const item of photos.items) data.append("photos", item.file, item.name);
    if (found.checked) {
      if (!finding) return fill(error, "请在地图上点击发现违建的位置");
      const ll = finding.getLatLng();
      data.set("finding", JSON.stringify({ lon: ll.lng, lat: ll.lat, crs: "wgs84", description: description.value.trim() || form.elements.findings.value.trim() }));
    }
    if (!data.get("findings")) return fill(error, "请填写检查情况");
    fill(error);
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const answer = await upload("/api/v1/projects/" + p.id + "/inspections", data);
      showInfo(answer.case ? "检查已记录，已立案 " + answer.case : "检查已记录");
      await load();
      await choose(p.id);
    } catch (err) {
      fill(error, err.message);
    } finally {
      button.disabled = false;
    }
  } },
  h("h3", {}, "录入检查"),
  h("label", {}, "检查类型", h("select", { name: "kind" },
    h("option", { value: "construction", selected: p.stage !== "completion_acceptance" }, "施工期间检查"),
    p.stage === "completion_acceptance" ? h("option", { value: "completion", selected: true }, "竣工验收检查") : null)),
  h("label", {}, "检查情况", h("textarea", { name: "findings", rows: "3", maxlength: "2000", placeholder: "如：按规划许可施工，未见超出红线建设" })),
  h("label", { class: "check" }, passed, " 符合批准内容"),
  photos.el,
  h("label", { class: "check" }, found, " 发现违建并立案（建设项目追踪渠道）"),
  foundPart, error,
  h("button", { type: "submit", class: "primary" }, "保存检查"));
  return form;
}

function onMapClick(e) {
  if (drawing) {
    drawing.corners.push(e.latlng);
    if (drawing.shape) drawing.shape.remove();
    drawing.shape = (drawing.corners.length >= 3 ? L.polygon(drawing.corners, { color: "#c62828" }) : L.polyline(drawing.corners, { color: "#c62828" })).addTo(map);
    fill($("draw-count"), "已点 " + drawing.corners.length + " 个角点");
    return;
  }
  const found = $("inspection-found");
  if (!found || !found.checked) return;
  if (finding) finding.setLatLng(e.latlng);
  else finding = L.marker(e.latlng, { title: "发现违建的位置" }).addTo(map);
  fill($("inspection-where"), "已选定违建位置（可再次点击修改）");
}

function startDrawing() {
  drawing = { corners: [], shape: null };
  const form = h("form", { class: "inspection-form", id: "draw-form", onsubmit: async (e) => {
    e.preventDefault();
    if (drawing.corners.length < 3) return showError("请在地图上依次点击红线的各个角（至少 3 个）");
    const ring = drawing.corners.map((ll) => [ll.lng, ll.lat]);
    ring.push(ring[0]);
    const body = { name: form.elements.name.value.trim(), red_line: { type: "Polygon", coordinates: [ring] }, crs: "wgs84" };
    for (const k of ["developer", "planning_permit", "construction_permit"]) if (form.elements[k].value.trim()) body[k] = form.elements[k].value.trim();
    if (!body.name) return showError("请填写项目名称");
    try {
      const made = await sendJSON("/api/v1/projects", body);
      stopDrawing();
      showInfo("已登记项目 " + made.code);
      await load();
      await choose(made.id);
    } catch (err) {
      showError(err);
    }
  } },
  h("h2", {}, "在地图上画红线"),
  h("p", { class: "hint" }, "在地图上依次点击红线的各个角，再填写项目信息。"), h("p", { id: "draw-count" }, "已点 0 个角点"),
  h("label", {}, "项目名称 ", h("span", { class: "required" }, "（必填）"), h("input", { name: "name", maxlength: "100" })),
  h("label", {}, "建设单位", h("input", { name: "developer", maxlength: "100" })),
  h("label", {}, "规划许可证号", h("input", { name: "planning_permit", maxlength: "64" })),
  h("label", {}, "施工许可证号", h("input", { name: "construction_permit", maxlength: "64" })),
  h("div", { class: "row" }, h("button", { type: "submit", class: "primary" }, "登记项目"), h("button", { type: "button", onclick: stopDrawing }, "取消")));
  fill($("project-body"), form);
}

function stopDrawing() {
  if (drawing && drawing.shape) drawing.shape.remove();
  drawing = null;
  fill($("project-body"), h("p", { class: "muted" }, "在清单中选择一个项目查看详情、录入检查。"));
}

function importForm() {
  const form = $("import-form");
  const picker = filePicker({ name: "file", accept: ".zip,.gpkg,.geojson,.json", label: "选择红线文件" });
  fill($("import-file"), picker.el);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const error = form.querySelector(".form-error");
    if (!picker.input.files[0]) return fill(error, "请选择红线文件");
    const data = new FormData(form);
    data.set("file", picker.input.files[0]);
    for (const [k, v] of [...data.entries()]) if (v === "") data.delete(k);
    fill(error);
    try {
      const answer = await upload("/api/v1/projects/import", data);
      showInfo("已登记 " + answer.imported + " 个项目");
      $("import").hidden = true;
      await load();
      if (answer.projects[0]) await choose(answer.projects[0].id);
    } catch (err) {
      fill(error, err.message);
    }
  });
  form.querySelector(".cancel").addEventListener("click", () => { $("import").hidden = true; });
}

async function start() {
  try {
    await mountHeader($("bar"), { here: "projects" });
    workflow = await once("/api/v1/cases/workflow");
  } catch (e) {
    if (e.status !== 401) showError(e);
    return;
  }
  map = L.map($("project-map"), { maxZoom: 20 }).setView([41.94, 126.42], 13);
  window.weijianProjectsMap = map; // tests find a spot's pixel through it
  L.control.scale({ imperial: false }).addTo(map);
  once("/api/v1/map/config").then((c) => {
    const b = c && c.basemap;
    if (!b || !b.layers || b.crs === "gcj02") return;
    b.layers.forEach((l, i) => L.tileLayer(l.url, { maxZoom: 20, maxNativeZoom: l.max_zoom || 18, attribution: l.attribution || "", zIndex: i + 1, ...(l.subdomains ? { subdomains: l.subdomains } : {}) }).addTo(map));
  }).catch(() => {});
  map.on("click", onMapClick);
  importForm();
  $("import-open").addEventListener("click", () => { $("import").hidden = false; });
  $("draw-open").addEventListener("click", startDrawing);
  $("stage").addEventListener("change", load);
  $("overdue").addEventListener("change", load);
  await load();
  const wanted = Number(location.hash.slice(1));
  if (wanted) await choose(wanted);
  probe.ready = true;
}

whenLoggedIn(start);
