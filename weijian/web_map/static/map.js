// The supervisors' map: grids, zones by department, cases, the backlog heatmap and the
// clear-to-zero choropleth, over the application's own API. Every script, style and image
// comes from this server; a basemap is drawn only when one is configured.
"use strict";

(function () {
  // Leaflet 1.8 dropped L.DomEvent.fakeStop, which VectorGrid's renderers still call
  if (!L.DomEvent.fakeStop) {
    L.DomEvent.fakeStop = function (e) { e._stopped = true; };
  }

  const TOKEN_KEY = "weijian.token";
  const LEVELS = ["district", "town", "community", "compound"];
  const FIELD_ROLES = ["grid_worker", "property_company"]; // who works in the field app (/m)
  const PHONE = window.matchMedia("(max-width: 700px)"); // the layout of map.css for a phone
  const GRID_STYLE = {
    district: { color: "#1f3a5f", weight: 2.6, opacity: 0.95 },
    town: { color: "#3d5a80", weight: 1.8, opacity: 0.9 },
    community: { color: "#5c7fa3", weight: 1.1, opacity: 0.85, dashArray: "4 3" },
    compound: { color: "#7d8ea1", weight: 0.8, opacity: 0.8, dashArray: "2 2" },
  };
  // the grid level a zoom shows: the labels, the 清零 colours and a click all use it
  const LEVEL_AT = (z) => (z < 10 ? "district" : z < 12 ? "town" : z < 15 ? "community" : "compound");
  const LEVEL_LABELS = { district: "区县", town: "镇（街道）", community: "社区", compound: "小区" };
  const $ = (id) => document.getElementById(id);
  const esc = (s) => String(s == null ? "" : s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  const fmt = (n) => (n == null ? "—" : Number(n).toLocaleString("zh-CN"));
  const when = (iso) => {
    if (!iso) return "—";
    const d = new Date(iso);
    return d.toLocaleString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false });
  };

  // state the tests (and curious supervisors, from the console) can read
  const W = (window.weijianMap = {
    ready: false, pending: 0, moving: false, tiles: { grids: 0, zones: 0, cases: 0 }, features: { grids: 0, zones: 0, cases: 0 },
    cells: null, choropleth: null, figures: null, caseDetail: null, errors: [],
  });

  let token = sessionStorage.getItem(TOKEN_KEY);
  let config = null;
  let map = null;
  const layers = {};

  // -- the API ----------------------------------------------------------------------------
  async function api(path, options) {
    W.pending += 1;
    let response;
    try {
      response = await fetch(path, {
        ...(options || {}),
        headers: { ...((options && options.headers) || {}), Authorization: "Bearer " + token },
      });
    } finally {
      W.pending -= 1;
    }
    if (response.status === 401) {
      showLogin("登录已过期，请重新登录");
      throw new Error("401");
    }
    if (!response.ok) {
      let message = response.status + "";
      try { const body = await response.json(); message = body.message || body.detail || message; } catch (e) { /* not JSON */ }
      throw new Error(message);
    }
    return response;
  }
  const getJSON = async (path) => (await api(path)).json();

  function filterParams() {
    const p = new URLSearchParams();
    const state = $("f-state").value;
    if (state === "@open") p.set("category", "open");
    else if (state === "@closed") p.set("category", "closed");
    else if (state) p.set("state", state);
    for (const [id, key] of [["f-channel", "channel"], ["f-track", "track"], ["f-district", "district"], ["f-from", "from"], ["f-to", "to"]]) {
      if ($(id).value) p.set(key, $(id).value);
    }
    if ($("f-overdue").checked) p.set("overdue", "true");
    return p;
  }

  // -- log in -----------------------------------------------------------------------------
  function showLogin(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    token = null;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    $("login-form").elements.username.focus();
  }

  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const response = await fetch("/api/v1/auth/login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: form.elements.username.value, password: form.elements.password.value }),
    });
    if (!response.ok) {
      $("login-error").textContent = response.status === 401 ? "用户名或密码错误" : "登录失败（" + response.status + "）";
      return;
    }
    token = (await response.json()).access_token;
    sessionStorage.setItem(TOKEN_KEY, token);
    $("login").hidden = true;
    start();
  });

  $("logout").addEventListener("click", async () => {
    try { await api("/api/v1/auth/logout", { method: "POST" }); } catch (e) { /* gone already */ }
    location.reload();
    sessionStorage.removeItem(TOKEN_KEY);
  });

  // -- the page ---------------------------------------------------------------------------
  async function start() {
    if (!token) return showLogin();
    try {
      config = await getJSON("/api/v1/map/config");
    } catch (e) {
      if (e.message !== "401") showLogin("无法读取地图配置：" + e.message);
      return;
    }
    W.config = config;
    $("user-name").textContent = config.user.display_name + "（" + config.user.username + "）";
    // the grid's own people work on a phone: the way to the field app stays in sight for them
    document.body.classList.toggle("field-role", FIELD_ROLES.includes(config.user.role));
    $("logout").hidden = false;
    $("scope-name").textContent = "辖区：" + config.scope.grid_name;
    fillFilters();
    buildMap();
  }

  function option(select, value, label) {
    const o = document.createElement("option");
    o.value = value;
    o.textContent = label;
    select.appendChild(o);
  }

  function fillFilters() {
    const group = document.createElement("optgroup");
    group.label = "按状态";
    for (const s of config.states) option(group, s.code, s.label);
    $("f-state").appendChild(group);
    for (const c of config.channels) option($("f-channel"), c.code, c.label);
    for (const t of config.tracks) option($("f-track"), t.code, t.label);
    for (const d of config.districts) option($("f-district"), d.code, d.name);
    if (config.districts.length <= 1) $("f-district").disabled = true;
    for (const c of config.campaigns) option($("f-campaign"), c.id, c.name + "（" + c.start_date + " 起）");
    if (config.campaigns.length) $("f-campaign").value = String(config.campaigns[config.campaigns.length - 1].id);
  }

  // one of the server's vector tile layers (grids, zones, cases), drawn on canvas
  function vectorLayer(kind, query, options) {
    return L.vectorGrid.protobuf("/api/v1/map/tiles/" + kind + "/{z}/{x}/{y}.mvt" + (query ? "?" + query : ""), {
      fetchOptions: { headers: { Authorization: "Bearer " + token } },
      rendererFactory: L.canvas.tile,
      maxNativeZoom: 20,
      maxZoom: 20,
      ...options,
    });
  }

  function countTiles(layer, kind) {
    layer.on("tileload", () => { W.tiles[kind] += 1; });
    layer.on("tileerror", () => W.errors.push(kind + " tile"));
  }
  // a style function is called once for every feature drawn: it counts them
  const counted = (kind, style) => (p) => {
    W.features[kind] += 1;
    return typeof style === "function" ? style(p) : style;
  };

  function buildMap() {
    map = L.map("map", { zoomControl: false, minZoom: 6, maxZoom: 20, preferCanvas: true });
    L.control.zoom({ zoomInTitle: "放大", zoomOutTitle: "缩小" }).addTo(map);
    map.attributionControl.setPrefix("Leaflet");
    W.map = map;
    W.layers = layers;
    addBasemap();
    L.control.scale({ imperial: false, metric: true, position: "bottomleft" }).addTo(map);

    // zones, shaded by the department their rule names
    const deptColour = {};
    for (const d of config.departments) deptColour[d.type] = d.colour;
    layers.zones = vectorLayer("zones", "", {
      vectorTileLayerStyles: {
        zones: counted("zones", (p) => ({
          fill: true, fillColor: deptColour[p.department] || deptColour[""], fillOpacity: 0.32,
          color: deptColour[p.department] || deptColour[""], weight: 0.4, opacity: 0.6,
        })),
      },
    });
    countTiles(layers.zones, "zones");

    // the clear-to-zero choropleth: grid polygons coloured by progress, drawn under the lines
    layers.choropleth = vectorLayer("grids", "", {
      vectorTileLayerStyles: Object.fromEntries(LEVELS.map((level) => [level, (p) => choroStyle(level, p)])),
    });

    // grid boundaries, four levels appearing with the zoom
    layers.grids = vectorLayer("grids", "", {
      vectorTileLayerStyles: Object.fromEntries(LEVELS.map((l) => [l, counted("grids", { ...GRID_STYLE[l], fill: false })])),
    });
    countTiles(layers.grids, "grids");
    layers.labels = L.layerGroup();

    // cases: points from zoom case_min_zoom, clusters of the server's cells below it
    layers.cases = L.layerGroup();
    map.createPane("heat").style.zIndex = 380;  // under the zones' and cases' vectors
    map.createPane("cases").style.zIndex = 640;  // above everything drawn from tiles
    // one hue, not a rainbow: red on this map means overdue, greens the 清零 progress
    layers.heat = new Heat([], {
      radius: 22, blur: 18, minOpacity: 0.2, pane: "heat",
      gradient: { 0.3: "#dadaeb", 0.6: "#9e9ac8", 0.85: "#6a51a3", 1: "#3f007d" },
    });

    const overlays = {
      "清零进度（按网格）": layers.choropleth,
      "规划分区（按责任部门）": layers.zones,
      "网格边界": layers.grids,
      "网格名称": layers.labels,
      "案件热力图（按筛选条件）": layers.heat,
      "违建案件": layers.cases,
      "巡查覆盖率": (layers.coverage = L.layerGroup()),
      "建设项目（规划红线）": (layers.projects = L.layerGroup()),
    };
    // with a campaign, its progress is the first thing a supervisor reads, and the zones' and
    // the heatmap's colours would muddle it: they are one click away in the switcher
    const shown = ["网格边界", "网格名称", "违建案件"];
    shown.push(...(config.campaigns.length ? ["清零进度（按网格）"] : ["规划分区（按责任部门）", "案件热力图（按筛选条件）"]));
    for (const name of shown) overlays[name].addTo(map);
    layers.control = L.control.layers(null, overlays, { collapsed: PHONE.matches, position: "topleft" }).addTo(map);
    addLegend();

    const e = config.scope.extent;
    if (e) {
      const bounds = L.latLngBounds([e[1], e[0]], [e[3], e[2]]);
      map.fitBounds(bounds, { padding: [10, 10] });
      map.setMaxBounds(bounds.pad(1.5));  // room to centre a case at the scope's edge
    } else {
      map.setView([41.94, 126.42], 9);
    }

    map.on("movestart", () => { W.moving = true; });
    map.on("moveend", () => { W.moving = false; refreshView(); });
    map.on("click", onMapClick);
    map.on("overlayadd overlayremove", () => { refreshView(); updateLegend(); });
    map.on("overlayadd", (e) => {
      if (e.layer === layers.coverage) loadCoverage();
      if (e.layer === layers.projects) loadProjects();
    });
    for (const id of ["f-state", "f-channel", "f-track", "f-district", "f-from", "f-to", "f-overdue", "f-weight"]) {
      $(id).addEventListener("change", () => { if (id === "f-district") fitDistrict(); refreshCases(); refreshView(); });
    }
    $("f-campaign").addEventListener("change", loadChoropleth);
    $("f-level").addEventListener("change", loadChoropleth);
    $("f-reset").addEventListener("click", () => {
      $("f-state").value = "@open";
      for (const id of ["f-channel", "f-track", "f-district", "f-from", "f-to"]) $(id).value = "";
      $("f-overdue").checked = false;
      refreshCases();
      refreshView();
    });
    $("f-export").addEventListener("click", exportView);
    refreshCases();
    loadChoropleth().then(() => { W.ready = true; });
    refreshView();
    focusFromAddress();
    window.addEventListener("hashchange", focusFromAddress);
  }

  // a link to a grid (#grid=CODE, e.g. from the dashboard's tables): zoomed to it, its panel open
  function focusFromAddress() {
    const code = new URLSearchParams(location.hash.slice(1)).get("grid");
    if (!code) return;
    openGrid(code, true).catch((e) => notice("无法打开网格 " + code + "：" + e.message, 4000));
  }

  // the basemap's layers from the bottom up (Tianditu: the vector map, then its annotation)
  function addBasemap() {
    const b = config.basemap;
    if (!b || !b.layers || !b.layers.length) {
      return;
    }
    layers.basemaps = b.layers.map((l, i) => {
      const options = { maxZoom: 20, maxNativeZoom: l.max_zoom || 18, attribution: l.attribution || "", zIndex: i + 1 };
      if (l.subdomains) options.subdomains = l.subdomains;
      const layer = b.crs === "gcj02" ? new GcjTileLayer(l.url, options) : L.tileLayer(l.url, options);
      return layer.addTo(map);
    });
    layers.basemap = layers.basemaps[0];
    if (b.crs === "gcj02") {
      notice("底图为 GCJ-02 坐标（高德、腾讯等），已按地图中心位置纠偏后叠加；本页其余图层均为 CGCS2000 坐标。", 8000);
    }
  }

  // A GCJ-02 basemap, drawn shifted back by GCJ-02's offset at the view's centre (the offset
  // changes by metres over a city), so the overlays fall on their places.
  const GcjTileLayer = L.TileLayer.extend({
    onAdd: function (m) {
      L.TileLayer.prototype.onAdd.call(this, m);
      this._shift = L.point(0, 0);
      m.on("moveend", this._updateShift, this);
      this._updateShift();
    },
    onRemove: function (m) {
      m.off("moveend", this._updateShift, this);
      L.TileLayer.prototype.onRemove.call(this, m);
    },
    _updateShift: async function () {
      const c = this._map.getCenter();
      try {
        const off = await (await fetch("/api/v1/map/gcj02-offset?lon=" + c.lng + "&lat=" + c.lat)).json();
        const z = this._map.getZoom();
        const here = this._map.project(c, z);
        const there = this._map.project(L.latLng(c.lat + off.dlat, c.lng + off.dlon), z);
        const shift = here.subtract(there).round();
        if (!shift.equals(this._shift)) {
          this._shift = shift;
          this.redraw();
        }
      } catch (e) { W.errors.push("gcj02 offset"); }
    },
    _getTilePos: function (coords) {
      return L.TileLayer.prototype._getTilePos.call(this, coords).add(this._shift || L.point(0, 0));
    },
  });

  // leaflet.heat fades every point by 2^(maxZoom - zoom); the server's cells are already
  // per view, so the fading is switched off — for the drawing only, since Leaflet's layer
  // switcher would otherwise grey the layer out above that zoom
  const Heat = L.HeatLayer.extend({
    _redraw: function () {
      this.options.maxZoom = this._map.getZoom();
      L.HeatLayer.prototype._redraw.call(this);
      delete this.options.maxZoom;
    },
    onAdd: function (m) {
      L.HeatLayer.prototype.onAdd.call(this, m);
      m.getPane(this.options.pane).appendChild(this._canvas);
    },
    onRemove: function (m) {
      m.getPanes().overlayPane.appendChild(this._canvas);  // where leaflet.heat removes it from
      L.HeatLayer.prototype.onRemove.call(this, m);
    },
  });

  function notice(text, ms) {
    const el = $("notice");
    el.textContent = text;
    el.hidden = false;
    if (ms) setTimeout(() => { el.hidden = true; }, ms);
  }

  function fitDistrict() {
    const code = $("f-district").value;
    if (!code) return;
    const d = config.districts.find((x) => x.code === code);
    if (!d || !d.extent) return;
    const e = d.extent;
    map.fitBounds(L.latLngBounds([e[1], e[0]], [e[3], e[2]]), { padding: [10, 10] });
  }

  // -- cases ------------------------------------------------------------------------------
  function stateColour(code) {
    const s = config.states.find((x) => x.code === code);
    return s ? s.colour : "#888";
  }

  // a state is told by its shape as well as its colour; overdue: bigger, ringed in red
  const svgURL = (svg) => "data:image/svg+xml;charset=utf-8," + encodeURIComponent(svg).replace(/'/g, "%27");
  const stateIcons = {};
  function stateIcon(code, overdue) {
    const key = code + (overdue ? "!" : "");
    if (!stateIcons[key]) {
      const s = config.states.find((x) => x.code === code) || config.states[0];
      const size = overdue ? 22 : 18;
      stateIcons[key] = L.icon({ iconUrl: svgURL(overdue ? s.icon_overdue : s.icon), iconSize: [size, size] });
    }
    return stateIcons[key];
  }
  const legendIcon = (svg) => "<img class='shape' alt='' src='" + svgURL(svg) + "'>";

  function refreshCases() {
    if (layers.casePoints) {
      layers.cases.removeLayer(layers.casePoints);
    }
    const query = filterParams().toString();
    W.overdueDrawn = 0;
    layers.casePoints = vectorLayer("cases", query, {
      pane: "cases",
      minZoom: config.case_min_zoom,
      vectorTileLayerStyles: {
        cases: counted("cases", (p) => {
          if (p.overdue) W.overdueDrawn += 1;  // once a tile it is drawn in
          return { icon: stateIcon(p.state, p.overdue) };
        }),
      },
    });
    countTiles(layers.casePoints, "cases");
    layers.cases.addLayer(layers.casePoints);
  }

  let viewRequest = 0;
  async function refreshView() {
    if (!map) return;
    const z = map.getZoom();
    const b = map.getBounds();
    const bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(6)).join(",");
    const mine = ++viewRequest;
    const p = filterParams();
    p.set("bbox", bbox);
    p.set("zoom", z);
    const showCases = map.hasLayer(layers.cases);
    const showHeat = map.hasLayer(layers.heat);
    const jobs = [];
    // heat and totals: small cells; clusters below the zoom of the points: bigger cells
    p.set("cell_px", 12);
    jobs.push(getJSON("/api/v1/map/cells?" + p).then((cells) => {
      if (mine !== viewRequest) return;
      W.cells = cells;
      showTotals(cells);
      if (showHeat) drawHeat(cells);
    }));
    if (showCases && z < config.case_min_zoom) {
      const q = new URLSearchParams(p);
      q.set("cell_px", 56);
      jobs.push(getJSON("/api/v1/map/cells?" + q).then((cells) => {
        if (mine !== viewRequest) return;
        W.clusters = cells;
        drawClusters(cells);
      }));
    } else if (layers.clusters) {
      layers.cases.removeLayer(layers.clusters);
      layers.clusters = null;
    }
    if (map.hasLayer(layers.labels)) jobs.push(drawLabels(viewLevel(), bbox, mine));
    try { await Promise.all(jobs); } catch (e) { W.errors.push(e.message); notice("读取失败：" + e.message, 6000); }
  }

  function showTotals(cells) {
    $("totals").innerHTML =
      "当前视图：<b>" + fmt(cells.total) + "</b> 件<br>其中在办 <b>" + fmt(cells.open) + "</b> 件，" +
      "<span class='overdue'>超期未办 " + fmt(cells.overdue) + " 件</span><br>违建面积 " +
      fmt(Math.round(cells.area_m2)) + " 平方米";
  }

  function drawHeat(cells) {
    const byArea = $("f-weight").value === "area";
    const w = cells.cells.map((c) => (byArea ? c[3] : c[2]));
    const max = Math.max(1, ...w);
    layers.heat.setOptions({ max: 1 });
    layers.heat.setLatLngs(cells.cells.map((c, i) => [c[1], c[0], Math.sqrt(w[i] / max)]));
  }

  function drawClusters(cells) {
    if (layers.clusters) layers.cases.removeLayer(layers.clusters);
    const group = L.layerGroup();
    for (const c of cells.cells) {
      const [lon, lat, n, , , late] = c;
      const size = Math.round(22 + Math.min(26, Math.log10(n + 1) * 12));
      const icon = L.divIcon({
        className: "", iconSize: [size, size],
        html: "<div class='cluster" + (late ? " late" : "") + "' style='width:" + size + "px;height:" + size + "px' title='" +
          n + " 件" + (late ? "，超期 " + late + " 件" : "") + "'>" + (n >= 10000 ? Math.round(n / 1000) + "k" : n) + "</div>",
      });
      L.marker([lat, lon], { icon, keyboard: false }).on("click", (e) => {
        L.DomEvent.stop(e);
        map.setView([lat, lon], Math.min(map.getZoom() + 2, config.case_min_zoom));
      }).addTo(group);
    }
    layers.clusters = group;
    layers.cases.addLayer(group);
  }

  async function drawLabels(level, bbox, mine) {
    const items = await getJSON("/api/v1/map/labels?level=" + level + "&bbox=" + bbox);
    if (mine !== viewRequest) return;
    layers.labels.clearLayers();
    // names are placed greedily, none over another (a crowded view shows fewer, not a smear)
    const placed = labelBoxes();
    const size = level === "district" ? 15 : 12;
    for (const item of items) {
      const p = map.latLngToContainerPoint([item.lat, item.lon]);
      const w = item.name.length * size + 6, h = size + 6;
      const box = [p.x - w / 2, p.y - h / 2, p.x + w / 2, p.y + h / 2];
      if (placed.overlaps(box)) continue;
      placed.add(box);
      L.marker([item.lat, item.lon], {
        interactive: false, keyboard: false,
        icon: L.divIcon({ className: "grid-label " + level, html: "<span>" + esc(item.name) + "</span>", iconSize: null }),
      }).addTo(layers.labels);
    }
    W.labels = placed.length;
  }

  // The label boxes placed so far (screen pixels), in buckets of a fixed grid: a new box is
  // checked against the boxes in the cells it covers, not against every box placed.
  function labelBoxes(cell = 64) {
    const buckets = new Map();
    const cells = (box, visit) => {
      for (let i = Math.floor(box[0] / cell); i <= Math.floor(box[2] / cell); i++) {
        for (let j = Math.floor(box[1] / cell); j <= Math.floor(box[3] / cell); j++) visit(i + "," + j);
      }
    };
    const index = {
      length: 0,
      overlaps(box) {
        let hit = false;
        cells(box, (key) => {
          if (!hit) hit = (buckets.get(key) || []).some((b) => box[0] < b[2] && b[0] < box[2] && box[1] < b[3] && b[1] < box[3]);
        });
        return hit;
      },
      add(box) {
        cells(box, (key) => {
          if (!buckets.has(key)) buckets.set(key, []);
          buckets.get(key).push(box);
        });
        index.length += 1;
      },
    };
    return index;
  }

  // -- clear-to-zero --------------------------------------------------------------------------
  function choroLevel() {
    const chosen = $("f-level").value;
    return chosen === "auto" ? LEVEL_AT(map.getZoom()) : chosen;
  }

  // the level the view is about: the coloured one when the 清零 colours are shown, else the
  // zoom's — a click opens a grid of this level, and its names are the labels drawn
  function viewLevel() {
    return $("f-campaign").value && map.hasLayer(layers.choropleth) ? choroLevel() : LEVEL_AT(map.getZoom());
  }
  W.viewLevel = viewLevel;

  function choroStyle(level, p) {
    const data = W.choropleth;
    if (!data || data.level !== level) return [];
    const g = data.grids[p.code];
    if (!g || g.percent == null) {
      return { fill: true, fillColor: "#ffffff", fillOpacity: 0.15, stroke: false };
    }
    const cls = data.classes.find((c) => (g.percent >= 100 ? c.min === 100 : g.percent >= c.min && g.percent < c.max));
    return { fill: true, fillColor: cls ? cls.colour : "#cccccc", fillOpacity: 0.55, stroke: false };
  }

  async function loadChoropleth() {
    const id = $("f-campaign").value;
    if (!id) {
      W.choropleth = null;
      layers.choropleth.redraw();
      return;
    }
    const level = choroLevel();
    W.choropleth = await getJSON("/api/v1/map/choropleth?campaign=" + id + "&level=" + level);
    layers.choropleth.redraw();
    updateLegend();
  }
  let lastChoroLevel = null;
  function maybeReloadChoropleth() {
    const level = choroLevel();
    if (level !== lastChoroLevel) {
      lastChoroLevel = level;
      loadChoropleth().catch((e) => W.errors.push(e.message));
    }
  }

  // -- legend ---------------------------------------------------------------------------------
  let legend = null;
  function addLegend() {
    legend = L.control({ position: "bottomleft" });
    legend.onAdd = () => {
      const div = L.DomUtil.create("div", "legend");
      L.DomEvent.disableClickPropagation(div);
      return div;
    };
    legend.addTo(map);
    updateLegend();
    map.on("zoomend", maybeReloadChoropleth);
  }

  function updateLegend() {
    if (!legend) return;
    const div = legend.getContainer();
    // folded on a phone until opened (and kept as the user left it when redrawn)
    const was = div.querySelector("details");
    let html = "<details" + ((was ? was.open : !PHONE.matches) ? " open" : "") + "><summary>图例</summary>";
    if (map.hasLayer(layers.zones)) {
      html += "<h4>规划分区（责任部门）</h4>";
      for (const d of config.departments) html += "<div><i style='background:" + d.colour + ";opacity:.6'></i>" + esc(d.label) + "</div>";
    }
    html += "<h4>案件状态</h4>";
    for (const s of config.state_groups) html += "<div>" + legendIcon(s.icon) + esc(s.label) + "</div>";
    html += "<div>" + legendIcon(config.overdue_icon) + "超期未办（红圈、略大）</div>";
    if (W.choropleth && map.hasLayer(layers.choropleth)) {
      html += "<h4>清零进度（" + esc(W.choropleth.campaign.name) + "）<br><small>按" +
        esc(LEVEL_LABELS[W.choropleth.level]) + "着色，点击打开该级网格</small></h4>";
      for (const c of W.choropleth.classes) html += "<div><i style='background:" + c.colour + "'></i>" + esc(c.label) + "</div>";
    }
    if (W.coverage && map.hasLayer(layers.coverage)) {
      html += "<h4>巡查覆盖率（本月）<br><small>网格按小区被巡查轨迹经过（50 米内）的比例着色</small></h4>";
      for (const c of COVERAGE_CLASSES) html += "<div><i style='background:" + c.colour + "'></i>" + esc(c.label) + "</div>";
      html += "<h4>小区距上次巡查</h4>";
      for (const c of PATROL_DAYS) html += "<div><i style='background:" + c.colour + "'></i>" + esc(c.label) + "</div>";
      html += "<div><i style='background:#3f007d;height:3px;vertical-align:middle'></i>本月巡查轨迹</div>";
    }
    if (W.projects != null && map.hasLayer(layers.projects)) {
      html += "<h4>建设项目（规划红线）<br><small>粗线：检查超期</small></h4>";
      for (const [stage, label] of [["approved", "已批准"], ["under_construction", "在建"], ["completion_acceptance", "竣工验收"], ["done", "已完成"]]) {
        html += "<div><i style='background:" + PROJECT_COLOURS[stage] + ";height:3px;vertical-align:middle'></i>" + label + "</div>";
      }
    }
    div.innerHTML = html + "</details>";
  }

  // -- 巡查覆盖率: the sub-grids of the user's grid (or of every district) by patrol coverage,
  // their compounds by the days since a patrol track last passed them --------------------------
  const COVERAGE_CLASSES = [
    { min: 0.75, colour: "#08519c", label: "75% 及以上" },
    { min: 0.5, colour: "#3182bd", label: "50%–75%" },
    { min: 0.25, colour: "#6baed6", label: "25%–50%" },
    { min: 0, colour: "#c6dbef", label: "25% 以下" },
    { min: null, colour: "#d9d9d9", label: "无小区网格" },
  ];
  const PATROL_DAYS = [
    { max: 7, colour: "#238b45", label: "7 天内巡查过" },
    { max: 30, colour: "#fdd835", label: "8–30 天" },
    { max: Infinity, colour: "#8c6d31", label: "30 天以上" },
    { max: null, colour: "#ffffff", label: "从未巡查" },
  ];
  const coverageColour = (v) => COVERAGE_CLASSES.find((c) => (v == null ? c.min == null : c.min != null && v >= c.min)).colour;
  const daysColour = (d) => PATROL_DAYS.find((c) => (d == null ? c.max == null : c.max != null && d <= c.max)).colour;
  const pct = (v) => (v == null ? "—" : (v * 100).toFixed(1) + "%");

  async function loadCoverage() {
    const codes = config.scope.grid_code ? [config.scope.grid_code] : config.districts.map((d) => d.code);
    layers.coverage.clearLayers();
    const answers = [];
    for (const code of codes) {
      try {
        answers.push(await getJSON("/api/v1/patrols/coverage?geometry=true&grid=" + encodeURIComponent(code)));
      } catch (err) { W.errors.push(String(err)); }
    }
    for (const a of answers) {
      for (const sub of a.subgrids) {
        if (!sub.geometry) continue;
        L.geoJSON(sub.geometry, { style: { color: "#08306b", weight: 1.2, fillColor: coverageColour(sub.coverage), fillOpacity: 0.55 } })
          .bindTooltip(esc(sub.name) + "：巡查覆盖率 " + pct(sub.coverage) + "（" + sub.passed + "/" + sub.compounds + " 个小区）")
          .addTo(layers.coverage);
        for (const c of sub.detail) {
          L.geoJSON(c.geometry, { style: { color: "#333", weight: 0.8, fillColor: daysColour(c.days_since_last), fillOpacity: 0.85 } })
            .bindTooltip(esc(c.name) + "：" + (c.days_since_last == null ? "本期及以前从未巡查" : "距上次巡查 " + c.days_since_last + " 天"))
            .addTo(layers.coverage);
        }
      }
    }
    // the month's tracks the user may read (the API answers only those in scope)
    // the period the coverage was figured for (this month by the server's clock), in Beijing days
    const day = (ms) => new Date(ms).toLocaleDateString("sv-SE", { timeZone: "Asia/Shanghai" });
    let drawn = 0;
    try {
      if (!answers.length) throw new Error("无巡查覆盖率数据");
      const from = day(Date.parse(answers[0].since)), to = day(Date.parse(answers[0].until) - 86400000);
      const listed = await getJSON("/api/v1/patrols?limit=50&from=" + from + "&to=" + to);
      for (const t of listed.tracks) {
        const f = await getJSON("/api/v1/patrols/" + t.id);
        if (!f.geometry) continue;
        L.geoJSON(f.geometry, { style: { color: "#3f007d", weight: 2.5, opacity: 0.8 } })
          .bindTooltip(esc(t.display_name) + " " + esc(when(t.started_at)) + " 巡查轨迹 " + (t.length_m / 1000).toFixed(2) + " 公里")
          .addTo(layers.coverage);
        drawn += 1;
      }
    } catch (err) { W.errors.push(String(err)); }
    W.tracksDrawn = drawn;
    W.coverage = answers;
    updateLegend();
  }

  // -- 建设项目: the red lines of the construction projects in scope, by stage; an overdue
  // inspection drawn thick --------------------------------------------------------------------
  const PROJECT_COLOURS = { approved: "#6a1b9a", under_construction: "#c62828", completion_acceptance: "#ef6c00", done: "#757575" };

  async function loadProjects() {
    layers.projects.clearLayers();
    let answer;
    try {
      answer = await getJSON("/api/v1/projects?format=geojson");
    } catch (err) {
      W.errors.push(String(err));
      return;
    }
    L.geoJSON(answer, {
      style: (f) => ({ color: PROJECT_COLOURS[f.properties.stage], weight: f.properties.inspection_overdue ? 4 : 2, dashArray: "6 4", fillOpacity: 0.06 }),
      onEachFeature: (f, l) => {
        const p = f.properties;
        l.bindTooltip(esc(p.name) + "（" + esc(p.stage_label) + "）");
        l.bindPopup("<b>" + esc(p.name) + "</b><br>" + esc(p.code) + " · " + esc(p.stage_label) +
          "<br>在办案件 " + p.open_cases + " 件" + (p.area_outside_m2 ? "，红线外建设 " + Math.round(p.area_outside_m2) + " 平方米" : "") +
          (p.inspection_overdue ? "<br><b style='color:#c62828'>检查超期</b>" : "") +
          "<br><a href='/work/projects#" + p.id + "'>在工作台查看</a>");
      },
    }).addTo(layers.projects);
    W.projects = answer.features.length;
    updateLegend();
  }

  // -- clicks ---------------------------------------------------------------------------------
  async function onMapClick(e) {
    if (e.originalEvent && e.originalEvent._stopped) return;
    const z = map.getZoom();
    const at = "lon=" + e.latlng.lng.toFixed(7) + "&lat=" + e.latlng.lat.toFixed(7);
    if (z >= config.case_min_zoom && map.hasLayer(layers.cases)) {
      // a case drawn under the click (the server finds it, with the same scope and filters)
      const p = filterParams();
      try {
        const hit = await getJSON("/api/v1/map/case-at?" + at + "&zoom=" + z + "&" + p);
        return openCase(hit.number);
      } catch (err) { /* none there: the grid */ }
    }
    const level = viewLevel();
    try {
      const grid = await getJSON("/api/v1/map/grid-at?" + at + "&level=" + level);
      await openGrid(grid.code);
    } catch (err) {
      notice("此处不在您的辖区网格内", 3000);
    }
  }

  async function openGrid(code, fit) {
    const campaign = $("f-campaign").value;
    const figures = await getJSON("/api/v1/map/grids/" + encodeURIComponent(code) + (campaign ? "?campaign=" + campaign : ""));
    const e = figures.grid.extent;
    if (fit && e) map.fitBounds(L.latLngBounds([e[1], e[0]], [e[3], e[2]]), { padding: [20, 20] });
    showGridFigures(figures);
  }

  async function showGridFigures(g) {
    W.figures = g;
    const f = g.figures;
    const L_ = g.labels;
    const rows = [];
    if (g.campaign) {
      for (const key of ["baseline", "signed_off", "remaining"]) rows.push([L_[key], fmt(f[key]), key]);
      rows.push([L_.percent, f.percent == null ? "—" : f.percent + "%", "percent"]);
    }
    rows.push([L_.overdue, fmt(f.overdue), "overdue"]);
    rows.push([L_.new_this_month + "（" + g.month + "）", fmt(f.new_this_month), "new_this_month"]);
    const people = (g.grid.responsible || []).map((p) => esc(p.name) + (p.phone ? " " + esc(p.phone) : "")).join("、");
    let html = "<h2>" + esc(g.grid.name) + "</h2><div class='chain'>" + esc(g.grid.level_label) + " · 编码 " + esc(g.grid.code) +
      (people ? "<br>责任人：" + people : "") + "</div>";
    if (g.campaign) html += "<div class='chain'>清零行动：" + esc(g.campaign.name) + "（截至 " + esc(g.as_of) + "）</div>";
    html += "<table class='figures'>" + rows.map((r) => "<tr data-figure='" + r[2] + "'><td>" + esc(r[0]) + "</td><td class='num'>" + r[1] + "</td></tr>").join("") + "</table>";
    html += "<h3>在办案件</h3><div id='grid-cases'>读取中…</div>";
    html += "<p><a href='#' id='grid-patrol'>打印本网格巡查图（PDF）</a>" +
      (g.grid.level === "district" ? "</p><p class='atlas'><button type='button' id='grid-atlas'>生成图集</button> <span class='chain'>全区巡查图集（PDF，每个网格一页），后台生成，可继续操作</span></p>" +
        "<div id='atlas-job' class='job' role='status' aria-live='polite' hidden></div><p>" : "") + "</p>";
    html += "<details id='grid-tracing'><summary>责任倒查（" + esc(g.month) + "）</summary><div id='tracing-body'>读取中…</div></details>";
    const urging = URGERS.includes(config.user.role) && f.overdue > 0;
    if (urging) html += gridUrgeForm(f.overdue);
    $("details-body").innerHTML = html;
    $("details").hidden = false;
    $("grid-patrol").addEventListener("click", (e) => { e.preventDefault(); download("/api/v1/patrol-maps/grids/" + encodeURIComponent(g.grid.code) + ".pdf", g.grid.name + "巡查图.pdf"); });
    if (urging) $("grid-urge-form").addEventListener("submit", (e) => { e.preventDefault(); urgeGrid(g.grid); });
    if ($("grid-atlas")) atlasJob(g.grid);
    $("grid-tracing").addEventListener("toggle", () => { if ($("grid-tracing").open) showTracing(g); }, { once: true });
    const p = filterParams();
    p.set("grid", g.grid.code);
    p.set("limit", "100");
    p.set("with_total", "true");
    // the case list takes moments: the days of the filter, in Beijing time, the last included
    if (p.get("from")) p.set("from", p.get("from") + "T00:00:00+08:00");
    if (p.get("to")) p.set("to", nextDay(p.get("to")) + "T00:00:00+08:00");
    p.delete("district");
    try {
      const list = await getJSON("/api/v1/cases?" + p);
      W.gridCases = list;
      const items = list.items.map((c) =>
        "<tr class='case-row' tabindex='0' data-number='" + esc(c.number) + "'><td>" + esc(c.number) + "<br><span class='chain'>" + esc(c.address || c.description) +
        "</span></td><td><span class='badge' style='background:" + stateColour(c.state) + "'>" + esc(c.state_label) + "</span>" +
        (c.overdue ? "<br><span class='overdue'>超期</span>" : "") + "</td></tr>").join("");
      $("grid-cases").innerHTML = (list.total != null ? "<div class='chain'>共 " + fmt(list.total) + " 件" + (list.total > list.count ? "，显示最新 " + list.count + " 件" : "") + "</div>" : "") +
        (items ? "<table>" + items + "</table>" : "<p>无符合筛选条件的案件</p>");
      for (const row of document.querySelectorAll(".case-row")) onActivate(row, () => openCase(row.dataset.number, true));
    } catch (e) {
      $("grid-cases").textContent = "读取失败：" + e.message;
    }
  }

  // -- 巡查图集: a background job with its progress bar (common/jobs.js); the page goes on -------
  function atlasJob(grid) {
    const button = $("grid-atlas");
    const panel = import("/static/common/jobs.js").then(({ jobPanel }) =>
      jobPanel($("atlas-job"), { key: "atlas." + grid.code, kind: "atlas", parameters: { district: grid.code }, button }));
    button.addEventListener("click", async () => (await panel).start());
  }

  // -- 责任倒查: the late or missing steps of a grid's month, and who held them -------------------
  async function showTracing(g) {
    const body = $("tracing-body");
    try {
      const t = await getJSON("/api/v1/assessment/tracing?grid=" + encodeURIComponent(g.grid.code) + "&month=" + encodeURIComponent(g.month));
      W.tracing = t;
      if (!t.problems.length) { body.innerHTML = "<p>本月无超时或缺失的办理环节</p>"; return; }
      body.innerHTML = "<div class='chain'>共 " + fmt(t.count) + " 项</div><table class='tracing'><thead><tr><th>案件 · 环节</th><th>情况</th><th>责任单位 / 人</th></tr></thead><tbody>" +
        t.problems.map((p) => "<tr><td>" + (p.case ? "<a href='/work/cases/" + encodeURIComponent(p.case) + "'>" + esc(p.case) + "</a><br>" : "") +
          esc(p.step_label) + "</td><td><span class='overdue'>" + esc(p.status_label) + "</span>" +
          (p.due ? "<br><span class='chain'>期限 " + esc(when(p.due)) + "</span>" : "") + "</td><td>" + esc(p.unit || "") +
          (p.person ? "<br><span class='chain'>" + esc(p.person) + "</span>" : "") + "</td></tr>").join("") + "</tbody></table>";
    } catch (e) {
      body.textContent = "读取失败：" + e.message;
    }
  }

  // -- 督办: every overdue case of a grid at once -------------------------------------------

  const URGERS = ["admin", "supervisor", "department_leader"];

  // the workbench's time helpers (an ES module) for this classic script
  let timeLib = null;
  import("/static/common/time.js").then((m) => { timeLib = m; });
  const tomorrowFive = () => (timeLib ? timeLib.tomorrowFive() : "");

  function gridUrgeForm(overdue) {
    return "<details class='grid-urge'><summary>督办本网格超期案件（" + fmt(overdue) + " 件）</summary>" +
      "<form id='grid-urge-form'><label>督办内容<textarea name='note' required maxlength='2000' " +
      "placeholder='如：请于答复期限前完成超期案件的核查处置并反馈'></textarea></label>" +
      "<label>答复期限（北京时间）<input type='datetime-local' name='reply_due' required value='" + tomorrowFive() + "'></label>" +
      "<button type='submit'>督办</button><div id='grid-urge-result' role='status'></div></form></details>";
  }

  async function urgeGrid(grid) {
    const form = $("grid-urge-form");
    const out = $("grid-urge-result");
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const body = { grid: grid.code, note: form.note.value.trim(), reply_due: form.reply_due.value + ":00+08:00" };
      const r = await (await api("/api/v1/urges", {
        method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
      })).json();
      W.gridUrge = r;
      out.className = "ok";
      out.textContent = r.urged ? "已督办 " + r.urged + " 件：" + r.cases.join("、") + "。承办部门将在工作台“督办”中看到并答复。"
        : "本网格目前没有超期案件，未发出督办。";
    } catch (e) {
      out.className = "error";
      out.textContent = "督办未成功：" + e.message;
    } finally {
      button.disabled = false;
    }
  }

  // the view as one HTML file to send: its extent, filters, grid level and campaign
  async function exportView() {
    const p = filterParams();
    const b = map.getBounds();
    p.set("bbox", [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(6)).join(","));
    p.set("level", viewLevel());
    if ($("f-campaign").value && map.hasLayer(layers.choropleth)) p.set("campaign", $("f-campaign").value);
    const button = $("f-export");
    button.disabled = true;
    try {
      await download("/api/v1/map/export.html?" + p, "监管地图-" + new Date().toISOString().slice(0, 10) + ".html");
      W.exported = (W.exported || 0) + 1;
    } catch (e) {
      notice("导出未成功：" + e.message, 5000);
    } finally {
      button.disabled = false;
    }
  }

  function nextDay(day) {
    const d = new Date(day + "T12:00:00Z");
    d.setUTCDate(d.getUTCDate() + 1);
    return d.toISOString().slice(0, 10);
  }

  async function download(path, name) {
    const blob = await (await api(path)).blob();
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = name;
    a.click();
  }

  async function openCase(number, fly) {
    let c;
    try {
      c = await getJSON("/api/v1/cases/" + encodeURIComponent(number));
    } catch (e) {
      notice("无法打开案件 " + number + "：" + e.message, 5000);
      return;
    }
    W.caseDetail = c;
    if (fly) map.flyTo([c.lat, c.lon], Math.max(map.getZoom(), 16), { duration: 0.6 });
    // the case opened is ringed, whatever the filters show
    if (layers.focus) map.removeLayer(layers.focus);
    layers.focus = L.marker([c.lat, c.lon], {
      interactive: false, keyboard: false, zIndexOffset: 1000,
      icon: L.divIcon({ className: "focus-ring", iconSize: [30, 30] }),
    }).addTo(map);
    let html = "<h2>" + esc(c.number) + "</h2>";
    html += "<div><span class='badge' style='background:" + stateColour(c.state) + "'>" + esc(c.state_label) + "</span> " +
      esc(c.track_label) + " · " + esc(c.channel_label) + (c.overdue ? " <span class='overdue'>超期</span>" : "") + "</div>";
    html += "<table>" +
      [["地点", c.address], ["描述", c.description], ["责任部门", c.department && c.department.name],
        ["面积", c.area_m2 != null ? Math.round(c.area_m2) + " 平方米" : null], ["发现时间", when(c.discovered_at)],
        ["上报时间", when(c.reported_at)]].map((r) => "<tr><th>" + r[0] + "</th><td>" + esc(r[1] || "—") + "</td></tr>").join("") + "</table>";
    if (c.deadlines && c.deadlines.length) {
      html += "<h3>办理时限</h3><table>" + c.deadlines.map((d) => "<tr><td>" + esc(d.label) + "<br><span class='chain'>期限 " + when(d.due) +
        "</span></td><td class='" + (d.status === "overdue" || d.status === "late" ? "overdue" : "") + "'>" + esc(d.status_label) + "</td></tr>").join("") + "</table>";
    }
    const photos = (c.evidence || []).filter((e) => e.kind === "photo");
    if (photos.length) html += "<h3>现场照片</h3><div class='photos' id='case-photos'></div>";
    html += "<p><a href='/work/cases/" + encodeURIComponent(c.number) + "'>在工作台中打开（办理、全部文件）</a></p>";
    html += "<h3>办理过程</h3><ol class='timeline'>" + (c.events || []).map((e) =>
      "<li><div class='when'>" + when(e.at) + " · " + esc(e.actor.name) + "</div><div>" + esc(e.label) +
      (e.action === "add_evidence" && e.data && e.data.filename ? "：" + esc(e.data.filename) : "") + "</div>" +
      (e.note ? "<div class='chain'>" + esc(e.note) + "</div>" : "") + "</li>").join("") + "</ol>";
    $("details-body").innerHTML = html;
    $("details").hidden = false;
    for (const ph of photos) {
      try {
        const blob = await (await api("/api/v1/cases/" + encodeURIComponent(c.number) + "/evidence/" + ph.sha256)).blob();
        const img = document.createElement("img");
        img.src = URL.createObjectURL(blob);
        img.alt = ph.filename;
        img.title = ph.filename + (ph.flagged ? "（" + (ph.flag_reason || "位置存疑") + "）" : "");
        $("case-photos").appendChild(img);
      } catch (e) { W.errors.push("photo"); }
    }
  }

  // on a phone the filters are a drawer over the map, opened from the bar
  $("filters-toggle").addEventListener("click", () => {
    const open = !document.body.classList.contains("filters-open");
    document.body.classList.toggle("filters-open", open);
    $("filters-toggle").setAttribute("aria-expanded", String(open));
  });

  $("details-close").addEventListener("click", () => {
    $("details").hidden = true;
    if (layers.focus) { map.removeLayer(layers.focus); layers.focus = null; }
  });

  // a row of a list opened by a click, or from the keyboard (Tab to it, then Enter or Space)
  function onActivate(el, open) {
    el.addEventListener("click", open);
    el.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); open(); }
    });
  }

  // -- search ---------------------------------------------------------------------------------
  $("search").addEventListener("submit", async (event) => {
    event.preventDefault();
    const q = $("search-input").value.trim();
    const results = $("search-results");
    results.innerHTML = "";
    results.hidden = true;
    if (!q) return;
    let list;
    try {
      list = await getJSON("/api/v1/cases?limit=20&q=" + encodeURIComponent(q));
    } catch (e) {
      notice("搜索失败：" + e.message, 4000);
      return;
    }
    W.search = list;
    if (list.items.length === 1) return openCase(list.items[0].number, true);
    if (!list.items.length) return notice("未找到“" + q + "”：请输入案件编号（或其中的数字）或地址中的词", 4000);
    for (const c of list.items) {
      const li = document.createElement("li");
      li.textContent = c.number + "　" + (c.address || c.description) + "　" + c.state_label;
      li.tabIndex = 0;
      onActivate(li, () => { results.hidden = true; openCase(c.number, true); });
      results.appendChild(li);
    }
    results.hidden = false;
  });
  document.addEventListener("click", (e) => { if (!$("search").contains(e.target)) $("search-results").hidden = true; });

  start();
})();
