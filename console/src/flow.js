// Flow: arrivals per minute by level over the last hours (uPlot), and the home countries
// and networks arriving most, as bar charts. The chart's last minutes follow the live
// feed; the top lists are read again every 10 s.
import uPlot from "uplot";
import { get } from "./api.js";
import { refused } from "./main.js";
import { count, h, LEVEL_COLOURS, num, ready, utc } from "./util.js";

const MINUTES = 180;
const LEVELS = ["country", "network", "zone"];

export function flowPage() {
  let rows = new Map(); // minute (RFC 3339) → row
  let plot = null;
  let timer = null;
  let resize = null;
  let alive = true;
  const els = {};

  function data() {
    const keys = [...rows.keys()].sort().slice(-MINUTES);
    rows = new Map(keys.map((k) => [k, rows.get(k)]));
    return [keys.map((k) => Date.parse(k) / 1000), ...LEVELS.map((l) => keys.map((k) => rows.get(k)[l]))];
  }

  function width() {
    return Math.max(280, els.chart.clientWidth || 600);
  }

  function draw() {
    const d = data();
    if (plot) {
      plot.setData(d);
      return;
    }
    plot = new uPlot(
      {
        width: width(),
        height: 300,
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"),
        scales: { x: { time: true } },
        axes: [{ label: "minute (UTC)" }, { label: "arrivals per minute", size: 60 }],
        series: [{ label: "minute (UTC)", value: (u, v) => (v === null ? "–" : utc(new Date(v * 1000).toISOString())) }, ...LEVELS.map((l) => ({ label: l, stroke: LEVEL_COLOURS[l], width: 2, value: (u, v) => (v === null ? "–" : `${num(v)}/min`) }))],
      },
      d,
      els.chart,
    );
    els.chart.dataset.minutes = d[0].length;
  }

  function bars(title, list, id) {
    const max = Math.max(1, ...list.map(([, n]) => n));
    return h(
      "figure",
      { class: "bars", id },
      h("figcaption", {}, title),
      list.length
        ? h(
            "ol",
            {},
            list.map(([name, n]) =>
              h("li", { "data-name": name, "data-count": n }, h("span", { class: "bar-label" }, name), h("span", { class: "bar", style: `width:${(100 * n) / max}%` }), h("span", { class: "bar-value" }, count(n, "arrival"))),
            ),
          )
        : h("p", { class: "note" }, "No arrivals in this window."),
    );
  }

  function load() {
    get(`/v1/operator/flow?minutes=${MINUTES}`)
      .then((f) => {
        if (!alive) return;
        for (const r of f.minutes) rows.set(r.minute, r);
        draw();
        els.totals.textContent = `Over the last ${MINUTES} minutes of event time: ${LEVELS.map((l) => `${num(f.totals[l])} ${l}`).join(", ")} arrivals.`;
        ready(els.root);
        els.tops.replaceChildren(bars("Top home countries (country-level arrivals)", f.top_home_countries, "top-countries"), bars("Top home networks (network-level arrivals)", f.top_home_networks, "top-networks"));
      })
      .catch(refused);
  }

  return {
    mount(el) {
      els.root = el;
      els.chart = h("div", { id: "flow-chart", class: "chart", role: "img", "aria-label": "Arrivals per minute by level" });
      els.totals = h("p", { id: "flow-totals", class: "summary" });
      els.tops = h("div", { class: "tops" });
      el.append(h("h1", {}, "Flow: arrivals per minute"), els.totals, els.chart, els.tops);
      load();
      timer = setInterval(load, 10000);
      resize = () => plot && plot.setSize({ width: width(), height: 300 });
      window.addEventListener("resize", resize);
    },
    update(u) {
      if (!u.flow || !u.flow.length) return;
      for (const r of u.flow) rows.set(r.minute, r);
      if (plot) draw();
    },
    unmount() {
      alive = false;
      clearInterval(timer);
      window.removeEventListener("resize", resize);
      if (plot) plot.destroy();
    },
  };
}
