// What a gossip node shows on the demo screen (the kit's publishView): its members and their
// states, the coordinator, its clock's offset, its map's digest and keys. A pure function of a snapshot.
import { formatCount, type View, type ViewCell } from "@zlabs/kit";
import type { MemberState } from "./protocol.ts";

/** How often a node publishes its view (the kit draws at most four a second). */
export const VIEW_MS = 500;
/** Keys listed in the view at most. */
const KEYS_SHOWN = 6;

export interface NodeSnapshot {
  id: string;
  rank: number;
  inc: number;
  coordinator: string;
  announced: string;
  offsetMs: number;
  digest: string;
  members: { id: string; state: MemberState; inc: number; rank: number }[];
  keys: { key: string; value: string }[];
  tombstones: number;
  published: number;
  repaired: number;
  rounds: number;
  dropped: number;
}

const TONES: Record<MemberState, "good" | "warn" | "bad"> = { alive: "good", suspect: "warn", dead: "bad" };

export function formatOffset(ms: number): string {
  const sign = ms < 0 ? "-" : "+";
  const a = Math.abs(ms);
  return a >= 1000 ? `${sign}${(a / 1000).toFixed(2)} s` : `${sign}${a.toFixed(1)} ms`;
}

export function nodeView(s: NodeSnapshot): View {
  const me = s.coordinator === s.id;
  // One column per member (by rank), its state underneath: six views fit on one screen.
  const members = [...s.members].sort((a, b) => a.rank - b.rank || (a.id < b.id ? -1 : 1));
  const cells = members.map(
    (m): ViewCell => ({
      text: `${m.state}${m.inc > 0 ? ` i${m.inc}` : ""}${m.id === s.coordinator ? " ★" : ""}`,
      tone: TONES[m.state],
    }),
  );
  const shown = s.keys.slice(0, KEYS_SHOWN).map((k) => `${k.key}=${k.value}`);
  const more = s.keys.length > KEYS_SHOWN ? ` +${s.keys.length - KEYS_SHOWN}` : "";
  const far = Math.abs(s.offsetMs) > 100;
  const announced = s.announced && s.announced !== s.coordinator ? ` (announced ${s.announced})` : "";
  return {
    title: `${me ? "COORDINATOR" : `coordinator ${s.coordinator}`}${announced} · clock ${formatOffset(s.offsetMs)}${far ? " !" : ""} · digest ${s.digest} · ${s.keys.length} keys · inc ${s.inc}`,
    ...(members.length > 0 ? { columns: members.map((m) => m.id), rows: [cells] } : {}),
    summary: `${shown.length > 0 ? shown.join(" ") + more : "no keys"}${s.tombstones > 0 ? ` · ${s.tombstones} deleted` : ""} · published ${formatCount(s.published)} · repaired ${formatCount(s.repaired)} · dropped ${formatCount(s.dropped)}`,
  };
}
