// What the brokers and the client show on the demo screen (the kit's publishView), computed by pure
// functions of a snapshot so they are tested without sockets.
import { formatCount, formatSeconds, type View, type ViewCell } from "@zlabs/kit";
import type { BStarState } from "./fsm.ts";

/** How often a role publishes its view (the kit draws at most four a second). */
export const VIEW_MS = 250;

export interface BrokerSnapshot {
  role: "primary" | "backup";
  state: BStarState;
  /** The last state the peer published; undefined before the first. */
  peerState: BStarState | undefined;
  /** ms since the peer's last state; undefined before the first. */
  peerSilentMs: number | undefined;
  /** Silence after which a client's vote may make a passive broker active (2 heartbeats). */
  peerDeadAfterMs: number;
  /** Tickets this broker's desk handed out, and the number the next one gets. */
  issued: number;
  nextTicket: number;
  clients: number;
  /** Requests left unanswered because this broker was not active. */
  refused: number;
  dropped: number;
  /** Active with the peer silent: not sending its state until the peer is heard again. */
  holding: boolean;
}

const STATE_TONE: Record<BStarState, ViewCell> = {
  primary: { text: "PRIMARY (waiting for the backup)", tone: "info" },
  backup: { text: "BACKUP (waiting for the primary)", tone: "info" },
  active: { text: "ACTIVE: serving clients", tone: "good" },
  passive: { text: "PASSIVE: refusing clients while the peer lives", tone: "warn" },
};

function peerCell(s: BrokerSnapshot): ViewCell {
  if (s.peerState === undefined || s.peerSilentMs === undefined) return { text: "never heard", tone: "dim" };
  const heard = `${s.peerState.toUpperCase()}, heard ${formatSeconds(s.peerSilentMs)} ago`;
  return s.peerSilentMs >= s.peerDeadAfterMs ? { text: `${heard}: silent, a client's request may fail over`, tone: "bad" } : heard;
}

/** A broker: its Binary Star state, the peer last heard, its ticket desk. */
export function brokerView(s: BrokerSnapshot): View {
  return {
    title: `${s.role} broker`,
    columns: ["", ""],
    rows: [
      ["state", s.holding ? { text: "ACTIVE: serving clients (state held: peer silent)", tone: "good" } : STATE_TONE[s.state]],
      ["peer", peerCell(s)],
      ["tickets", `${formatCount(s.issued)} issued here · next ${formatCount(s.nextTicket)} · ${formatCount(s.clients)} clients`],
    ],
    summary: `requests refused (not active) ${formatCount(s.refused)} · malformed dropped ${formatCount(s.dropped)}`,
  };
}

export interface FailoverRecord {
  from: string;
  to: string;
  /** From the first send of the request that went unanswered to its reply. */
  ms: number;
  /** Timeouts on the way. */
  timeouts: number;
}

export interface ClientSnapshot {
  /** The server in use: "primary" or "backup" (its place in --servers), and its endpoint. */
  server: string;
  endpoint: string;
  /** Requests answered, and the last ticket. */
  served: number;
  lastTicket: number | undefined;
  /** Replies whose ticket was not above every ticket seen before: given out again after a fail-over. */
  reissued: number;
  timeouts: number;
  /** A request waits for its reply since this many ms; undefined when none waits. */
  waitingMs: number | undefined;
  /** The latest fail-overs, oldest first. */
  failovers: FailoverRecord[];
  failoverCount: number;
}

/** The client: which server it uses, the fail-overs and how long each took. */
export function clientView(s: ClientSnapshot): View {
  const waiting = s.waitingMs !== undefined && s.waitingMs > 0 ? ` · waiting ${formatSeconds(s.waitingMs)} for a reply` : "";
  const rows = s.failovers.map((f, i): ViewCell[] => [
    s.failoverCount - s.failovers.length + i + 1,
    `${f.from} → ${f.to}`,
    { text: formatSeconds(f.ms), tone: "warn" },
    f.timeouts,
  ]);
  return {
    title: `using ${s.server} (${s.endpoint}) · last ticket ${s.lastTicket ?? "-"}${waiting}`,
    columns: ["FAIL-OVER", "FROM → TO", "TOOK", "TIMEOUTS"],
    rows: rows.length > 0 ? rows : [[{ text: "none yet", tone: "dim" }, "", "", ""]],
    summary: `tickets ${formatCount(s.served)} · timeouts ${formatCount(s.timeouts)} · fail-overs ${formatCount(s.failoverCount)} · tickets given out again after a fail-over ${formatCount(s.reissued)}`,
  };
}
