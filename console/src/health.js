// Health: the sources (frames/s, watermark lag, drops), decode errors by reason with
// example frames, late signals, tracked subscribers, memory. Read every 2 s.
import { get } from "./api.js";
import { refused } from "./main.js";
import { bytes, h, num, ready, seconds, table, utc } from "./util.js";

export function healthPage() {
  let timer = null;
  let alive = true;
  const els = {};

  function render(r) {
    const tile = (label, value, id) => h("div", { class: "tile", id }, h("span", { class: "tile-label" }, label), h("strong", {}, value));
    els.tiles.replaceChildren(
      tile("Tracked subscribers", num(r.tracked_subscribers), "tracked"),
      tile("Present arrivals", num(r.present_arrivals), "present"),
      tile("Late signals (left out)", num(r.late_signals), "late"),
      tile("Memory (resident)", bytes(r.memory && r.memory.resident_bytes), "memory"),
    );
    els.asOf.textContent = `as of ${utc(r.as_of)}`;
    const sources = (r.sources || []).map((s) =>
      h(
        "tr",
        { "data-source": s.name },
        h("th", { scope: "row" }, s.name, s.ended ? " (ended)" : s.idle ? " (idle)" : ""),
        h("td", { class: "n" }, `${num(s.frames_per_second)} frames/s`),
        h("td", { class: "n" }, `${num(s.frames)} frames`),
        h("td", { class: "n" }, bytes(s.bytes)),
        h("td", { class: "n" }, `${num(s.signals)} signals`),
        h("td", {}, utc(s.watermark)),
        h("td", { class: "n" }, seconds(s.watermark_lag_seconds)),
        h("td", { class: "n" }, `${num(s.drops.kernel)} kernel, ${num(s.drops.landfall)} landfall`),
        h("td", { class: "n" }, num(s.decode_errors)),
      ),
    );
    els.sources.replaceChildren(
      table("Sources", ["Input", "Rate", "Read", "Bytes", "Signals", "Watermark (UTC)", "Watermark lag", "Drops", "Decode errors"], sources, { id: "sources" }),
    );
    const errors = (r.decode_errors || []).map((e) =>
      h(
        "tr",
        {},
        h("td", {}, e.source),
        h("td", {}, e.layer),
        h("td", {}, e.reason),
        h("td", { class: "n" }, num(e.count)),
        h("td", {}, e.examples.map((x) => (x.line !== undefined ? `${x.file} line ${x.line}: ${x.what}` : `${x.file} frame ${x.frame} (offset ${x.offset})`)).join("; ")),
      ),
    );
    els.errors.replaceChildren(
      errors.length
        ? table("Decode errors by reason", ["Input", "Layer", "Reason", "Count", "Example frames"], errors, { id: "decode-errors" })
        : h("p", { class: "note", id: "decode-errors" }, "No decode errors."),
    );
    ready(els.root);
  }

  function load() {
    get("/v1/operator/health")
      .then((r) => alive && render(r))
      .catch((e) => refused(e) || (els.asOf.textContent = e.message));
  }

  return {
    mount(el) {
      els.root = el;
      els.tiles = h("div", { class: "tiles" });
      els.asOf = h("p", { class: "note" });
      els.sources = h("div", { class: "scroll" });
      els.errors = h("div", { class: "scroll" });
      el.append(h("h1", {}, "Health"), els.asOf, els.tiles, els.sources, els.errors);
      load();
      timer = setInterval(load, 2000);
    },
    update() {},
    unmount() {
      alive = false;
      clearInterval(timer);
    },
  };
}
