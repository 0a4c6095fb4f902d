// What each role shows on the demo screen (the kit's publishView): its state as data, computed
// here by pure functions of a snapshot, so they are tested without sockets.
import { formatCount, formatSeconds, type View, type ViewCell } from "@zlabs/kit";

/** How often a role publishes its view (the kit draws at most four a second). */
export const VIEW_MS = 500;
/** Rates are counted over this window. */
export const RATE_WINDOW_MS = 2000;

/** Events per second over the last RATE_WINDOW_MS, from a counter sampled now and then. */
export class RateMeter {
  private samples: { at: number; value: number }[] = [];

  sample(at: number, value: number): void {
    this.samples.push({ at, value });
    while (this.samples.length > 2 && (this.samples[1]?.at ?? at) <= at - RATE_WINDOW_MS) this.samples.shift();
  }

  get perSecond(): number {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    if (!first || !last || last.at <= first.at) return 0;
    return ((last.value - first.value) * 1000) / (last.at - first.at);
  }
}

export interface ClientRow {
  /** The client's routing id, as text where it is printable. */
  name: string;
  inflight: number;
  acked: number;
  busy: number;
  /** BUSY replies per second to this client lately. */
  busyPerSec: number;
  /** ms since its last request. */
  silentMs: number;
}

export interface GatewaySnapshot {
  inflight: number;
  maxInflight: number;
  /** Age of the oldest request in the archive's hands, ms (0: none). */
  oldestMs: number;
  /** Why the gateway answers BUSY now, if it does. */
  busyReason: string | undefined;
  clients: ClientRow[];
  acked: number;
  ackedPerSec: number;
  busy: number;
  busyPerSec: number;
  lost: number;
  clientGone: number;
  malformed: number;
  requestTtlMs: number;
}

/** A client silent this long is shown as idle. */
const IDLE_MS = 2000;

function clientState(c: ClientRow): ViewCell {
  if (c.busyPerSec > 0) return { text: `told BUSY ${Math.round(c.busyPerSec)}/s`, tone: "warn" };
  if (c.silentMs >= IDLE_MS) return { text: `silent ${formatSeconds(c.silentMs)}`, tone: "dim" };
  return { text: "sending", tone: "good" };
}

/** The gateway: how much is in the archive's hands against the bound, each client's share, the totals. */
export function gatewayView(s: GatewaySnapshot): View {
  const gauge = `${s.inflight}/${s.maxInflight} in flight`;
  const title = s.busyReason
    ? `${gauge} · BUSY: ${s.busyReason}`
    : `${gauge} · ${Math.round(s.ackedPerSec)} archived/s · ${s.clients.length} client${s.clients.length === 1 ? "" : "s"}`;
  const rows = s.clients.map((c): ViewCell[] => [
    c.name,
    c.inflight > 0 ? c.inflight : { text: 0, tone: "dim" },
    formatCount(c.acked),
    c.busy > 0 ? { text: formatCount(c.busy), tone: c.busyPerSec > 0 ? "warn" : "dim" } : { text: 0, tone: "dim" },
    clientState(c),
  ]);
  const oldest = s.oldestMs > 0 ? ` · oldest in flight ${formatSeconds(s.oldestMs)} (lost at ${formatSeconds(s.requestTtlMs)})` : "";
  return {
    title,
    columns: ["CLIENT", "IN FLIGHT", "ARCHIVED", "BUSY", "STATE"],
    rows,
    summary: [
      `archived ${formatCount(s.acked)} · BUSY ${formatCount(s.busy)} (${Math.round(s.busyPerSec)}/s)${oldest}`,
      `lost (no archive reply in time) ${formatCount(s.lost)} · replies to gone clients ${formatCount(s.clientGone)} · malformed ${formatCount(s.malformed)}`,
    ],
  };
}

export interface ClientSnapshot {
  acked: number;
  /** 0: no end. */
  records: number;
  inflight: number;
  window: number;
  waitingAfterBusy: number;
  busy: number;
  timeouts: number;
  duplicates: number;
  ackedPerSec: number;
}

/** A client: one line, its own side of the story (waiting after BUSY, sent again after a timeout). */
export function clientView(s: ClientSnapshot): View {
  const of = s.records > 0 ? `/${formatCount(s.records)}` : "";
  const waiting = s.waitingAfterBusy > 0 ? ` · ${s.waitingAfterBusy} waiting after BUSY` : "";
  return {
    title:
      `acked ${formatCount(s.acked)}${of} (${Math.round(s.ackedPerSec)}/s) · in flight ${s.inflight}/${s.window}${waiting}` +
      ` · BUSY ${formatCount(s.busy)} · sent again ${formatCount(s.timeouts)} · duplicates ${formatCount(s.duplicates)}`,
  };
}

export interface ArchivistSnapshot {
  stored: number;
  duplicates: number;
  delayMs: number;
  files: number;
  keep: number;
}

/** An archivist: one line, what it stored and how big the shared archive is. */
export function archivistView(s: ArchivistSnapshot): View {
  const pace = s.delayMs > 0 ? ` · ${s.delayMs} ms per record` : "";
  const bound = s.keep > 0 ? `keeps about ${formatCount(s.keep)}` : "keeps all";
  return {
    title: `stored ${formatCount(s.stored)} · duplicates ${formatCount(s.duplicates)}${pace} · archive ${formatCount(s.files)} records (${bound})`,
  };
}
