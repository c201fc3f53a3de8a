// The console: the key, the live feed (one connection for every page), and the pages by
// the URL's hash (#now, #flow, #health, #partners). A page is an object with
// `mount(el, state)`, `update(update)` (a live update) and `unmount()`.
import { key, live, Unauthorized } from "./api.js";
import { nowPage } from "./now.js";
import { flowPage } from "./flow.js";
import { healthPage } from "./health.js";
import { partnersPage } from "./partners.js";

const PAGES = { now: nowPage, flow: flowPage, health: healthPage, partners: partnersPage };

const state = { latest: null, updates: 0 };
let current = null;
let stopLive = null;

const $ = (id) => document.getElementById(id);

function setStatus(text, bad = false) {
  const s = $("status");
  s.textContent = text;
  s.classList.toggle("bad", bad);
}

function showLogin(message = "") {
  if (stopLive) stopLive();
  stopLive = null;
  if (current) current.unmount();
  current = null;
  $("page").replaceChildren();
  $("login").hidden = false;
  $("logout").hidden = true;
  $("login-error").textContent = message;
  setStatus("not connected");
  $("key").focus();
}

// A page's call was refused: back to the key.
export function refused(e) {
  if (e instanceof Unauthorized) {
    key.clear();
    showLogin("That key was refused.");
    return true;
  }
  return false;
}

function route() {
  if (!key.get()) return showLogin();
  $("login").hidden = true;
  $("logout").hidden = false;
  const name = PAGES[location.hash.slice(1)] ? location.hash.slice(1) : "now";
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.page === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (current) current.unmount();
  const el = $("page");
  el.replaceChildren();
  el.dataset.page = name;
  delete el.dataset.ready;
  document.title = `${name[0].toUpperCase()}${name.slice(1)} · landfall console`;
  current = PAGES[name]();
  current.mount(el, state);
  if (state.latest) current.update(state.latest);
  if (!stopLive) {
    stopLive = live(
      (u) => {
        state.latest = u;
        state.updates += 1;
        if (!state.firstUpdateAt) state.firstUpdateAt = performance.now();
        if (current) current.update(u);
      },
      (text, bad) => {
        setStatus(text, bad);
        if (text === "key refused") {
          key.clear();
          showLogin("That key was refused.");
        }
      },
    );
  }
}

$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  key.set($("key").value.trim());
  $("key").value = "";
  route();
});
$("logout").addEventListener("click", () => {
  key.clear();
  showLogin();
});
window.addEventListener("hashchange", route);
// For the browser test: how many live updates this page has applied since it loaded.
window.landfallConsole = state;
route();
