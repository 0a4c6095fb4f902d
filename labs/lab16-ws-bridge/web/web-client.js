// lab16's page: one WebSocket to the bridge, binary messages only (the format is in the README's
// wire section), this browser's own subscriptions, a live agent table and a live uPlot chart.
/* global msgpackr, uPlot */

const KIND_LIVE = 1;
const KIND_CACHED = 2;
const KIND_NOTICE = 3;
const OP_SUBSCRIBE = 1;
const OP_UNSUBSCRIBE = 0;
const NOTICE = { 1: "subscribed", 2: "unsubscribed", 3: "refused", 4: "hello" };
const SUSPECT_AFTER = 1.5;
const DEAD_AFTER = 3;
const MAX_POINTS = 600;
const MAX_AGENTS = 1000;
const NAME_RE = /^[A-Za-z0-9_-]{1,64}$/;
const PREFIX_RE = /^[A-Za-z0-9_.-]{0,200}$/;
const PRESETS = ["hb.", "hb.crit.", "plant3.pump1.", "plant3.pump1.flow", "plant3.boiler.temp"];

const params = new URLSearchParams(location.search);
const state = {
  prefixes: params.getAll("sub").filter((p) => PREFIX_RE.test(p)),
  agents: new Map(), // "rack/agent" -> record
  series: new Map(), // topic -> { units }
  rows: [], // [t, {topic: value}]
  lastSeq: 0,
  received: 0,
  gaps: 0,
  malformed: 0,
  /** Messages for a prefix unsubscribed while they were on their way, left out. */
  late: 0,
  ws: null,
  chart: null,
  chartKey: "",
  dirty: false,
};
if (!params.has("sub")) state.prefixes = ["hb.", "plant3.pump1.flow"];

const $ = (id) => document.getElementById(id);
const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder();
const num = (v) => (typeof v === "bigint" ? Number(v) : v);
const isNum = (v, min, max) => typeof v === "number" && Number.isFinite(v) && v >= min && v <= max;

function connect() {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  ws.binaryType = "arraybuffer";
  state.ws = ws;
  setStatus("connecting", "connecting…");
  ws.onopen = () => {
    setStatus("open", "live");
    state.lastSeq = 0;
    for (const p of state.prefixes) send(OP_SUBSCRIBE, p);
  };
  ws.onmessage = (ev) => onMessage(ev.data);
  ws.onclose = (ev) => {
    setStatus("closed", `disconnected (${ev.code}); retrying`);
    setTimeout(connect, 1000);
  };
}

function setStatus(s, text) {
  $("status").dataset.status = s;
  $("status").textContent = text;
}

function send(op, prefix) {
  if (state.ws?.readyState !== WebSocket.OPEN) return;
  const bytes = new Uint8Array(1 + prefix.length);
  bytes[0] = op;
  for (let i = 0; i < prefix.length; i++) bytes[i + 1] = prefix.charCodeAt(i);
  state.ws.send(bytes);
}

function onMessage(buf) {
  if (!(buf instanceof ArrayBuffer) || buf.byteLength < 6) return countMalformed();
  const view = new DataView(buf);
  const kind = view.getUint8(0);
  if (kind === KIND_NOTICE) {
    const text = utf8.decode(new Uint8Array(buf, 6));
    $("notice").textContent =
      `${NOTICE[view.getUint8(1)] ?? "notice"}: ${text}${view.getUint8(1) === 1 ? ` (${view.getUint32(2)} cached values at once)` : ""}`;
    return;
  }
  if (kind !== KIND_LIVE && kind !== KIND_CACHED) return countMalformed();
  const seq = view.getUint32(1);
  if (state.lastSeq && seq > state.lastSeq + 1) state.gaps += seq - state.lastSeq - 1;
  state.lastSeq = seq;
  const frames = [];
  let at = 6;
  for (let i = 0, n = view.getUint8(5); i < n; i++) {
    if (at + 4 > buf.byteLength) return countMalformed();
    const len = view.getUint32(at);
    if (at + 4 + len > buf.byteLength) return countMalformed();
    frames.push(new Uint8Array(buf, at + 4, len));
    at += 4 + len;
  }
  state.received++;
  const topic = latin1.decode(frames[0]);
  // Sent before the bridge had our unsubscribe: drawn, it would put the series back on the chart.
  if (!matched(topic)) {
    state.late++;
    return;
  }
  try {
    if (topic.startsWith("hb.") && frames.length === 2) onHeartbeat(topic, msgpackr.unpack(frames[1]), kind === KIND_CACHED);
    else if (frames.length === 3) onSample(topic, msgpackr.unpack(frames[1]), frames[2]);
    else state.malformed++;
  } catch {
    state.malformed++;
  }
  state.dirty = true;
}

