// What the server and the agents show on the demo screen (the kit's publishView), as pure functions
// of a snapshot, so they are tested without sockets.
import { formatCount, formatSeconds, type View, type ViewCell } from "@zlabs/kit";
import type { ServerCounts } from "./c2-server.ts";
import type { ZapStats } from "./zap.ts";

export const VIEW_MS = 500;
/** How many of an agent's latest commands its view lists. */
export const RECENT_COMMANDS = 5;

export interface ServerSnapshot {
  endpoint: string;
  agents: {
    name: string;
    /** A short label of its public key. */
    key: string;
    forMs: number;
    silentMs: number;
    sent: number;
    answered: number;
    refused: number;
    last: string;
  }[];
  helloMs: number;
  storeKeys: number;
  zap: ZapStats;
  counts: ServerCounts;
  /** Handshakes refused, by reason. */
  refusals: [string, number][];
  pending: number;
}

export function serverView(s: ServerSnapshot): View {
  const rows = s.agents.map((a): ViewCell[] => [
    a.name,
    { text: a.key, tone: "dim" },
    a.silentMs > 2 * s.helloMs
      ? { text: `silent ${formatSeconds(a.silentMs)}`, tone: "warn" }
      : { text: `connected ${formatSeconds(a.forMs)}`, tone: "good" },
    formatCount(a.sent),
    formatCount(a.answered),
    a.refused > 0 ? { text: formatCount(a.refused), tone: "bad" } : "0",
    a.last || { text: "-", tone: "dim" },
  ]);
  const c = s.counts;
  const why = s.refusals.map(([reason, n]) => `${reason} ×${n}`).join(", ");
  return {
    title: `${s.agents.length} agent${s.agents.length === 1 ? "" : "s"} connected · ${s.storeKeys} key${s.storeKeys === 1 ? "" : "s"} in the store · ${s.endpoint}`,
    columns: ["AGENT", "KEY", "SESSION", "SENT", "ANSWERED", "REFUSED", "LAST REPLY"],
    rows,
    summary: [
      `commands: sent ${formatCount(c.sent)} · answered ${formatCount(c.answered)} · refused ${formatCount(c.refused)} · failed ${formatCount(c.failed)} · unanswered ${formatCount(c.unanswered)} · waiting ${s.pending}`,
      `handshakes: ok ${formatCount(c.handshakes)} · refused ${formatCount(c.handshakesRefused)}${why ? ` (${why})` : ""} · ZAP allowed ${formatCount(s.zap.allowed)} denied ${formatCount(s.zap.denied)} · sessions closed on revocation ${c.sessionsClosed} · dropped ${formatCount(c.dropped)}`,
    ],
  };
}

export interface AgentSnapshot {
  name: string;
  server: string;
  state: "connecting" | "connected" | "gave up";
  /** Why it gave up (shown in the title). */
  gaveUp?: string;
  /** ms in that state. */
  forMs: number;
  run: number;
  refused: number;
  /** Refusals by reason. */
  reasons: [string, number][];
  recent: { at: string; operator: string; command: string; result: string; ok: boolean }[];
}

export function agentView(s: AgentSnapshot): View {
  const why = s.reasons.map(([reason, n]) => `${reason} ×${n}`).join(", ");
  return {
    title: `${s.state} ${formatSeconds(s.forMs)} · ${s.server}${s.gaveUp ? ` · ${s.gaveUp}` : ""}`,
    columns: ["TIME", "OPERATOR", "COMMAND", "RESULT"],
    rows: s.recent.map((r): ViewCell[] => [
      { text: r.at, tone: "dim" },
      r.operator,
      r.command,
      r.ok ? r.result : { text: r.result, tone: "bad" },
    ]),
    summary: `commands run ${formatCount(s.run)} · refused ${formatCount(s.refused)}${why ? ` (${why})` : ""}`,
  };
}
