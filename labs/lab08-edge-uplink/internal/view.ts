// What each role shows on the demo screen (the kit's publishView): its state as data, computed
// here by pure functions of a snapshot, so they are tested without sockets or processes.
import { formatCount, formatSeconds, type View, type ViewCell } from "@zlabs/kit";
import type { BreakerState } from "./breaker.ts";

/**
 * How often a role publishes its view: as often as the kit draws (four a second), since a worker
 * is busy for a quarter of a second at a time in the demo.
 */
export const VIEW_MS = 250;

const ordinal = (i: number) => (i === 1 ? "1st" : i === 2 ? "2nd" : i === 3 ? "3rd" : `${i}th`);

/** "tcp://127.0.0.1:5080" → ":5080" (the demo's endpoints are all on this host); others as given. */
export function shortEndpoint(endpoint: string): string {
  const local = /^tcp:\/\/(?:127\.0\.0\.1|localhost)(:\d+)$/.exec(endpoint);
  return local?.[1] ?? endpoint.replace(/^tcp:\/\//, "");
}

// ─── the central receiver ──────────────────────────────────────────────────────────────────────

/**
 * A worker as the queue knows it. Only idle workers are the queue's business (its LRU line); a busy
 * one is simply not in the line, and the queue cannot tell a worker busy for long from one that
 * died holding a request: it shows how long it has heard nothing.
 */
export interface WorkerRow {
  /** The worker's routing identity, as text where it is printable. */
  name: string;
  state: "idle" | "busy" | "expired" | "gone";
  /** Place in the LRU line, 1 = the next to get a request (idle only). */
  place?: number;
  /** ms in this state. */
  forMs: number;
  /** Replies it sent back through this queue: readings it answered. */
  readings: number;
  /** ms since the worker's last message. */
  heardMs: number;
}

export interface ReceiverSnapshot {
  front: string;
  back: string;
  /** A worker silent this long is dead to the queue (heartbeat × liveness). */
  expiryMs: number;
  workers: WorkerRow[];
  /** Readings routed to workers, replies routed back to devices. */
  requests: number;
  replies: number;
  dropped: number;
}

function workerState(w: WorkerRow, expiryMs: number): ViewCell {
  switch (w.state) {
    case "idle":
      return { text: w.place === 1 ? "idle · next in line" : `idle · ${ordinal(w.place ?? 0)} in line`, tone: "good" };
    case "busy":
      // Past the expiry the queue cannot know whether it is still storing or died holding the request.
      return w.forMs >= expiryMs
        ? { text: `busy ${formatSeconds(w.forMs)}: silent (slow, or dead)`, tone: "bad" }
        : { text: `busy ${formatSeconds(w.forMs)}`, tone: "warn" };
    case "expired":
      return { text: `expired ${formatSeconds(w.forMs)} ago (silent)`, tone: "bad" };
    case "gone":
      return { text: `gone ${formatSeconds(w.forMs)} ago (disconnected)`, tone: "bad" };
  }
}

const ORDER: Record<WorkerRow["state"], number> = { idle: 0, busy: 1, expired: 2, gone: 2 };

/** The receiver: its LRU line of idle workers, the busy ones, the ones it has just lost. */
export function receiverView(s: ReceiverSnapshot): View {
  const idle = s.workers.filter((w) => w.state === "idle").length;
  const busy = s.workers.filter((w) => w.state === "busy" && w.forMs < s.expiryMs).length;
  const lost = s.workers.length - idle - busy;
  const rows = [...s.workers]
    .sort((a, b) => ORDER[a.state] - ORDER[b.state] || (a.place ?? 0) - (b.place ?? 0) || a.forMs - b.forMs)
    .map((w): ViewCell[] => [
      w.name,
      workerState(w, s.expiryMs),
      w.readings,
      w.state === "idle" || w.state === "busy" ? formatSeconds(w.heardMs) : { text: formatSeconds(w.heardMs), tone: "dim" },
    ]);
  const waiting = idle === 0 ? " · no idle worker: requests wait" : "";
  return {
    title: `devices ${shortEndpoint(s.front)} · workers ${shortEndpoint(s.back)} · ${idle} idle, ${busy} busy${lost > 0 ? `, ${lost} silent or lost` : ""}${waiting}`,
    columns: ["WORKER", "STATE", "READINGS", "LAST HEARD"],
    rows,
    summary: `readings routed ${formatCount(s.requests)} · acks back to devices ${formatCount(s.replies)} · malformed dropped ${formatCount(s.dropped)} · a worker silent ${formatSeconds(s.expiryMs)} is purged`,
  };
}

// ─── the ingest worker ─────────────────────────────────────────────────────────────────────────

export interface WorkerSnapshot {
  queue: string;
  /** This connection's routing identity (a fresh one per reconnect). */
  identity: string;
  state: "waiting" | "storing" | "paused";
  /** Heartbeat intervals of silence left before the queue is presumed dead. */
  liveness: number;
  maxLiveness: number;
  /** While paused: ms until it reconnects, and the whole pause. */
  reconnectInMs: number;
  pauseMs: number;
  stored: number;
  duplicates: number;
  reconnects: number;
  dropped: number;
}

/** A worker: one line, what it is doing and what it stored. */
export function workerView(s: WorkerSnapshot): View {
  const where = `${shortEndpoint(s.queue)} as ${s.identity}`;
  const state =
    s.state === "paused"
      ? `queue presumed dead: reconnecting in ${formatSeconds(s.reconnectInMs)} (pause ${formatSeconds(s.pauseMs)})`
      : s.state === "storing"
        ? `storing a reading · ${where}`
        : s.liveness < s.maxLiveness
          ? `queue silent: liveness ${s.liveness}/${s.maxLiveness} · ${where}`
          : `idle, liveness ${s.liveness}/${s.maxLiveness} · ${where}`;
  const dropped = s.dropped > 0 ? ` · dropped ${formatCount(s.dropped)}` : "";
  return {
    title: `${state} · stored ${formatCount(s.stored)} · duplicates ${formatCount(s.duplicates)} · reconnects ${formatCount(s.reconnects)}${dropped}`,
  };
}

// ─── the field device ──────────────────────────────────────────────────────────────────────────

export interface ReceiverRow {
  endpoint: string;
  circuit: BreakerState;
  /** While open: ms until a probe may go. */
  probeInMs: number;
  acked: number;
  /** Attempts that got no reply in time. */
  failed: number;
}

export interface DeviceSnapshot {
  receivers: ReceiverRow[];
  /** The attempt in flight, if any: which receiver, which reading, for how long. */
  sending: { receiver: number; seq: number; forMs: number } | undefined;
  /** The receiver that acked last (-1: none yet). */
  lastAck: number;
  timeoutMs: number;
  outbox: number;
  /** The oldest reading not yet acked: its seq and age. */
  oldest: { seq: number; ageMs: number } | undefined;
  delivered: number;
  failovers: number;
  /** Readings the full outbox dropped. */
  outboxDropped: number;
  /** Every receiver's circuit is open: readings wait in the outbox. */
  buffering: boolean;
}

/** The first receiver is the primary, the others backups, in the order they are tried. */
export function receiverLabel(i: number): string {
  return i === 0 ? "primary" : i === 1 ? "backup" : `backup ${i}`;
}

function circuitCell(r: ReceiverRow): ViewCell {
  switch (r.circuit) {
    case "closed":
      return { text: "circuit closed", tone: "good" };
    case "half-open":
      return { text: "circuit half-open: next request probes", tone: "warn" };
    case "open":
      return { text: `circuit open: probe in ${formatSeconds(r.probeInMs)}`, tone: "bad" };
  }
}

function activityCell(s: DeviceSnapshot, i: number): ViewCell {
  if (s.sending?.receiver === i) {
    const { seq, forMs } = s.sending;
    return {
      text: `◀ sending seq ${seq} (${formatSeconds(forMs)} of ${formatSeconds(s.timeoutMs)})`,
      tone: forMs >= s.timeoutMs / 2 ? "warn" : "info",
    };
  }
  if (!s.sending && s.lastAck === i) return { text: "◀ last ack", tone: "info" };
  return "";
}

/** A device: where its readings go, each receiver's circuit, what waits in its outbox. */
export function deviceView(s: DeviceSnapshot): View {
  const oldest = s.oldest ? ` · oldest seq ${s.oldest.seq}, taken ${formatSeconds(s.oldest.ageMs)} ago` : "";
  const dropped = s.outboxDropped > 0 ? ` · ${formatCount(s.outboxDropped)} dropped (outbox full)` : "";
  const state = s.buffering ? "every receiver unavailable: buffering · " : "";
  return {
    title: `${state}outbox ${formatCount(s.outbox)}${oldest}${dropped} · delivered ${formatCount(s.delivered)} · fail-overs ${formatCount(s.failovers)}`,
    rows: s.receivers.map((r, i): ViewCell[] => [
      `${receiverLabel(i)} ${shortEndpoint(r.endpoint)}`,
      circuitCell(r),
      `acked ${formatCount(r.acked)}`,
      r.failed > 0 ? { text: `no reply ${formatCount(r.failed)}`, tone: "warn" } : { text: "no reply 0", tone: "dim" },
      activityCell(s, i),
    ]),
  };
}
