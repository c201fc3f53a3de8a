// Now: who is newly where. A world map shaded by the present arrivals per country, the
// operator's zones drawn from their geometry with their counts, tables of every area's
// count at each level, and a click (or Enter) on an area lists its recent arrivals.
import { geoArea, geoCentroid, geoCircle, geoNaturalEarth1, geoPath } from "d3-geo";
import { feature } from "topojson-client";
import countries110m from "world-atlas/countries-110m.json";
import isoCountries from "i18n-iso-countries";
import { get } from "./api.js";
import { refused } from "./main.js";
import { count, h, num, ready, shade, table, utc, VIRIDIS } from "./util.js";

const WIDTH = 960;
const HEIGHT = 500;
const SVG = "http://www.w3.org/2000/svg";
const LIST = 50; // arrivals listed for a selected area
const RECENT = 20; // the live list of the latest arrivals
const ROWS = 300; // rows shown per level table

// The Natural Earth countries (ISO 3166 numeric ids) keyed by alpha-2, once.
let world = null;
function countriesByCode() {
  if (!world) {
    const all = feature(countries110m, countries110m.objects.countries).features;
    world = all.map((f) => ({ f, code: isoCountries.numericToAlpha2(f.id) || null }));
  }
  return world;
}

function svg(tag, attrs = {}) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

// A zone's GeoJSON geometry (d3-geo wants exterior rings clockwise: a ring covering more
// than a hemisphere is the wrong way round).
function zoneGeometry(z) {
  if (z.shape === "circle") {
    return geoCircle().center(z.centre).radius(z.radius_m / 111195).precision(2)();
  }
  if (!z.ring || !z.ring.length) return null;
  // One or two distinct cells: no area, a point where they are.
  const distinct = new Set(z.ring.map((p) => `${p[0]},${p[1]}`));
  if (distinct.size < 3) return { type: "Point", coordinates: z.ring[0] };
  const ring = z.ring.slice();
  const [a, b] = [ring[0], ring[ring.length - 1]];
  if (a[0] !== b[0] || a[1] !== b[1]) ring.push(a);
  let g = { type: "Polygon", coordinates: [ring] };
  if (geoArea(g) > 2 * Math.PI) g = { type: "Polygon", coordinates: [ring.slice().reverse()] };
  return g;
}

