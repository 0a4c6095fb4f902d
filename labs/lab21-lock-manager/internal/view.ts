// What the lock server, the writers and the ledger show on the demo screen (the kit's publishView):
// their state as data, computed by pure functions of a snapshot, so they are tested without sockets.
import { formatCount, formatSeconds, type View, type ViewCell } from "@zlabs/kit";

/** How often a role publishes its view (the kit draws at most four a second). */
export const VIEW_MS = 250;
/** Locks shown in the server's table; the rest are counted. */
export const MAX_ROWS = 12;

export interface LockRow {
  name: string;
  holder: string | undefined;
  token: number | undefined;
  /** ms the holder's lease has left on the server's clock (negative: past, until the next sweep). */
  leftMs: number | undefined;
  ttlMs: number | undefined;
  /** In line, first first. */
  waiters: string[];
}

export interface ServerSnapshot {
  locks: LockRow[];
  clients: number;
  grants: number;
  releases: number;
  expiries: number;
  denied: number;
  waitersDropped: number;
  graceLeftMs: number;
  lastToken: number;
  highWater: number;
  dropped: number;
  retried: number;
}

function leaseCell(r: LockRow): ViewCell {
  if (r.leftMs === undefined || r.ttlMs === undefined) return { text: "-", tone: "dim" };
  const text = formatSeconds(r.leftMs);
  // The last third of a lease means the holder has missed its renewals.
  return { text, tone: r.leftMs < r.ttlMs / 3 ? "bad" : "good" };
}

/** The server: each lock with its holder, token, lease left and line of waiters. */
export function serverView(s: ServerSnapshot): View {
  const rows = s.locks
    .slice(0, MAX_ROWS)
    .map((r): ViewCell[] => [
      r.name,
      r.holder ?? { text: "free", tone: "dim" },
      r.token !== undefined ? r.token : { text: "-", tone: "dim" },
      leaseCell(r),
      r.waiters.length > 0 ? r.waiters.join(" → ") : { text: "none", tone: "dim" },
    ]);
  if (s.locks.length > MAX_ROWS)
    rows.push([{ text: `… ${formatCount(s.locks.length - MAX_ROWS)} more locks`, tone: "dim" }, "", "", "", ""]);
  const grace = s.graceLeftMs > 0 ? ` · GRACE ${formatSeconds(s.graceLeftMs)}: no grants after a restart` : "";
  return {
    title: `${formatCount(s.locks.length)} lock${s.locks.length === 1 ? "" : "s"} in use · ${formatCount(s.clients)} clients${grace}`,
    columns: ["LOCK", "HOLDER", "TOKEN", "LEASE LEFT", "WAITERS (FIFO)"],
    rows,
    summary: [
      `grants ${formatCount(s.grants)} · released ${formatCount(s.releases)} · expired ${formatCount(s.expiries)} · denied ${formatCount(s.denied)} · silent waiters dropped ${formatCount(s.waitersDropped)}`,
      `last token ${formatCount(s.lastToken)} (reserved on disk up to ${formatCount(s.highWater)}) · retried requests ${formatCount(s.retried)} · dropped ${formatCount(s.dropped)}`,
    ],
  };
}

export interface ClientSnapshot {
  id: string;
  lock: string;
  phase: "starting" | "waiting" | "holding" | "resting";
  forMs: number;
  token: number | undefined;
  /** ms left by the client's own (earlier) deadline. */
  leaseLeftMs: number | undefined;
  turns: number;
  accepted: number;
  refused: number;
  unanswered: number;
  lastRefusal: string;
}

/** A writer: holding (token, lease left) or waiting, and its writes accepted and refused. */
export function clientView(s: ClientSnapshot): View {
  let state: string;
  if (s.phase === "holding" && s.token !== undefined)
    state = `HOLDING ${s.lock} · token ${s.token} · lease ${formatSeconds(s.leaseLeftMs ?? 0)} left`;
  else if (s.phase === "holding") state = `lost ${s.lock}`;
  else if (s.phase === "waiting") state = `waiting for ${s.lock} ${formatSeconds(s.forMs)}`;
  else state = `${s.phase} ${formatSeconds(s.forMs)}`;
  const refused = s.refused > 0 ? ` · last refusal: ${s.lastRefusal}` : "";
  return {
    title: state,
    summary: `turns ${formatCount(s.turns)} · writes accepted ${formatCount(s.accepted)} · refused ${formatCount(s.refused)}${s.unanswered ? ` · unanswered ${formatCount(s.unanswered)}` : ""}${refused}`,
  };
}

export interface LedgerSnapshot {
  /** Accepted since this process started. */
  entries: number;
  /** The last sequence number (entries read back from the files included). */
  seq: number;
  locks: { name: string; entries: number; lastToken: number; lastClient: string }[];
  staleRefused: number;
  unavailableRefused: number;
  dropped: number;
  file: string;
}

/** The ledger: per lock the entries, the last token and writer; the stale writes it refused. */
export function ledgerView(s: LedgerSnapshot): View {
  return {
    title: `${formatCount(s.seq)} entries · stale writes refused ${formatCount(s.staleRefused)}`,
    columns: ["LOCK", "ENTRIES", "LAST TOKEN", "LAST WRITER"],
    rows: s.locks.slice(0, MAX_ROWS).map((l) => [l.name, formatCount(l.entries), l.lastToken, l.lastClient]),
    summary: `accepted since start ${formatCount(s.entries)} · refused, lock server silent ${formatCount(s.unavailableRefused)} · malformed dropped ${formatCount(s.dropped)}`,
  };
}
