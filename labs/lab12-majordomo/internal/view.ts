// What the broker, the workers and the client show on the demo screen (the kit's publishView):
// their state as data, computed by pure functions of a snapshot, so they are tested without sockets.
import { formatCount, formatSeconds, type View, type ViewCell } from "@zlabs/kit";
import type { WorkerState, WorkerStats } from "./worker.ts";

/** How often a role publishes its view (the kit draws at most four a second). */
export const VIEW_MS = 500;

const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? "" : "s"}`;
const dim = (text: string): ViewCell => ({ text, tone: "dim" });

export interface ServiceRow {
  name: string;
  idle: number;
  busy: number;
  /** Requests waiting for a worker. */
  waiting: number;
  /** How long the oldest waiting request has waited, ms. */
  oldestWaitMs: number | undefined;
  served: number;
  expired: number;
}

export interface BrokerSnapshot {
  services: ServiceRow[];
  counts: {
    requests: number;
    replies: number;
    mmi: number;
    expired: number;
    redispatched: number;
    failed: number;
    violations: number;
    dropped: number;
    afterDisconnect: number;
    undeliverable: number;
    workersExpired: number;
  };
  heartbeatMs: number;
  liveness: number;
  requestExpiryMs: number;
}

function workersCell(s: ServiceRow): ViewCell {
  if (s.idle + s.busy === 0) return { text: "none", tone: "bad" };
  return { text: `${s.idle} idle, ${s.busy} busy`, tone: s.idle > 0 ? "good" : "warn" };
}

function waitingCell(s: ServiceRow, expiryMs: number): ViewCell {
  if (s.waiting === 0) return dim("0");
  const oldest = s.oldestWaitMs ?? 0;
  // Half-way to expiry: the service is starved.
  return { text: `${s.waiting} (oldest ${formatSeconds(oldest)})`, tone: oldest > expiryMs / 2 ? "bad" : "warn" };
}

/** The broker: one row per service with its workers and waiting requests; what it counted. */
export function brokerView(s: BrokerSnapshot): View {
  const services = [...s.services].sort((a, b) => a.name.localeCompare(b.name));
  const workers = services.reduce((n, x) => n + x.idle + x.busy, 0);
  const waiting = services.reduce((n, x) => n + x.waiting, 0);
  const c = s.counts;
  return {
    title: `${plural(services.length, "service")} · ${plural(workers, "worker")} · ${plural(waiting, "request")} waiting`,
    columns: ["SERVICE", "WORKERS", "WAITING", "SERVED", "EXPIRED"],
    rows: services.map((x): ViewCell[] => [
      x.name,
      workersCell(x),
      waitingCell(x, s.requestExpiryMs),
      formatCount(x.served),
      x.expired > 0 ? { text: formatCount(x.expired), tone: "bad" } : dim("0"),
    ]),
    summary: [
      `requests ${formatCount(c.requests)} · replies ${formatCount(c.replies)} · mmi ${formatCount(c.mmi)} · sent again after a worker died ${formatCount(c.redispatched)} · failed ${formatCount(c.failed)}`,
      `workers expired ${formatCount(c.workersExpired)} · violations (DISCONNECT) ${formatCount(c.violations)} · dropped ${formatCount(c.dropped + c.afterDisconnect)} · heartbeat ${formatSeconds(s.heartbeatMs)} × ${s.liveness} · expiry ${formatSeconds(s.requestExpiryMs)}`,
    ],
  };
}

export interface WorkerSnapshot extends WorkerStats {
  service: string;
  state: WorkerState;
}

const stateTone = { connecting: "warn", idle: "good", busy: "info" } as const;

/** A worker: its service, its state and what it counted. */
export function workerView(s: WorkerSnapshot): View {
  return {
    title: `${s.service}: ${s.state}`,
    columns: ["STATE", "REQUESTS", "REPLIES", "FAILED", "RE-REGISTERED", "DISCONNECTS", "DROPPED"],
    rows: [
      [
        { text: s.state, tone: stateTone[s.state] },
        formatCount(s.requests),
        formatCount(s.replies),
        s.failed > 0 ? { text: formatCount(s.failed), tone: "bad" } : dim("0"),
        formatCount(s.reconnects),
        formatCount(s.disconnects),
        s.dropped > 0 ? { text: formatCount(s.dropped), tone: "warn" } : dim("0"),
      ],
    ],
  };
}

export interface ClientSnapshot {
  mode: "sync" | "async";
  sent: number;
  replies: number;
  inFlight: number;
  /** Attempts after a timeout (synchronous client). */
  retries: number;
  timeouts: number;
  /** Broker error replies: expired (504) or failed (503). */
  errors: number;
  /** Hash lookups answered "malicious". */
  malicious: number;
  perSecond: number;
}

/** The client: requests sent and how they ended. */
export function clientView(s: ClientSnapshot): View {
  return {
    title: `${s.mode === "async" ? "asynchronous" : "synchronous (Lazy Pirate)"} client · ${s.perSecond.toFixed(1)} replies/s`,
    columns: ["SENT", "REPLIES", "IN FLIGHT", "SENT AGAIN", "TIMED OUT", "BROKER ERRORS", "MALICIOUS"],
    rows: [
      [
        formatCount(s.sent),
        formatCount(s.replies),
        formatCount(s.inFlight),
        s.retries > 0 ? { text: formatCount(s.retries), tone: "warn" } : dim("0"),
        s.timeouts > 0 ? { text: formatCount(s.timeouts), tone: "bad" } : dim("0"),
        s.errors > 0 ? { text: formatCount(s.errors), tone: "bad" } : dim("0"),
        s.malicious > 0 ? { text: formatCount(s.malicious), tone: "bad" } : dim("0"),
      ],
    ],
  };
}
