// lab10's SOC page: one WebSocket to the dashboard's bridge (lab16's binary format: [kind u8][seq u32]
// [frame count u8] then per frame [length u32][bytes]); it subscribes to "soc." and draws the live
// alerts, the event rates per stage and the registry's services. Bodies are JSON.
const KIND_LIVE = 1;
const KIND_CACHED = 2;
const STALE_MS = 5000;
const MAX_ALERTS = 50;
const state = { alerts: new Map(), stats: new Map(), services: [], fresh: new Set() };
const $ = (id) => document.getElementById(id);
const utf8 = new TextDecoder();

function connect() {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => {
    status("open", "live");
    const prefix = "soc.";
    const bytes = new Uint8Array(1 + prefix.length);
    bytes[0] = 1;
    for (let i = 0; i < prefix.length; i++) bytes[i + 1] = prefix.charCodeAt(i);
    ws.send(bytes);
  };
  ws.onmessage = (ev) => onMessage(ev.data);
  ws.onclose = () => {
    status("closed", "disconnected: retrying");
    setTimeout(connect, 1000);
  };
}

function status(s, text) {
  $("status").dataset.status = s;
  $("status").textContent = text;
}

function frames(buf) {
  const view = new DataView(buf);
  const kind = view.getUint8(0);
  if (kind !== KIND_LIVE && kind !== KIND_CACHED) return undefined;
  const count = view.getUint8(5);
  const out = [];
  let at = 6;
  for (let i = 0; i < count; i++) {
    if (at + 4 > buf.byteLength) return undefined;
    const len = view.getUint32(at);
    if (at + 4 + len > buf.byteLength) return undefined;
    out.push(new Uint8Array(buf, at + 4, len));
    at += 4 + len;
  }
  return out;
}

function onMessage(buf) {
  if (!(buf instanceof ArrayBuffer) || buf.byteLength < 6) return;
  const f = frames(buf);
  if (f?.length !== 2) return;
  const topic = utf8.decode(f[0]);
  let body;
  try {
    body = JSON.parse(utf8.decode(f[1]));
  } catch {
    return;
  }
  if (topic === "soc.alerts" && Array.isArray(body.alerts)) for (const a of body.alerts) addAlert(a, false);
  else if (topic === "soc.alert") addAlert(body, true);
  else if (topic === "soc.services" && Array.isArray(body.services)) state.services = body.services;
  else if (topic.startsWith("soc.stats.")) onStats(topic.slice(10), body);
  schedule();
}

const keyOf = (a) => `${a.severity}:${a.rule}:${a.subject}`;

function addAlert(a, live) {
  if (typeof a !== "object" || !a || typeof a.rule !== "string") return;
  const key = keyOf(a);
  const known = state.alerts.get(key);
  if (!known || a.lastSeen >= known.lastSeen || a.count > known.count) state.alerts.set(key, { ...known, ...a });
  if (live && !known) state.fresh.add(key);
  if (state.alerts.size > MAX_ALERTS) {
    const oldest = [...state.alerts.values()].sort((x, y) => x.lastSeen - y.lastSeen)[0];
    state.alerts.delete(keyOf(oldest));
  }
}

function onStats(key, s) {
  const prev = state.stats.get(key);
  const rate = (field) =>
    prev && typeof s[field] === "number" && s.at > prev.at
      ? Math.max(0, ((s[field] - (prev[field] ?? 0)) * 1000) / (s.at - prev.at))
      : undefined;
  state.stats.set(key, { ...s, inRate: rate("in"), outRate: rate("out"), seen: Date.now() });
}

let pending = false;
function schedule() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    draw();
  });
}

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  tr.appendChild(td);
}

function fill(table, rows) {
  const body = $(table).tBodies[0];
  body.replaceChildren(...rows);
}

const fmt = (x) => (x === undefined ? "-" : Number.isInteger(x) || x >= 100 ? Math.round(x).toString() : x.toFixed(1));

function draw() {
  const alerts = [...state.alerts.entries()].sort((a, b) => b[1].lastSeen - a[1].lastSeen);
  fill(
    "alerts",
    alerts.map(([key, a]) => {
      const tr = document.createElement("tr");
      tr.dataset.rule = a.rule;
      tr.dataset.subject = a.subject;
      if (state.fresh.has(key)) tr.className = "fresh";
      cell(tr, a.severity, `sev-${a.severity}`);
      cell(tr, a.rule);
      cell(tr, a.subject);
      cell(tr, a.summary);
      cell(tr, String(a.count));
      cell(tr, new Date(a.lastSeen).toLocaleTimeString());
      return tr;
    }),
  );
  state.fresh.clear();
  $("alert-count").textContent = `${alerts.length}`;
  const now = Date.now();
  fill(
    "stages",
    [...state.stats.entries()]
      .sort()
      .filter(([, s]) => s.in !== undefined || s.out !== undefined)
      .map(([, s]) => {
        const tr = document.createElement("tr");
        const stale = now - s.seen > STALE_MS;
        cell(tr, s.stage ?? s.type, stale ? "stale" : "");
        cell(tr, s.instance);
        cell(tr, fmt(s.inRate));
        cell(tr, fmt(s.outRate));
        cell(tr, String(s.out ?? s.in ?? 0));
        const detail = Object.entries(s)
          .filter(
            ([k, v]) => !["type", "instance", "at", "stage", "in", "out", "inRate", "outRate", "seen"].includes(k) && typeof v !== "object",
          )
          .map(([k, v]) => `${k} ${typeof v === "number" ? fmt(v) : v}`)
          .join(" · ");
        cell(tr, stale ? `silent ${Math.round((now - s.seen) / 1000)} s` : detail);
        return tr;
      }),
  );
  fill(
    "services",
    state.services.map((r) => {
      const tr = document.createElement("tr");
      tr.dataset.type = r.type;
      cell(tr, r.type);
      cell(tr, r.instance);
      cell(tr, r.endpoint);
      cell(tr, r.health, `health-${r.health}`);
      const s = state.stats.get(`${r.type}.${r.instance}`);
      cell(tr, s ? `${now - s.seen < STALE_MS ? "reporting" : "silent"}` : "-", s && now - s.seen >= STALE_MS ? "stale" : "");
      return tr;
    }),
  );
  $("summary").textContent = `${state.services.length} services · ${alerts.length} alerts`;
}

setInterval(draw, 1000);
connect();
