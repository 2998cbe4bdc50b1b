// The map excerpt of a case's page: the point, the footprint if any, the zones (shaded by the
// department their rule names) and the grids, from the map's vector tiles (Leaflet and
// Leaflet.VectorGrid, served from /static/vendor/ as on the supervisors' map).

import { authHeaders, probe } from "/static/common/api.js";
import { fill, h } from "/static/common/dom.js";

/* global L */
// Leaflet 1.8 dropped L.DomEvent.fakeStop, which VectorGrid's renderers still call
if (window.L && !L.DomEvent.fakeStop) L.DomEvent.fakeStop = (e) => { e._stopped = true; };

const GRID_STYLE = {
  district: { color: "#1f3a5f", weight: 2.4, opacity: 0.9 },
  town: { color: "#3d5a80", weight: 1.6, opacity: 0.85 },
  community: { color: "#5c7fa3", weight: 1.1, opacity: 0.8, dashArray: "4 3" },
  compound: { color: "#7d8ea1", weight: 1, opacity: 0.8, dashArray: "2 2" },
};
const CASE_COLOUR = "#1d2733"; // dark, not red: red means overdue on every map

export class CaseMap {
  constructor(el, legend) {
    this.el = el;
    this.legend = legend;
    this.map = null;
    probe.map = { tiles: { zones: 0, grids: 0 }, errors: 0 };
  }

  _build(config) {
    const phone = window.matchMedia("(pointer: coarse)").matches;
    this.map = L.map(this.el, {
      maxZoom: 20, minZoom: 8, scrollWheelZoom: false, dragging: !phone, tap: false,
      attributionControl: true, zoomControl: true,
    });
    this.map.attributionControl.setPrefix("Leaflet");
    L.control.scale({ imperial: false, position: "bottomleft" }).addTo(this.map);
    const colours = {};
    for (const d of (config && config.departments) || []) colours[d.type] = d.colour;
    this.departments = (config && config.departments) || [];
    const layer = (kind, styles) => {
      const tiles = L.vectorGrid.protobuf("/api/v1/map/tiles/" + kind + "/{z}/{x}/{y}.mvt", {
        fetchOptions: { headers: authHeaders() }, rendererFactory: L.canvas.tile,
        maxNativeZoom: 20, maxZoom: 20, interactive: false, vectorTileLayerStyles: styles,
      });
      tiles.on("tileload", () => { probe.map.tiles[kind] += 1; });
      tiles.on("tileerror", () => { probe.map.errors += 1; });
      return tiles.addTo(this.map);
    };
    this.seen = new Set(); // the departments of the zones drawn, for the legend
    this.zones = layer("zones", {
      zones: (p) => (this.seen.add(p.department || ""), {
        fill: true, fillColor: colours[p.department] || colours[""] || "#bab0ac", fillOpacity: 0.28,
        color: colours[p.department] || "#999", weight: 0.5, opacity: 0.6,
      }),
    });
    this.grids = layer("grids", Object.fromEntries(Object.entries(GRID_STYLE).map(([level, style]) => [level, { ...style, fill: false }])));
    this.zones.on("load", () => this._legend());
    this.marks = L.layerGroup().addTo(this.map);
  }

  show(c, config) {
    if (!window.L) return;
    if (!this.map) this._build(config);
    this.marks.clearLayers();
    const here = [c.lat, c.lon];
    let bounds = null;
    if (c.footprint) {
      const shape = L.geoJSON(c.footprint, { style: { color: CASE_COLOUR, weight: 2, fillOpacity: 0.15 } }).addTo(this.marks);
      bounds = shape.getBounds();
    }
    L.circleMarker(here, { radius: 7, color: "#fff", weight: 2, fillColor: CASE_COLOUR, fillOpacity: 1 })
      .bindTooltip(c.number).addTo(this.marks);
    if (bounds && bounds.isValid()) this.map.fitBounds(bounds.extend(here), { padding: [30, 30], maxZoom: 18 });
    else this.map.setView(here, 17);
    this.case = c;
    this._legend();
  }

  _legend() {
    const c = this.case;
    if (!c) return;
    const zones = this.departments.filter((d) => this.seen.has(d.type));
    fill(this.legend,
      h("span", {}, h("i", { class: "dot", style: "background:" + CASE_COLOUR }), "案件位置"),
      c.footprint ? h("span", {}, h("i", { class: "box", style: "border-color:" + CASE_COLOUR }), "违建范围") : null,
      zones.map((d) => h("span", {}, h("i", { class: "box", style: "background:" + d.colour + ";opacity:.55;border-color:" + d.colour }), "分区：" + d.label)),
      h("span", {}, h("i", { class: "line" }), "网格边界"),
    );
  }
}
