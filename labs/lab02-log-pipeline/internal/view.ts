// The demo's live views as pure functions of the roles' state (tested in view.test.ts): the
// collector's batch (sent, acknowledged, sent again) and the writer's progress per parser.
import { formatCount, formatSeconds, type View, type ViewCell } from "@zlabs/kit";

const pct = (part: number, whole: number) => `${whole ? Math.floor((part * 100) / whole) : 0} %`;
const times = (k: number) => `${k} time${k === 1 ? "" : "s"}`;

export type CollectorPhase = "starting" | "waiting" | "sending" | "finishing" | "done" | "pause";

export interface CollectorViewState {
  batch: string;
  /** This batch's number, and how many are run (0: until stopped). */
  number: number;
  repeat: number;
  phase: CollectorPhase;
  expected: number;
  sent: number;
  /** The writer's watermark: every line below it is stored. */
  acked: number;
  /** Lines held for a possible resend. */
  unacked: number;
  chunksResent: number;
  parsers: number;
  minParsers: number;
  rate: number;
  /** Sending paused: the window of unacknowledged lines is full. */
  windowFull: boolean;
  elapsedMs: number;
  nextInMs: number;
  last?: { batch: string; lines: number; seconds: number; chunksResent: number; done: { duplicates: number; resends: number } };
}

export const COLLECTOR_COLUMNS = ["BATCH", "STATE", "SENT", "ACKNOWLEDGED", "HELD FOR RESEND", "CHUNKS SENT AGAIN", "ELAPSED"];

function phaseCell(s: CollectorViewState): ViewCell {
  switch (s.phase) {
    case "starting":
    case "waiting":
      return { text: `waiting for the writer and ${s.minParsers} parsers (${s.parsers} so far)`, tone: "warn" };
    case "sending":
      if (s.windowFull) return { text: "window full, waiting for ACK", tone: "info" };
      return { text: s.rate ? `sending at ${formatCount(s.rate)} lines/s` : "sending", tone: "info" };
    case "finishing":
      return { text: "all sent; waiting for DONE", tone: "info" };
    case "done":
      return { text: "done", tone: "good" };
    case "pause":
      return { text: `done; next batch in ${formatSeconds(s.nextInMs)}`, tone: "dim" };
  }
}

/** The ventilator: the current batch, how much is sent and acknowledged, what went again. */
export function collectorView(s: CollectorViewState): View {
  const of = s.repeat === 0 ? "" : ` of ${s.repeat}`;
  const title = `batch ${s.number}${of}${s.batch ? ` (${s.batch})` : ""}: ${formatCount(s.expected)} lines${s.repeat === 0 ? ", repeated until stopped" : ""}`;
  const row: ViewCell[] = [
    `#${s.number}`,
    phaseCell(s),
    `${formatCount(s.sent)} (${pct(s.sent, s.expected)})`,
    `${formatCount(s.acked)} (${pct(s.acked, s.expected)})`,
    formatCount(s.unacked),
    s.chunksResent ? { text: s.chunksResent, tone: "warn" } : 0,
    formatSeconds(s.elapsedMs),
  ];
  const l = s.last;
  const summary = l
    ? `last batch done: ${formatCount(l.lines)} lines in ${l.seconds.toFixed(1)} s, ${l.chunksResent} chunks sent again after ${l.done.resends} MISSING, ${l.done.duplicates} duplicates dropped`
    : undefined;
  return { title, columns: COLLECTOR_COLUMNS, rows: [row], ...(summary ? { summary } : {}) };
}

export interface ParserProgress {
  /** Lines and chunks this parser delivered in the current batch (stored, so acknowledged). */
  lines: number;
  chunks: number;
  /** When the writer last heard from it (ms, the writer's clock), or undefined. */
  lastAt?: number;
}

export interface WriterViewState {
  /** The current batch, or undefined between batches. */
  batch?: {
    name: string;
    expected: number;
    stored: number;
    watermark: number;
    duplicates: number;
    /** MISSING rounds so far. */
    resends: number;
    linesPerSec: number;
    flowing: boolean;
  };
  parsers: ReadonlyMap<string, ParserProgress>;
  /** Where the files are (as the view shows it), and how many batches are kept. */
  outDir: string;
  keepBatches: number;
  last?: { batch: string; stored: number; seconds: number; resends: number; duplicates: number };
}

/** A parser whose last events are older than this while work flows is shown as quiet. */
export const QUIET_AFTER_MS = 3000;

export const WRITER_COLUMNS = ["PARSER", "LINES STORED", "CHUNKS", "SHARE", "LAST EVENTS"];

/** The sink: the batch's progress, and each parser's share of it. */
export function writerView(s: WriterViewState, nowMs: number): View {
  const b = s.batch;
  const title = b
    ? `batch ${b.name}: ${formatCount(b.stored)} of ${formatCount(b.expected)} stored (${pct(b.stored, b.expected)}) · ${formatCount(b.linesPerSec)} lines/s · watermark ${formatCount(b.watermark)}`
    : `no batch running · ${s.parsers.size} parsers known`;
  const rows: ViewCell[][] = [...s.parsers.entries()].map(([name, p]) => {
    const ago = p.lastAt === undefined ? undefined : nowMs - p.lastAt;
    const quiet = b?.flowing && (ago === undefined || ago > QUIET_AFTER_MS);
    return [
      name,
      formatCount(p.lines),
      p.chunks,
      b ? pct(p.lines, b.stored) : "",
      ago === undefined
        ? { text: "never", tone: quiet ? "warn" : "dim" }
        : { text: `${formatSeconds(ago)} ago`, tone: quiet ? "warn" : "dim" },
    ];
  });
  const keep = `${s.outDir} keeps ${s.keepBatches ? `the last ${s.keepBatches} batches` : "every batch"}`;
  const lines = [b ? `MISSING asked ${times(b.resends)} · duplicates dropped ${formatCount(b.duplicates)} · ${keep}` : keep];
  const l = s.last;
  if (l)
    lines.push(
      `last batch ${l.batch}: ${formatCount(l.stored)} stored exactly once in ${l.seconds.toFixed(1)} s, ${l.resends} MISSING, ${formatCount(l.duplicates)} duplicates dropped`,
    );
  return { title, columns: WRITER_COLUMNS, rows, summary: lines };
}