function onHeartbeat(topic, hb, cached) {
  const m = hb?.metrics;
  const ok =
    hb &&
    num(hb.v) === 1 &&
    NAME_RE.test(hb.agent) &&
    NAME_RE.test(hb.rack) &&
    ["ok", "warn", "crit"].includes(hb.level) &&
    isNum(num(hb.seq), 1, Number.MAX_SAFE_INTEGER) &&
    isNum(num(hb.intervalMs), 1, 3_600_000) &&
    m &&
    isNum(m.cpu, 0, 1) &&
    isNum(num(m.memUsedBytes), 0, Infinity) &&
    isNum(num(m.memTotalBytes), 0, Infinity) &&
    topic === `hb.${hb.level}.${hb.rack}.${hb.agent}.`;
  if (!ok) return countMalformed();
  const key = `${hb.rack}/${hb.agent}`;
  let a = state.agents.get(key);
  if (!a) {
    if (state.agents.size >= MAX_AGENTS) return countMalformed();
    a = { agent: hb.agent, rack: hb.rack, lastSeq: 0, lost: 0, incarnation: hb.incarnation };
    state.agents.set(key, a);
  }
  const seq = num(hb.seq);
  if (a.incarnation === hb.incarnation && a.lastSeq && seq > a.lastSeq + 1) a.lost += seq - a.lastSeq - 1;
  if (a.incarnation === hb.incarnation && seq <= a.lastSeq) return; // the same beat on the old level's topic
  a.incarnation = hb.incarnation;
  a.lastSeq = seq;
  a.topic = topic;
  a.level = hb.level;
  a.intervalMs = num(hb.intervalMs);
  a.cpu = m.cpu;
  a.mem = num(m.memTotalBytes) ? num(m.memUsedBytes) / num(m.memTotalBytes) : 0;
  // A cached beat is as old as its sender's clock says (same host in the demo).
  const age = cached ? Math.max(0, Date.now() - num(hb.sentAt)) : 0;
  a.lastSeen = performance.now() - age;
}

function onSample(topic, h, payload) {
  const count = num(h?.count);
  if (!h || num(h.v) !== 1 || h.schema !== "f64le" || !isNum(count, 1, 4096) || payload.byteLength !== count * 8) return countMalformed();
  const dv = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const value = dv.getFloat64((count - 1) * 8, true);
  if (!state.series.has(topic)) state.series.set(topic, { units: typeof h.units === "string" ? h.units.slice(0, 32) : "" });
  const t = isNum(num(h.ts), 0, Infinity) ? num(h.ts) / 1000 : Date.now() / 1000;
  state.rows.push([t, topic, value]);
  if (state.rows.length > MAX_POINTS * 4) state.rows.splice(0, state.rows.length - MAX_POINTS * 4);
}

function countMalformed() {
  state.malformed++;
}

const matched = (topic) => state.prefixes.some((p) => topic.startsWith(p));

function subscribe(prefix) {
  if (!PREFIX_RE.test(prefix) || state.prefixes.includes(prefix)) return;
  state.prefixes.push(prefix);
  send(OP_SUBSCRIBE, prefix);
  drawSubs();
}

function unsubscribe(prefix) {
  state.prefixes = state.prefixes.filter((p) => p !== prefix);
  send(OP_UNSUBSCRIBE, prefix);
  // What no prefix matches any more leaves the page: the chart follows the subscriptions.
  for (const topic of [...state.series.keys()]) if (!matched(topic)) state.series.delete(topic);
  state.rows = state.rows.filter((r) => state.series.has(r[1]));
  for (const [key, a] of state.agents) if (!matched(a.topic)) state.agents.delete(key);
  drawSubs();
  state.dirty = true;
}