export function nowPage() {
  let root = null;
  let counts = { country: new Map(), network: new Map(), zone: new Map() };
  let countsText = "";
  let zones = [];
  let selected = null; // {level, area}
  let recent = [];
  let alive = true;
  const els = {};

  function selectArea(level, area) {
    selected = { level, area };
    els.detail.replaceChildren(h("p", {}, `Loading the arrivals of ${area}…`));
    get(`/v1/operator/areas/${level}/${encodeURIComponent(area)}/arrivals?limit=${LIST}`)
      .then((r) => {
        if (!alive || !selected || selected.area !== area) return;
        renderDetail(r);
      })
      .catch((e) => refused(e) || els.detail.replaceChildren(h("p", { class: "error" }, e.message)));
  }

  function renderDetail(r) {
    const rows = r.arrivals.map((a) =>
      h("tr", {}, h("td", {}, a.home_country || "–"), h("td", {}, a.home || "–"), h("td", {}, utc(a.arrived_at)), h("td", { class: "mono" }, a.imsi)),
    );
    els.detailRows = rows.length;
    els.detail.replaceChildren(
      h("h2", { id: "detail-title" }, `${r.area} (${r.level}): ${count(r.total, "present arrival")}`),
      table(
        `The ${Math.min(r.total, LIST)} most recent, as of ${utc(r.as_of)}`,
        ["Home country", "Home network", "Arrived (UTC)", "IMSI"],
        rows,
        { id: "detail-table", "data-area": r.area, "data-level": r.level },
      ),
    );
  }

  function areaButton(level, area, n) {
    return h(
      "button",
      { type: "button", class: "link", onclick: () => selectArea(level, area), "aria-label": `${area}: ${count(n, "arrival")}, list them` },
      area,
    );
  }

  function renderTables(asOf, present) {
    els.total.textContent = count(present, "present arrival");
    els.total.dataset.present = present;
    els.asOf.textContent = `as of ${utc(asOf)}`;
    els.asOf.dataset.asOf = asOf;
    const part = (level, title) => {
      const list = [...counts[level].entries()];
      const rows = list.slice(0, ROWS).map(([area, n]) =>
        h("tr", {}, h("th", { scope: "row" }, areaButton(level, area, n)), h("td", { class: "n", "data-level": level, "data-area": area, "data-count": n }, num(n))),
      );
      const more = list.length > ROWS ? h("p", { class: "note" }, `and ${list.length - ROWS} more areas`) : null;
      return h("div", { class: "level" }, table(`${title}: ${count(list.length, "area")}`, ["Area", "Present arrivals"], rows, { "data-level-table": level }), more);
    };
    els.tables.replaceChildren(part("country", "Countries"), part("network", "Networks"), part("zone", "Zones"));
  }

  function renderMap() {
    const max = Math.max(0, ...counts.country.values());
    for (const [code, path] of els.paths) {
      const n = counts.country.get(code) || 0;
      const fill = shade(n, max);
      path.setAttribute("fill", fill || "var(--land)");
      path.setAttribute("aria-label", `${code}: ${count(n, "arrival")}`);
      path.firstChild.textContent = `${code}: ${count(n, "present arrival")}`;
    }
    for (const z of els.zoneMarks) {
      const n = counts.zone.get(z.id) || 0;
      z.label.textContent = `${z.id} ${num(n)}`;
      z.title.textContent = `${z.name}: ${count(n, "present arrival")}`;
    }
    els.legendMax.textContent = `${num(max)} arrivals`;
  }

  function renderRecent() {
    els.recent.replaceChildren(
      ...recent.map((a) => h("li", {}, `${utc(a.at)} · ${a.level} ${a.area} · from ${a.home_country || "?"} (${a.home || "?"}) · `, h("span", { class: "mono" }, a.imsi))),
    );
  }

  function drawMap(fitZones) {
    const features = countriesByCode();
    const projection = geoNaturalEarth1();
    const zoneGeos = zones.map((z) => ({ z, g: zoneGeometry(z) })).filter((x) => x.g);
    if (fitZones && zoneGeos.length) {
      projection.fitExtent([[40, 40], [WIDTH - 40, HEIGHT - 40]], { type: "FeatureCollection", features: zoneGeos.map((x) => ({ type: "Feature", geometry: x.g })) });
    } else {
      projection.fitSize([WIDTH, HEIGHT], { type: "Sphere" });
    }
    const path = geoPath(projection);
    const map = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-labelledby": "map-title", class: fitZones ? "map zoomed" : "map world" });
    const title = svg("title", { id: "map-title" });
    title.textContent = "World map: countries shaded by present arrivals; zones outlined";
    map.append(title, svg("path", { d: path({ type: "Sphere" }), class: "sphere" }));
    els.paths = new Map();
    for (const { f, code } of features) {
      const p = svg("path", { d: path(f) || "", class: "country", fill: "var(--land)" });
      p.append(svg("title"));
      if (code) {
        p.dataset.area = code;
        p.setAttribute("tabindex", "0");
        p.setAttribute("role", "button");
        p.addEventListener("click", () => selectArea("country", code));
        p.addEventListener("keydown", (e) => {
          if (e.key === "Enter" || e.key === " ") {
            e.preventDefault();
            selectArea("country", code);
          }
        });
        els.paths.set(code, p);
      }
      map.append(p);
    }
    els.zoneMarks = [];
    // Labels of zones close together are stacked, not drawn over each other.
    const placed = [];
    for (const { z, g } of zoneGeos) {
      const group = svg("g", { class: z.partner ? "zone partner" : "zone", tabindex: "0", role: "button", "data-zone": z.id });
      const t = svg("title");
      const [x, y] = projection(geoCentroid(g)) || [0, 0];
      let ly = y - 7;
      while (placed.some(([px, py]) => Math.abs(px - x) < 120 && Math.abs(py - ly) < 15)) ly -= 16;
      placed.push([x, ly]);
      const label = svg("text", { x: x + 7, y: ly });
      group.append(t, svg("path", { d: path(g) || "" }), svg("circle", { cx: x, cy: y, r: 4 }), label);
      group.addEventListener("click", () => selectArea("zone", z.id));
      group.addEventListener("keydown", (e) => {
        if (e.key === "Enter") selectArea("zone", z.id);
      });
      els.zoneMarks.push({ id: z.id, name: z.name, label, title: t });
      map.append(group);
    }
    els.map.replaceChildren(map);
    renderMap();
  }

  return {
    mount(el) {
      root = el;
      els.total = h("strong", { id: "now-total" }, "–");
      els.asOf = h("span", { id: "now-as-of", class: "note" }, "");
      els.map = h("div", { class: "map-wrap" });
      els.tables = h("div", { class: "tables" });
      els.detail = h("div", { id: "detail", "aria-live": "polite" }, h("p", { class: "note" }, "Choose a country, zone or table row to list its recent arrivals."));
      els.recent = h("ol", { id: "recent", class: "recent" });
      els.legendMax = h("span");
      const fit = h("button", { type: "button", id: "fit-zones", "aria-pressed": "false" }, "Zoom to zones");
      fit.addEventListener("click", () => {
        const on = fit.getAttribute("aria-pressed") !== "true";
        fit.setAttribute("aria-pressed", String(on));
        drawMap(on);
      });
      const legend = h("div", { class: "legend", "aria-hidden": "true" }, "0", ...VIRIDIS.map((c) => h("span", { class: "swatch", style: `background:${c}` })), els.legendMax);
      root.append(
        h("h1", {}, "Now: who is newly where"),
        h("p", { class: "summary" }, els.total, " ", els.asOf),
        h("div", { class: "now-grid" }, h("div", {}, els.map, h("div", { class: "map-tools" }, legend, fit)), els.detail),
        h("h2", {}, "Present arrivals per area"),
        els.tables,
        h("h2", {}, "Latest arrivals (live)"),
        els.recent,
      );
      drawMap(false);
      get("/v1/operator/zones")
        .then((r) => {
          if (!alive) return;
          zones = r.zones || [];
          if (zones.length) drawMap(false);
        })
        .catch(refused);
    },
    update(u) {
      const text = JSON.stringify(u.counts);
      if (text !== countsText) {
        countsText = text;
        counts = {
          country: new Map(u.counts.country),
          network: new Map(u.counts.network),
          zone: new Map(u.counts.zone),
        };
        renderMap();
      }
      renderTables(u.as_of, u.present);
      ready(root);
      if (u.arrivals.length) {
        recent = u.arrivals.slice(-RECENT).reverse().concat(recent).slice(0, RECENT);
        renderRecent();
        if (selected) {
          const mine = u.arrivals.filter((a) => a.level === selected.level && a.area === selected.area);
          const body = document.querySelector("#detail-table tbody");
          if (mine.length && body) {
            for (const a of mine) {
              body.prepend(h("tr", { class: "new" }, h("td", {}, a.home_country || "–"), h("td", {}, a.home || "–"), h("td", {}, utc(a.at)), h("td", { class: "mono" }, a.imsi)));
            }
            while (body.children.length > LIST) body.lastChild.remove();
            const n = counts[selected.level].get(selected.area) || 0;
            document.getElementById("detail-title").textContent = `${selected.area} (${selected.level}): ${count(n, "present arrival")}`;
          }
        }
      }
    },
    unmount() {
      alive = false;
    },
  };
}
