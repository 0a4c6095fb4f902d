import { formatCount, formatSeconds, type View, type ViewCell } from "@zlabs/kit";
import { keyLabel } from "./keys.ts";

/** A client the server has answered, keyed by routing id. */
export interface ClientEntry {
  id: Buffer;
  lookups: number;
  malicious: number;
  /** performance.now() of its last request. */
  lastSeen: number;
}

export interface ServerStats {
  endpoint: string;
  publicKey: string;
  /** TCP connections open now (accepted minus disconnected): handshaking or secure. */
  connections: number;
  handshakesOk: number;
  /** Failed handshakes by error code (ERR_ZMTP_CRYPTOGRAPHIC, ERR_ZMTP_MECHANISM_MISMATCH, EPIPE...). */
  handshakesFailed: Map<string, number>;
  lookups: number;
  malicious: number;
  dropped: number;
  clients: Map<string, ClientEntry>;
}

/** A client shown longer ago than this is dimmed as idle. */
export const IDLE_AFTER_MS = 5_000;
/** Rows of the server's client table. */
export const MAX_CLIENT_ROWS = 8;

/** A routing id as a person reads it: printable ASCII as is, else hex. */
export function routingIdText(id: Buffer): string {
  return /^[\x21-\x7e]{1,40}$/.test(id.toString("latin1")) ? id.toString("latin1") : `0x${id.toString("hex").slice(0, 16)}`;
}

export function serverView(s: ServerStats, now: number): View {
  const failed = [...s.handshakesFailed.values()].reduce((a, b) => a + b, 0);
  const failures = [...s.handshakesFailed.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([code, n]) => `${formatCount(n)} ${code}`)
    .join(", ");
  const clients = [...s.clients.values()].reverse().slice(0, MAX_CLIENT_ROWS);
  const rows: ViewCell[][] = clients.map((c) => {
    const idle = now - c.lastSeen > IDLE_AFTER_MS;
    return [
      { text: routingIdText(c.id), tone: idle ? "dim" : "bold" },
      formatCount(c.lookups),
      c.malicious > 0 ? { text: formatCount(c.malicious), tone: "bad" } : "0",
      { text: `${formatSeconds(now - c.lastSeen)} ago`, tone: idle ? "dim" : "good" },
    ];
  });
  return {
    title: `CURVE on ${s.endpoint} · server key ${s.publicKey ? keyLabel(s.publicKey) : "(loading)"} · ${s.connections} connection${s.connections === 1 ? "" : "s"}`,
    columns: ["CLIENT (routing id)", "LOOKUPS", "MALICIOUS", "LAST SEEN"],
    rows,
    summary: [
      `handshakes: ${formatCount(s.handshakesOk)} ok · ${formatCount(failed)} failed${failures ? ` (${failures})` : ""}`,
      `messages: ${formatCount(s.lookups)} lookups · ${formatCount(s.malicious)} known-bad · ${formatCount(s.dropped)} malformed dropped`,
    ],
  };
}

export interface LookupRow {
  file: string;
  digest: string;
  verdict: "clean" | "malicious" | "timeout" | "error" | "not sent";
  label: string;
  ms: number;
}

export interface ClientStats {
  id: string;
  server: string;
  serverKey: string;
  /** "CURVE, own key abc…" or "plaintext (NULL)". */
  mechanism: string;
  state: "connecting" | "handshaking" | "secure" | "gave up";
  handshakesOk: number;
  handshakesFailed: number;
  lastError: string | undefined;
  /** How long the current handshake attempt streak has lasted, and the deadline. */
  pendingMs: number;
  deadlineMs: number;
  lookups: number;
  malicious: number;
  timeouts: number;
  recent: LookupRow[];
}

export const RECENT_ROWS = 6;

const VERDICT_TONE = { clean: "good", malicious: "bad", timeout: "warn", error: "warn", "not sent": "dim" } as const;

export function clientView(s: ClientStats): View {
  let state: ViewCell | string = s.state;
  if ((s.state === "handshaking" || s.state === "connecting") && s.pendingMs > 0) {
    state = `handshaking for ${formatSeconds(s.pendingMs)} of ${formatSeconds(s.deadlineMs)}${s.lastError ? ` (last: ${s.lastError})` : ""}`;
  }
  return {
    title: `→ ${s.server} · ${s.mechanism} · server key ${s.serverKey ? keyLabel(s.serverKey) : "none"} · ${state}`,
    columns: ["FILE", "SHA-256", "VERDICT", "MS"],
    rows: s.recent.map((r) => [
      r.file,
      { text: r.digest, tone: "dim" },
      { text: r.label ? `${r.verdict}: ${r.label}` : r.verdict, tone: VERDICT_TONE[r.verdict] },
      Math.round(r.ms),
    ]),
    summary: `handshakes: ${formatCount(s.handshakesOk)} ok · ${formatCount(s.handshakesFailed)} failed · lookups ${formatCount(s.lookups)} · known-bad ${formatCount(s.malicious)} · timeouts ${formatCount(s.timeouts)}`,
  };
}