function drawSubs() {
  const ul = $("subs");
  ul.replaceChildren(
    ...state.prefixes.map((p) => {
      const li = document.createElement("li");
      li.dataset.prefix = p;
      li.textContent = p || "(everything)";
      const x = document.createElement("button");
      x.type = "button";
      x.title = `unsubscribe ${p}`;
      x.textContent = "×";
      x.onclick = () => unsubscribe(p);
      li.append(x);
      return li;
    }),
  );
  const history = new URLSearchParams(state.prefixes.map((p) => ["sub", p]));
  window.history.replaceState(null, "", `?${history}`);
}

function drawAgents() {
  const now = performance.now();
  const counts = { alive: 0, suspect: 0, dead: 0 };
  const rows = [...state.agents.values()].sort((x, y) => (x.rack + x.agent).localeCompare(y.rack + y.agent));
  const tbody = $("agents").tBodies[0];
  tbody.replaceChildren(
    ...rows.map((a) => {
      const silent = now - a.lastSeen;
      const st = silent >= a.intervalMs * DEAD_AFTER ? "dead" : silent >= a.intervalMs * SUSPECT_AFTER ? "suspect" : "alive";
      counts[st]++;
      const tr = document.createElement("tr");
      tr.dataset.agent = a.agent;
      tr.dataset.state = st;
      const cells = [
        a.agent,
        a.rack,
        st,
        `${(Math.max(0, silent) / 1000).toFixed(1)} s ago`,
        a.level,
        `${Math.round(a.cpu * 100)}%`,
        `${Math.round(a.mem * 100)}%`,
        a.lastSeq,
        a.lost,
      ];
      for (const [i, c] of cells.entries()) {
        const td = document.createElement("td");
        td.textContent = String(c);
        if (i === 2) td.className = "state";
        if (i === 4) td.className = `level-${a.level}`;
        tr.append(td);
      }
      return tr;
    }),
  );
  $("agents-summary").textContent = `${rows.length} agents: ${counts.alive} alive, ${counts.suspect} suspect, ${counts.dead} dead`;
}

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

function drawChart() {
  const topics = [...state.series.keys()].sort();
  const key = topics.join(",");
  const el = $("chart");
  if (key !== state.chartKey) {
    state.chart?.destroy();
    state.chart = null;
    state.chartKey = key;
    el.dataset.series = key;
    if (topics.length) {
      state.chart = new uPlot(
        {
          width: Math.max(400, el.clientWidth - 10),
          height: 320,
          series: [
            {},
            ...topics.map((t, i) => ({
              label: `${t} (${state.series.get(t).units})`,
              stroke: COLORS[i % COLORS.length],
              width: 2,
              spanGaps: true,
            })),
          ],
          axes: [{}, { size: 60 }],
        },
        [[], ...topics.map(() => [])],
        el,
      );
    }
  }
  if (!state.chart) {
    $("chart-summary").textContent = "no telemetry subscribed: subscribe to plant3.";
    return;
  }
  const rows = state.rows.slice(-MAX_POINTS);
  const xs = rows.map((r) => r[0]);
  const data = [xs, ...topics.map((t) => rows.map((r) => (r[1] === t ? r[2] : null)))];
  state.chart.setData(data);
  el.dataset.points = String(rows.length);
  $("chart-summary").textContent = `${topics.length} series, ${rows.length} points`;
}

function drawCounters() {
  $("counters").textContent =
    `${state.received} messages · seq gaps ${state.gaps} · malformed ${state.malformed} · late after an unsubscribe ${state.late}`;
}

$("sub-form").onsubmit = (ev) => {
  ev.preventDefault();
  const p = $("prefix").value.trim();
  if (!PREFIX_RE.test(p)) {
    $("notice").textContent = "a prefix is at most 200 characters of A-Z a-z 0-9 _ . -";
    return;
  }
  subscribe(p);
  $("prefix").value = "";
};
$("presets").replaceChildren(
  ...PRESETS.map((p) => {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = p;
    b.onclick = () => subscribe(p);
    return b;
  }),
);

drawSubs();
connect();
setInterval(() => {
  drawAgents();
  drawCounters();
  if (state.dirty) {
    state.dirty = false;
    drawChart();
  }
}, 250);
