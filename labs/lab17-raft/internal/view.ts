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

/** One node in two lines: its role, term, commit index, log length and leader; the last entry applied. */
export function nodeView(s: NodeSnapshot): View {
  const uncommitted = s.lastIndex - s.commit;
  return {
    title: `${s.id} ${s.role} · term ${s.term}`,
    rows: [
      [
        { text: s.role.toUpperCase(), tone: ROLE_TONE[s.role] },
        `term ${s.term}`,
        `commit ${formatCount(s.commit)}`,
        `log ${formatCount(s.lastIndex)}`,
        uncommitted > 0
          ? { text: `+${uncommitted} uncommitted`, tone: uncommitted > 5 ? "warn" : "info" }
          : { text: "all committed", tone: "dim" },
        s.leader !== undefined
          ? `leader ${s.leader}`
          : { text: s.role === "candidate" ? `no leader (voted ${s.votedFor ?? "-"})` : "no leader", tone: "warn" },
        `${s.keys} keys`,
        { text: `last: ${s.lastApplied ?? "-"}${s.dropped ? ` · dropped ${formatCount(s.dropped)}` : ""}`, tone: "dim" },
      ],
    ],
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
