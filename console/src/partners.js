// Partners: per partner and subscription, delivered / queued / retrying / expired /
// dead-lettered, latency, the oldest pending event and the sink's circuit; a failing
// subscription is marked in words, not colour alone. Dead letters can be sent again.
import { get, post } from "./api.js";
import { refused } from "./main.js";
import { h, ms, num, ready, seconds, table, utc } from "./util.js";

export function partnersPage() {
  let timer = null;
  let alive = true;
  const els = {};
  const openDead = new Set();
  const boxes = new Map(); // partner → its dead-letter box, kept across refreshes

  function badge(failing) {
    return failing ? h("span", { class: "badge failing" }, "✕ failing") : h("span", { class: "badge ok" }, "✓ ok");
  }

  function circuit(c) {
    if (c.state === "open") return `open (probe in ${seconds(c.reopens_in_seconds)})`;
    if (c.state === "closed" && c.failures) return `closed, ${c.failures} failures in a row`;
    return c.state;
  }

  async function showDead(partner, box) {
    box.replaceChildren(h("p", {}, "Loading dead letters…"));
    try {
      const list = await get(`/v1/operator/partners/${partner}/dead-letters?limit=20`);
      if (!list.length) {
        box.replaceChildren(h("p", { class: "note" }, "No dead letters."));
        return;
      }
      const rows = list.map((d) =>
        h(
          "tr",
          {},
          h("td", { class: "mono" }, d.eventId),
          h("td", {}, d.subscriptionId),
          h("td", {}, d.type),
          h("td", { class: "n" }, num(d.attempts)),
          h("td", {}, `${d.lastStatus ?? "no answer"}${d.lastError ? `: ${d.lastError}` : ""}`),
          h(
            "td",
            {},
            h(
              "button",
              {
                type: "button",
                onclick: async (e) => {
                  e.target.disabled = true;
                  try {
                    const r = await post(`/v1/operator/partners/${partner}/dead-letters/redeliver`, { ids: [d.eventId] });
                    e.target.textContent = `requeued (${r.requeued})`;
                  } catch (err) {
                    refused(err) || (e.target.textContent = err.message);
                  }
                },
              },
              "Redeliver",
            ),
          ),
        ),
      );
      box.replaceChildren(table("Dead letters (latest 20)", ["Event", "Subscription", "Type", "Attempts", "Last answer", ""], rows, { class: "dead" }));
    } catch (e) {
      refused(e) || box.replaceChildren(h("p", { class: "error" }, e.message));
    }
  }

  function render(r) {
    els.asOf.textContent = r.enabled === false ? "Partners are not configured on this serve ([partners])." : `as of ${utc(r.as_of)}`;
    const cards = (r.partners || []).map((p) => {
      const rows = p.subscriptions.map((s) =>
        h(
          "tr",
          { "data-subscription": s.id, "data-failing": String(s.failing) },
          h("th", { scope: "row" }, s.id, h("br"), h("span", { class: "note" }, s.type || ""), h("br"), h("span", { class: "note mono" }, s.sink || "pull only")),
          h("td", {}, badge(s.failing), s.last_failure ? h("div", { class: "note" }, `last: ${s.last_failure.status ?? "no answer"} ${s.last_failure.error}`) : null),
          h("td", { class: "n", "data-k": "delivered" }, num(s.delivered)),
          h("td", { class: "n", "data-k": "queued" }, num(s.queued)),
          h("td", { class: "n", "data-k": "retrying" }, num(s.retrying)),
          h("td", { class: "n", "data-k": "expired" }, num(s.expired)),
          h("td", { class: "n", "data-k": "dead" }, num(s.dead_letters)),
          h("td", { class: "n" }, `${ms(s.latency_mean_ms)} mean, ${ms(s.latency_max_ms)} max`),
          h("td", { class: "n" }, seconds(s.oldest_pending_age_seconds)),
          h("td", {}, circuit(s.circuit)),
        ),
      );
      if (!boxes.has(p.id)) boxes.set(p.id, h("div", { class: "dead-box" }));
      const deadBox = boxes.get(p.id);
      const toggle = h("button", { type: "button", "aria-expanded": String(openDead.has(p.id)) }, "Dead letters…");
      toggle.addEventListener("click", () => {
        if (openDead.has(p.id)) {
          openDead.delete(p.id);
          deadBox.replaceChildren();
        } else {
          openDead.add(p.id);
          showDead(p.id, deadBox);
        }
        toggle.setAttribute("aria-expanded", String(openDead.has(p.id)));
      });
      return h(
        "section",
        { class: "partner", "data-partner": p.id, "data-failing": String(p.failing) },
        h("h2", {}, `${p.name} (partner ${p.id}) `, badge(p.failing)),
        h(
          "div",
          { class: "scroll" },
          table(
            "Subscriptions",
            ["Subscription", "Status", "Delivered", "Queued", "Retrying", "Expired", "Dead letters", "Latency", "Oldest pending", "Circuit"],
            rows.length ? rows : [h("tr", {}, h("td", { colspan: 10 }, "No subscriptions."))],
          ),
        ),
        toggle,
        deadBox,
      );
    });
    els.list.replaceChildren(...(cards.length ? cards : [h("p", { class: "note" }, "No partners yet.")]));
    ready(els.root);
  }

  function load() {
    get("/v1/operator/delivery")
      .then((r) => alive && render(r))
      .catch((e) => refused(e) || (els.asOf.textContent = e.message));
  }

  return {
    mount(el) {
      els.root = el;
      els.asOf = h("p", { class: "note" });
      els.list = h("div", { id: "partners" });
      el.append(h("h1", {}, "Partners: delivery"), els.asOf, els.list);
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
