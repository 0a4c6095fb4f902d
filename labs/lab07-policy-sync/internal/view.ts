// What the masters, the firewall nodes and the admin show on the demo screen (the kit's
// publishView): pure functions of a snapshot of their state, tested without sockets.
import { formatCount, formatSeconds, type View, type ViewCell } from "@zlabs/kit";
import type { BStarState } from "lab11/fsm";

/** How often a role publishes its view (the kit draws at most four a second). */
export const VIEW_MS = 500;
/** Rows of recent things (decisions, changes, clients) a view shows. */
export const VIEW_ROWS = 6;

const dim = (text: string): ViewCell => ({ text, tone: "dim" });

const STATE: Record<BStarState, ViewCell> = {
  primary: { text: "PRIMARY (waiting for the backup)", tone: "info" },
  backup: { text: "BACKUP (waiting for the primary)", tone: "info" },
  active: { text: "ACTIVE", tone: "good" },
  passive: { text: "PASSIVE", tone: "warn" },
};

export interface MasterSnapshot {
  role: "primary" | "backup";
  state: BStarState;
  seq: bigint;
  keys: number;
  expiring: number;
  /** Keys per first two path segments ("/acl/edge/"), in order. */
  subtrees: [string, number][];
  clients: { name: string; subtree: string; keys: number; agoMs: number }[];
  pending: number;
  /** Passive: following the active peer ("syncing" until its snapshot is in). */
  following: "syncing" | "synced" | undefined;
  /** ms since the peer's last Binary Star state; undefined before the first. */
  peerHeard: number | undefined;
  counts: {
    published: number;
    snapshots: number;
    refused: number;
    expired: number;
    held: number;
    duplicates: number;
    flushed: number;
    dropped: number;
  };
}

export function masterView(s: MasterSnapshot): View {
  const state = STATE[s.state];
  const title = `${typeof state === "object" ? state.text : state} · seq ${formatCount(Number(s.seq))} · ${formatCount(s.keys)} rules${s.expiring ? ` (${s.expiring} with a ttl)` : ""}`;
  const rows = s.clients
    .slice(-VIEW_ROWS)
    .reverse()
    .map((c): ViewCell[] => [c.name, c.subtree || dim("(all)"), formatCount(c.keys), `${formatSeconds(c.agoMs)} ago`]);
  const peer =
    s.peerHeard === undefined
      ? { text: "peer: never heard", tone: "warn" as const }
      : s.peerHeard > 3000
        ? `peer silent ${formatSeconds(s.peerHeard)}`
        : "peer: heard";
  const c = s.counts;
  const role =
    s.state === "active"
      ? `published ${formatCount(c.published)} · expired ${formatCount(c.expired)} · snapshots ${formatCount(c.snapshots)}${c.flushed ? ` · pending published at take-over ${c.flushed}` : ""}`
      : `${s.following ? `following the active peer (${s.following})` : "not following"} · pending ${formatCount(s.pending)} · de-duplicated ${formatCount(c.duplicates)} · refused snapshots ${formatCount(c.refused)}`;
  return {
    title,
    columns: ["CLIENT (last snapshots)", "SUBTREE", "KEYS SENT", "WHEN"],
    rows: rows.length > 0 ? rows : [[dim("no snapshot served yet"), "", "", ""]],
    summary: [
      `${typeof peer === "string" ? peer : peer.text} · subtrees: ${s.subtrees.map(([t, n]) => `${t} ${n}`).join(", ") || "none"}`,
      `${role} · dropped ${formatCount(c.dropped)}`,
    ],
  };
}

export interface DecisionRow {
  flow: string;
  allowed: boolean;
  rule: string | undefined;
  agoMs: number;
}

export interface NodeSnapshot {
  name: string;
  subtree: string;
  rules: number;
  invalid: number;
  seq: bigint;
  state: "connecting" | "syncing" | "active";
  server: string;
  decisions: DecisionRow[];
  counts: { snapshots: number; updates: number; failovers: number; gaps: number; invalid: number; queries: number };
}

export function nodeView(s: NodeSnapshot): View {
  const state: ViewCell =
    s.state === "active" ? { text: `following ${s.server}`, tone: "good" } : { text: `${s.state} ${s.server}`, tone: "warn" };
  const rows = s.decisions
    .slice(-VIEW_ROWS)
    .reverse()
    .map((d): ViewCell[] => [
      d.flow,
      d.allowed ? { text: "ALLOW", tone: "good" } : { text: "DENY", tone: "bad" },
      d.rule ?? dim("(no rule: default deny)"),
      `${formatSeconds(d.agoMs)} ago`,
    ]);
  const c = s.counts;
  return {
    title: `${s.subtree || "(all keys)"} · ${formatCount(s.rules)} rules${s.invalid ? `, ${s.invalid} invalid` : ""} · seq ${formatCount(Number(s.seq))}`,
    columns: ["FLOW (last checks)", "DECISION", "RULE", "WHEN"],
    rows: rows.length > 0 ? rows : [[dim("no flow checked yet"), "", "", ""]],
    summary: [
      `${typeof state === "object" ? state.text : state}`,
      `snapshots ${c.snapshots} · updates ${formatCount(c.updates)} · fail-overs ${c.failovers} · gaps ${c.gaps} · invalid ${c.invalid} · checks ${formatCount(c.queries)}`,
    ],
  };
}

export interface ChangeRow {
  what: "set" | "delete";
  key: string;
  rule: string;
  ttlS: number;
  /** The sequence number the master gave it; undefined while unacknowledged. */
  seq: bigint | undefined;
  /** What each node decided for the change's probe flow afterwards, "fw-1 DENY". */
  nodes: string;
  agoMs: number;
}

export interface AdminSnapshot {
  changes: ChangeRow[];
  sent: number;
  acked: number;
  unacked: number;
  next: string | undefined;
}

export function adminView(s: AdminSnapshot): View {
  const rows = s.changes
    .slice(-VIEW_ROWS)
    .reverse()
    .map((c): ViewCell[] => [
      c.what === "set" ? { text: "SET", tone: "info" } : { text: "DELETE", tone: "warn" },
      c.key,
      c.what === "set" ? `${c.rule}${c.ttlS ? ` (ttl ${c.ttlS} s)` : ""}` : dim("-"),
      c.seq === undefined ? { text: "not acked", tone: "bad" } : `seq ${formatCount(Number(c.seq))}`,
      c.nodes || dim("-"),
    ]);
  return {
    title: `policy admin: ${formatCount(s.sent)} changes sent, ${formatCount(s.acked)} acknowledged${s.unacked ? `, ${s.unacked} not` : ""}`,
    columns: ["CHANGE", "KEY", "RULE", "ACK", "NODES AFTER"],
    rows: rows.length > 0 ? rows : [[dim("nothing changed yet"), "", "", "", ""]],
    summary: s.next ? `next: ${s.next}` : undefined,
  };
}
