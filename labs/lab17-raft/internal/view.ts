// What a node and the proposer show on the demo screen (the kit's publishView): pure functions of a
// snapshot, tested without sockets.
import { formatCount, type View, type ViewCell } from "@zlabs/kit";

/** How often a role publishes its view (the kit draws at most four a second). */
export const VIEW_MS = 500;

export interface NodeSnapshot {
  id: string;
  role: "follower" | "candidate" | "leader";
  term: number;
  leader: string | undefined;
  commit: number;
  lastIndex: number;
  lastTerm: number;
  votedFor: string | null;
  keys: number;
  /** Messages dropped as malformed (bus and clients). */
  dropped: number;
  /** The last command applied, as text. */
  lastApplied: string | undefined;
}

const ROLE_TONE = { leader: "good", candidate: "warn", follower: "dim" } as const;

/** One node: its role, term, commit index, log length and leader, in one line and a detail line. */
export function nodeView(s: NodeSnapshot): View {
  const role: ViewCell = { text: s.role.toUpperCase(), tone: ROLE_TONE[s.role] };
  const uncommitted = s.lastIndex - s.commit;
  return {
    title: `${s.id} ${s.role}`,
    columns: ["ROLE", "TERM", "COMMIT", "LOG", "UNCOMMITTED", "LEADER", "KEYS"],
    rows: [
      [
        role,
        s.term,
        formatCount(s.commit),
        formatCount(s.lastIndex),
        uncommitted > 0 ? { text: uncommitted, tone: uncommitted > 5 ? "warn" : "info" } : { text: 0, tone: "dim" },
        s.leader ?? { text: s.role === "candidate" ? `(voting: ${s.votedFor ?? "-"})` : "none", tone: "warn" },
        s.keys,
      ],
    ],
    summary: `last applied: ${s.lastApplied ?? "-"}${s.dropped ? ` · dropped ${formatCount(s.dropped)}` : ""}`,
  };
}

export interface ProposerSnapshot {
  done: number;
  failed: number;
  retries: number;
  leader: string | undefined;
  /** The latest committed value of each key the proposer wrote or read. */
  values: [string, string | null][];
  inFlight: number;
}

export function proposerView(s: ProposerSnapshot): View {
  return {
    title: `${formatCount(s.done)} committed · ${s.inFlight} in flight · retries ${formatCount(s.retries)}${s.failed ? ` · gave up ${s.failed}` : ""} · leader ${s.leader ?? "?"}`,
    columns: ["POLICY", "VALUE"],
    rows: s.values.map(([k, v]): ViewCell[] => [
      k,
      v === null ? { text: "(deleted)", tone: "dim" } : { text: v, tone: v === "deny" ? "bad" : v === "allow" ? "good" : "info" },
    ]),
  };
}
