// Small DOM and formatting helpers shared by the pages.

// An element: h("td", {class: "n", "data-area": "FR"}, "12", child…).
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

const nf = new Intl.NumberFormat("en-GB");
export const num = (n) => (n === null || n === undefined ? "–" : nf.format(n));

// "1,234 arrivals", "1 arrival".
export const count = (n, one, many = `${one}s`) => `${num(n)} ${n === 1 ? one : many}`;

// An RFC 3339 time as "2026-06-01 08:00:03 UTC".
export function utc(text) {
  if (!text) return "–";
  return `${text.slice(0, 10)} ${text.slice(11, 19)} UTC`;
}

export function bytes(n) {
  if (n === null || n === undefined) return "–";
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(2)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}

export function seconds(s) {
  if (s === null || s === undefined) return "–";
  if (s >= 3600) return `${(s / 3600).toFixed(1)} h`;
  if (s >= 60) return `${(s / 60).toFixed(1)} min`;
  return `${s.toFixed(s < 10 ? 2 : 1)} s`;
}

export const ms = (v) => (v === null || v === undefined ? "–" : `${v.toFixed(1)} ms`);

// Mark the page as showing its data (once): the time since navigation start, for the
// browser test's load figures.
export function ready(el) {
  if (el && !el.dataset.ready) el.dataset.ready = String(Math.round(performance.now()));
}

// Colour-blind-safe colours: Okabe–Ito for categories, viridis steps for amounts.
export const LEVEL_COLOURS = { country: "#0072B2", network: "#E69F00", zone: "#009E73" };
export const VIRIDIS = ["#fde725", "#a0da39", "#4ac16d", "#1fa187", "#277f8e", "#365c8d", "#46327e", "#440154"];

// The viridis step of `n` among counts up to `max` (log scale: a few big areas do not
// wash out the rest).
export function shade(n, max) {
  if (!n) return null;
  const t = Math.log1p(n) / Math.log1p(Math.max(max, 1));
  return VIRIDIS[Math.min(VIRIDIS.length - 1, Math.floor(t * (VIRIDIS.length - 1)))];
}

export function table(caption, head, rows, attrs = {}) {
  return h(
    "table",
    attrs,
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, head.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows),
  );
}
