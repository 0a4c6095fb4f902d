// What a node and the client show on the demo screen (the kit's publishView): pure functions of a
// snapshot, so they are tested without sockets.
import { formatCount, formatSeconds, type View, type ViewCell } from "@zlabs/kit";

/** How often a role publishes its view. */
export const VIEW_MS = 500;
/** The ring drawn as a strip of this many slices. */
export const STRIP_CELLS = 48;

const pct = (x: number) => `${Math.round(100 * x)} %`;

export interface NodeSnapshot {
  name: string;
  id: string;
  /** This node's share of the ring as a primary. */
  share: number;
  holdings: { primary: number; replica: number; releasing: number };
  peers: { name: string; share: number }[];
  /** Each slice of the ring: this node its primary, one of its other replicas, or neither. */
  strip: ("primary" | "replica" | "other")[];
  lastChange: { agoMs: number; what: string; took: number; handed: number } | undefined;
  served: number;
  forwarded: number;
  dropped: number;
  replication: number;
}

const STRIP_CHARS = { primary: "█", replica: "▒", other: "·" } as const;

export function ringStrip(strip: NodeSnapshot["strip"]): string {
  return strip.map((c) => STRIP_CHARS[c]).join("");
}

/** A node: its ring share and where its arcs are, the keys it holds, its peers, the last view change. */
export function nodeView(s: NodeSnapshot): View {
  const peers = [...s.peers].sort((a, b) => a.name.localeCompare(b.name));
  const change = s.lastChange
    ? `${s.lastChange.what} ${formatSeconds(s.lastChange.agoMs)} ago: took ${formatCount(s.lastChange.took)}, handed off ${formatCount(s.lastChange.handed)}`
    : "none yet";
  const rows: ViewCell[][] = [
    [
      { text: `ring ${ringStrip(s.strip)}`, tone: "info" },
      `primary ${formatCount(s.holdings.primary)}`,
      `replica ${formatCount(s.holdings.replica)}`,
      s.holdings.releasing > 0
        ? { text: `releasing ${formatCount(s.holdings.releasing)}`, tone: "warn" }
        : { text: "releasing 0", tone: "dim" },
    ],
  ];
  return {
    title: `${s.name} ${s.id.slice(0, 8)} · ${pct(s.share)} of the ring · ${peers.length + 1} in view (R=${s.replication})`,
    rows,
    summary: [
      `peers ${peers.length > 0 ? peers.map((p) => `${p.name} ${pct(p.share)}`).join(" · ") : "none yet"}`,
      `last change ${change} · served ${formatCount(s.served)} · forwarded ${formatCount(s.forwarded)}${s.dropped > 0 ? ` · dropped ${formatCount(s.dropped)}` : ""}`,
    ],
  };
}

export interface ClientSnapshot {
  nodes: string[];
  written: number;
  keys: number;
  gets: number;
  ok: number;
  missing: number;
  stale: number;
  errors: number;
  retries: number;
  perSecond: number;
  last: string | undefined;
}

/** The client: what it wrote, what its reads found (ok, missing, stale), the nodes it talks to. */
export function clientView(s: ClientSnapshot): View {
  const bad = s.missing + s.stale;
  return {
    title: `${formatCount(s.written)} puts over ${formatCount(s.keys)} keys · ${formatCount(s.gets)} gets · ${s.perSecond.toFixed(1)} ops/s · ${s.nodes.length} nodes heard`,
    rows: [
      [
        { text: `ok ${formatCount(s.ok)}`, tone: "good" },
        { text: `missing ${formatCount(s.missing)}`, tone: s.missing > 0 ? "bad" : "dim" },
        { text: `stale ${formatCount(s.stale)}`, tone: s.stale > 0 ? "bad" : "dim" },
        { text: `errors ${formatCount(s.errors)}`, tone: s.errors > 0 ? "warn" : "dim" },
        { text: `retried ${formatCount(s.retries)}`, tone: s.retries > 0 ? "warn" : "dim" },
        bad === 0 ? { text: "every read as written", tone: "good" } : { text: "reads lost data", tone: "bad" },
      ],
    ],
    summary: s.last ? `last: ${s.last}` : undefined,
  };
}
