// What each role shows on the demo screen (the kit's publishView), computed from a snapshot by
// pure functions, so they are tested without sockets. Rates come from a small window of samples.
import { formatCount, formatSeconds, type View, type ViewCell } from "@zlabs/kit";
import type { CaptureCounters } from "./capture.ts";
import type { MonitorCounters, SocketName } from "./monitored-broker.ts";
import type { PeerCounters } from "./peers.ts";
import { type ProxyStatistics, peerName } from "./protocol.ts";

/** How often a role publishes its view (the kit draws at most four a second). */
export const VIEW_MS = 500;
/** Rates are counted over this window. */
export const RATE_WINDOW_MS = 5000;
/** The busiest peers shown; the rest are summed up in one line. */
export const MAX_ROWS = 10;
/** A peer silent this long is shown dimmed. */
const IDLE_MS = 5000;

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GiB`;
}

const rate = (x: number) => (x >= 100 ? formatCount(x) : x.toFixed(1));

/**
 * Events per second per key over the last RATE_WINDOW_MS, from samples of ever-growing counters:
 * the difference between the newest and the oldest sample in the window. Keys not sampled in a
 * window are forgotten, so the window never holds more keys than the table it follows.
 */
export class RateWindow {
  private readonly samples = new Map<string, { at: number; values: number[] }[]>();

  constructor(private readonly windowMs = RATE_WINDOW_MS) {}

  /** Records the counters of `key` at `now` and returns their rates per second. */
  update(key: string, now: number, values: number[]): number[] {
    let list = this.samples.get(key);
    if (!list) {
      list = [];
      this.samples.set(key, list);
    }
    list.push({ at: now, values: [...values] });
    while (list.length > 2 && (list[0] as { at: number }).at < now - this.windowMs) list.shift();
    const first = list[0] as { at: number; values: number[] };
    const span = now - first.at;
    return values.map((v, i) => (span > 0 ? ((v - (first.values[i] ?? 0)) * 1000) / span : 0));
  }

  /** Forgets keys whose last sample is older than the window. */
  prune(now: number): void {
    for (const [key, list] of this.samples) if ((list[list.length - 1]?.at ?? 0) < now - this.windowMs) this.samples.delete(key);
  }

  get size(): number {
    return this.samples.size;
  }
}

export interface ProxySnapshot {
  paused: boolean;
  pausedForMs: number;
  stats: ProxyStatistics;
  /** Least recently heard first. */
  peers: PeerCounters[];
  peersForgotten: number;
  monitor: Record<SocketName, MonitorCounters>;
  capture: CaptureCounters;
  /** The tap's endpoint, undefined when there is none. */
  tap: string | undefined;
  file: string | undefined;
  invalidCommands: number;
  /** What STATISTICS counts. */
  unit: "messages" | "frames";
  /** Monotonic ms of the snapshot. */
  now: number;
}

function monitorText(name: string, m: MonitorCounters): string {
  const failed = m.handshakeFailures + m.acceptFailures;
  return `${name}: ${formatCount(m.accepted)} accepted · ${formatCount(m.disconnected)} disconnected${failed ? ` · ${formatCount(failed)} handshake failures` : ""}`;
}

/** The proxy: every client's rates and totals, the STATISTICS counters, the monitor, the capture. */
export function proxyView(s: ProxySnapshot, rates: RateWindow): View {
  const peerRates = new Map<PeerCounters, number[]>();
  for (const p of s.peers) peerRates.set(p, rates.update(p.id.toString("latin1"), s.now, [p.requests, p.replies]));
  const [inRate = 0, outRate = 0] = rates.update("\0total", s.now, [s.stats.frontMsgsIn, s.stats.frontMsgsOut]);
  rates.prune(s.now);
  const shown = [...s.peers].reverse().slice(0, MAX_ROWS);
  const rows = shown.map((p): ViewCell[] => {
    const [req = 0, rep = 0] = peerRates.get(p) ?? [];
    const idle = s.now - p.lastAt;
    const name = peerName(p.id);
    return [
      idle > IDLE_MS ? { text: name, tone: "dim" } : name,
      req > 0 ? { text: rate(req), tone: "good" } : { text: "0.0", tone: "dim" },
      rep > 0 ? { text: rate(rep), tone: "good" } : { text: "0.0", tone: "dim" },
      formatCount(p.requests),
      p.replies < p.requests ? { text: formatCount(p.replies), tone: s.paused ? "warn" : "info" } : formatCount(p.replies),
      formatBytes(p.requestBytes),
      formatBytes(p.replyBytes),
      idle > IDLE_MS ? { text: formatSeconds(idle), tone: "dim" } : formatSeconds(idle),
    ];
  });
  const more = s.peers.length - shown.length;
  const st = s.stats;
  const c = s.capture;
  const state = s.paused ? `PAUSED ${formatSeconds(s.pausedForMs)}: messages wait in ZeroMQ's queues` : "forwarding";
  const tap = s.tap
    ? `tap ${c.subscriptions} topic${c.subscriptions === 1 ? "" : "s"} · ${formatCount(c.tapSent)} sent · ${formatCount(c.tapDropped)} dropped`
    : "no tap";
  const file = s.file
    ? `file ${formatBytes(c.fileBytes)} · ${formatCount(c.fileWritten)} written · ${formatCount(c.fileDropped)} dropped · rotated ${c.rotations}`
    : "no file";
  return {
    title: `${state} · ${s.peers.length} client${s.peers.length === 1 ? "" : "s"} · ${rate(inRate)} ${s.unit}/s in · ${rate(outRate)} out`,
    columns: ["CLIENT", "REQ/S", "REP/S", "REQUESTS", "REPLIES", "BYTES IN", "BYTES OUT", "IDLE"],
    rows,
    summary: [
      ...(more > 0 || s.peersForgotten > 0
        ? [
            `${more > 0 ? `+${formatCount(more)} quieter clients` : ""}${s.peersForgotten > 0 ? ` · ${formatCount(s.peersForgotten)} forgotten (table full)` : ""}`,
          ]
        : []),
      `STATISTICS (${s.unit}) front in ${formatCount(st.frontMsgsIn)} / ${formatBytes(st.frontBytesIn)} · out ${formatCount(st.frontMsgsOut)} / ${formatBytes(st.frontBytesOut)} | back in ${formatCount(st.backMsgsIn)} / ${formatBytes(st.backBytesIn)} · out ${formatCount(st.backMsgsOut)} / ${formatBytes(st.backBytesOut)}`,
      `monitor ${monitorText("front", s.monitor.front)} | ${monitorText("back", s.monitor.back)}${s.invalidCommands ? ` | ${formatCount(s.invalidCommands)} bad commands` : ""}`,
      `capture ${tap} | ${file}`,
    ],
  };
}

