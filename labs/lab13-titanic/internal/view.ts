// What each role shows on the demo screen (the kit's publishView), as pure functions of a snapshot.
import { formatCount, formatSeconds, type View, type ViewCell } from "@zlabs/kit";
import type { JournalStats } from "./journal.ts";

/** How often a role publishes its view (the kit draws at most four a second). */
export const VIEW_MS = 500;

const plural = (count: number, word: string) => `${formatCount(count)} ${word}${count === 1 ? "" : "s"}`;
const short = (uuid: string) => `${uuid.slice(0, 8)}…`;

/** What Titanic counts, for its view, the tests and the bench. */
export interface TitanicCounters {
  stored: number;
  refused: number;
  failed500: number;
  dispatched: number;
  replied: number;
  closed: number;
  dispatchErrors: number;
}

export interface TitanicSnapshot {
  recent: { uuid: string; service: string; state: string; ageMs: number }[];
  counters: TitanicCounters;
  size: { entries: number; pending: number; done: number; deadBytes: number; bytes: number };
  journal: JournalStats | undefined;
  /** Why the storage is unusable, or undefined when it works. */
  storage: string | undefined;
  groupCommit: boolean;
}

const STATE_TONE: Record<string, "good" | "warn" | "bad" | "dim" | "info"> = {
  stored: "info",
  dispatched: "warn",
  "no worker": "bad",
  replied: "good",
  closed: "dim",
};

export function titanicView(s: TitanicSnapshot): View {
  const j = s.journal;
  const perRequest = j && j.appended > 0 ? (j.fsyncs / j.appended).toFixed(2) : "-";
  return {
    title: `titanic: ${formatCount(s.size.pending)} pending, ${formatCount(s.size.done)} replied, not closed · storage ${s.storage ? `DOWN (${s.storage})` : "ok"}`,
    columns: ["UUID", "SERVICE", "STATE", "SINCE"],
    rows: s.recent.map((r): ViewCell[] => [
      short(r.uuid),
      r.service || { text: "-", tone: "dim" },
      { text: r.state, tone: STATE_TONE[r.state] ?? "dim" },
      formatSeconds(r.ageMs),
    ]),
    summary: [
      `stored ${formatCount(s.counters.stored)} · replied ${formatCount(s.counters.replied)} · closed ${formatCount(s.counters.closed)} · 400 ${formatCount(s.counters.refused)} · 500 ${formatCount(s.counters.failed500)}`,
      `journal ${formatCount(s.size.bytes)} B (${formatCount(s.size.deadBytes)} B closed) · ${plural(j?.compactions ?? 0, "compaction")} · fsyncs/record ${perRequest}${s.groupCommit ? " (group commit)" : ""}`,
    ],
  };
}

export interface StorageSnapshot {
  recent: { name: string; digest: string; bytes: number; duplicate: boolean }[];
  stored: number;
  duplicates: number;
  refused: number;
}

export function storageView(s: StorageSnapshot): View {
  return {
    title: `evidence archive: ${formatCount(s.stored)} artefacts stored, ${formatCount(s.duplicates)} again (idempotent)`,
    columns: ["ARTEFACT", "SHA-256", "BYTES", ""],
    rows: s.recent.map((r): ViewCell[] => [
      r.name,
      `${r.digest.slice(0, 16)}…`,
      formatCount(r.bytes),
      r.duplicate ? { text: "again", tone: "dim" } : { text: "new", tone: "good" },
    ]),
    summary: `refused ${formatCount(s.refused)}`,
  };
}

export interface ClientSnapshot {
  submitted: number;
  answered: number;
  closed: number;
  /** Requests acknowledged by Titanic and not answered yet, oldest first (a few). */
  waiting: { seq: number; uuid: string; polls: number; last: string }[];
  outstanding: number;
  errors: number;
  target: number;
}

export function clientView(s: ClientSnapshot): View {
  const goal = s.target > 0 ? ` of ${formatCount(s.target)}` : "";
  return {
    title: `patient client: ${formatCount(s.submitted)}${goal} submitted, ${formatCount(s.answered)} answered, ${formatCount(s.outstanding)} waiting`,
    columns: ["#", "UUID", "POLLS", "LAST ANSWER"],
    rows: s.waiting.map((w): ViewCell[] => [
      w.seq,
      short(w.uuid),
      w.polls,
      { text: w.last, tone: w.last.startsWith("300") ? "warn" : w.last.startsWith("500") ? "bad" : "dim" },
    ]),
    summary: `closed ${formatCount(s.closed)} · errors ${formatCount(s.errors)} · uuids kept on disk: restart me and I carry on`,
  };
}
