// The operator endpoints: the key (kept in this tab's session storage), JSON calls, and
// the live feed (Server-Sent Events read through fetch, since EventSource cannot send
// the Authorization header).

const KEY = "landfall.operatorKey";

export const key = {
  get: () => sessionStorage.getItem(KEY),
  set: (k) => sessionStorage.setItem(KEY, k),
  clear: () => sessionStorage.removeItem(KEY),
};

export class Unauthorized extends Error {}

function headers(extra = {}) {
  return { Authorization: `Bearer ${key.get()}`, ...extra };
}

async function check(r) {
  if (r.status === 401) throw new Unauthorized("the operator key was refused");
  if (!r.ok) {
    let message = `${r.status} ${r.statusText}`;
    try {
      const body = await r.json();
      message = body.error || body.message || message;
    } catch (_) {
      /* not JSON */
    }
    throw new Error(message);
  }
  return r.json();
}

export async function get(path) {
  return check(await fetch(path, { headers: headers(), cache: "no-store" }));
}

export async function post(path, body) {
  return check(
    await fetch(path, {
      method: "POST",
      headers: headers({ "Content-Type": "application/json" }),
      body: JSON.stringify(body),
    }),
  );
}

// Follow the live feed: `onUpdate(update)` for every `update` event, `onState(text)`
// when the connection changes. Reconnects after a pause; returns a stop function.
export function live(onUpdate, onState) {
  let stopped = false;
  let controller = null;
  const run = async () => {
    while (!stopped) {
      controller = new AbortController();
      try {
        const r = await fetch("/v1/operator/live", {
          headers: headers({ Accept: "text/event-stream" }),
          signal: controller.signal,
          cache: "no-store",
        });
        if (r.status === 401) {
          onState("key refused", true);
          return;
        }
        if (!r.ok) throw new Error(`${r.status}`);
        onState("live");
        await readEvents(r.body, (event, data) => {
          if (event === "update") onUpdate(JSON.parse(data));
        });
        if (!stopped) onState("reconnecting…");
      } catch (e) {
        if (stopped) return;
        onState("reconnecting…");
      }
      await new Promise((ok) => setTimeout(ok, 1000));
    }
  };
  run();
  return () => {
    stopped = true;
    if (controller) controller.abort();
  };
}

// The text/event-stream format: events separated by a blank line, `event:` and `data:`
// fields (data lines joined by newlines), comments (`:`) ignored.
async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let m;
    while ((m = /\r?\n\r?\n/.exec(buffer))) {
      const block = buffer.slice(0, m.index);
      buffer = buffer.slice(m.index + m[0].length);
      let event = "message";
      const data = [];
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith(":")) continue;
        const i = line.indexOf(":");
        const field = i < 0 ? line : line.slice(0, i);
        const value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
        if (field === "event") event = value;
        else if (field === "data") data.push(value);
      }
      if (data.length) onEvent(event, data.join("\n"));
    }
  }
}