export interface ClientSnapshot {
  id: string;
  sent: number;
  replies: number;
  /** Requests sent again after a timeout. */
  resent: number;
  errors: number;
  /** Lookups a second over the rate window. */
  perSecond: number;
  lastMs: number | undefined;
  /** ms the current request has waited, while it waits longer than a second. */
  waitingMs: number | undefined;
  curve: boolean;
}

export function clientView(s: ClientSnapshot): View {
  const waiting = s.waitingMs !== undefined ? ` · waiting ${formatSeconds(s.waitingMs)}` : "";
  return {
    title: `${s.curve ? "CURVE against a NULL proxy: " : ""}${formatCount(s.replies)} records · ${s.perSecond.toFixed(1)}/s${
      s.lastMs !== undefined ? ` · last ${s.lastMs.toFixed(1)} ms` : ""
    }${waiting}`,
    summary: `sent ${formatCount(s.sent)} · sent again after a timeout ${formatCount(s.resent)} · errors ${formatCount(s.errors)}`,
  };
}

export interface ServiceSnapshot {
  id: string;
  served: number;
  refused: number;
  perSecond: number;
}

export function serviceView(s: ServiceSnapshot): View {
  return {
    title: `${formatCount(s.served)} lookups served · ${s.perSecond.toFixed(1)}/s`,
    summary: `refused (malformed) ${formatCount(s.refused)}`,
  };
}

export interface AuditorSnapshot {
  stalled: boolean;
  captured: { "fe>be": number; "be>fe": number };
  /** Messages missing by their sequence numbers, per direction. */
  missed: { "fe>be": number; "be>fe": number };
  invalid: number;
  perSecond: number;
}

export function auditorView(s: AuditorSnapshot): View {
  if (s.stalled)
    return { title: "stalled: subscribed to the tap, reading nothing", summary: "the proxy's tap drops what it cannot queue for me" };
  const missed = s.missed["fe>be"] + s.missed["be>fe"];
  return {
    title: `${formatCount(s.captured["fe>be"] + s.captured["be>fe"])} messages captured · ${s.perSecond.toFixed(1)}/s`,
    columns: ["DIRECTION", "CAPTURED", "MISSED (SEQ GAPS)"],
    rows: (["fe>be", "be>fe"] as const).map((d) => [
      d === "fe>be" ? "fe>be requests" : "be>fe replies",
      formatCount(s.captured[d]),
      s.missed[d] > 0 ? { text: formatCount(s.missed[d]), tone: "bad" } : { text: "0", tone: "good" },
    ]),
    summary: `${missed > 0 ? "gaps: the tap dropped messages for a full subscriber" : "no gaps"} · invalid ${formatCount(s.invalid)}`,
  };
}
