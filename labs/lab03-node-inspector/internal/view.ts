// The live views of the demo, as pure functions of the roles' state (tested in view.test.ts): an
// agent's counts, and the admin CLI's requests with their Lazy Pirate attempts.
import { formatSeconds, type View, type ViewCell } from "@zlabs/kit";

/** Requests the CLI's view lists (the latest last); older ones are only counted. */
export const VIEW_REQUESTS = 4;

export interface AgentViewState {
  endpoint: string;
  /** The chaos settings in words, or undefined for a well-behaved agent. */
  chaos?: { afterCycles: number; crashChance: number; slowChance: number; slowMs: number };
  served: number;
  late: number;
  malformed: number;
  /** The last request served: its command, how long the answer took, and when (ms since epoch). */
  last?: { cmd: string; ms: number; at: number };
  pid: number;
  startedAt: number;
}

const pct = (share: number) => `${Math.round(share * 100)} %`;

export const AGENT_COLUMNS = ["PID", "UP", "SERVED", "ANSWERED LATE", "MALFORMED", "LAST REQUEST"];

/** One agent: where it listens, how it misbehaves, and what it has served. */
export function agentView(s: AgentViewState, nowMs: number): View {
  const chaos = s.chaos
    ? ` · chaos after ${s.chaos.afterCycles} requests: ${pct(s.chaos.slowChance)} late by ${formatSeconds(s.chaos.slowMs)}, ${pct(s.chaos.crashChance)} crash`
    : "";
  const last = s.last ? `${s.last.cmd} in ${s.last.ms} ms, ${formatSeconds(nowMs - s.last.at)} ago` : "none yet";
  const row: ViewCell[] = [
    s.pid,
    formatSeconds(nowMs - s.startedAt),
    { text: s.served, tone: "good" },
    s.late ? { text: s.late, tone: "warn" } : 0,
    s.malformed ? { text: s.malformed, tone: "warn" } : 0,
    { text: last, tone: "dim" },
  ];
  return { title: `REP on ${s.endpoint}${chaos}`, columns: AGENT_COLUMNS, rows: [row] };
}

export type RequestState = "waiting" | "answered" | "refused" | "no reply";

/** One request of the CLI, across its attempts. */
export interface RequestRecord {
  n: number;
  cmd: string;
  /** When the request began, and when its current attempt was sent (ms since epoch). */
  startedAt: number;
  attemptAt: number;
  attempt: number;
  timeouts: number;
  state: RequestState;
  /** Who answered ("flaky-agent pid 4242"), or the refusal's code. */
  answeredBy?: string;
  /** The answering attempt's round trip, ms. */
  latencyMs?: number;
  /** The answer in a few words. */
  answer?: string;
}

export interface CliViewOptions {
  endpoint: string;
  timeoutMs: number;
  retries: number;
  everySec: number;
  /** When the next request goes out (ms since epoch), between requests. */
  nextAt?: number;
}

export const CLI_COLUMNS = ["#", "SENT", "REQUEST", "ATTEMPT", "OUTCOME", "ANSWERED BY", "LATENCY", "ANSWER"];

const clock = (ms: number) => new Date(ms).toTimeString().slice(0, 8);

function outcome(r: RequestRecord, retries: number, nowMs: number): ViewCell {
  const after = r.timeouts ? ` after ${r.timeouts} timeout${r.timeouts > 1 ? "s" : ""}` : "";
  switch (r.state) {
    case "waiting":
      return { text: `waiting ${formatSeconds(nowMs - r.attemptAt)}${after ? ` (${r.timeouts} timed out)` : ""}`, tone: "info" };
    case "answered":
      return { text: `answered${after}`, tone: r.timeouts ? "warn" : "good" };
    case "refused":
      return { text: "refused", tone: "bad" };
    case "no reply":
      return { text: `no reply: ${retries} timeouts, gave up`, tone: "bad" };
  }
}

/** Every request of a watch, counted by outcome. */
export interface RequestTotals {
  requests: number;
  answered: number;
  firstAttempt: number;
  noReply: number;
  refused: number;
  timeouts: number;
}

export const emptyTotals = (): RequestTotals => ({ requests: 0, answered: 0, firstAttempt: 0, noReply: 0, refused: 0, timeouts: 0 });

/** Counts one request into the totals. */
export function addTotals(t: RequestTotals, r: RequestRecord): void {
  t.requests += 1;
  t.timeouts += r.timeouts;
  if (r.state === "answered") {
    t.answered += 1;
    if (!r.timeouts) t.firstAttempt += 1;
  } else if (r.state === "no reply") t.noReply += 1;
  else if (r.state === "refused") t.refused += 1;
}

/** The Lazy Pirate at work: the latest requests, each with its attempt, outcome, answerer and latency. */
export function cliView(records: readonly RequestRecord[], totals: RequestTotals, options: CliViewOptions, nowMs: number): View {
  const { endpoint, timeoutMs, retries, everySec } = options;
  const shown = records.slice(-VIEW_REQUESTS);
  const rows: ViewCell[][] = shown.map((r) => [
    r.n,
    clock(r.startedAt),
    r.cmd,
    `${r.attempt} of ${retries}`,
    outcome(r, retries, nowMs),
    r.answeredBy ?? "",
    r.latencyMs === undefined ? "" : `${r.latencyMs} ms`,
    { text: r.answer ?? "", tone: "dim" },
  ]);
  const t = totals;
  const next = options.nextAt === undefined ? "" : ` · next request in ${formatSeconds(options.nextAt - nowMs)}`;
  const summary =
    `${t.requests} requests: ${t.answered} answered (${t.firstAttempt} at the first attempt), ${t.noReply} no reply,` +
    ` ${t.refused} refused · ${t.timeouts} timeouts${next}`;
  return {
    title: `REQ → ${endpoint} every ${everySec} s · Lazy Pirate: ${retries} attempts of ${timeoutMs} ms, a new socket each`,
    columns: CLI_COLUMNS,
    rows,
    summary,
  };
}

type Rec = Record<string, unknown>;

/** Who answered, from a result that says it (`info`); else undefined. */
export function answeredBy(result: unknown): string | undefined {
  const r = (result ?? {}) as Rec;
  return typeof r.agent === "string" ? `${r.agent}${typeof r.pid === "number" ? ` pid ${r.pid}` : ""}` : undefined;
}

/** A result in a few words, for the view's ANSWER column. */
export function answerInWords(cmd: string, result: unknown): string {
  const r = (result ?? {}) as Rec;
  const n = (v: unknown) => (typeof v === "number" ? v : 0);
  switch (cmd) {
    case "uptime":
      return `agent up ${Math.round(n(r.agentSec))} s`;
    case "load":
      return `load ${n(r.load1).toFixed(2)}`;
    case "mem":
      return `${pct(n(r.usedShare))} used`;
    case "cpu":
      return `${pct(n(r.busyShare))} busy`;
    case "ps":
      return `${Array.isArray(r.processes) ? r.processes.length : 0} of ${n(r.total)} processes`;
    case "disk":
      return `${String(r.path)}: ${pct(n(r.totalBytes) ? 1 - n(r.availableBytes) / n(r.totalBytes) : 0)} used`;
    case "info":
      // Who answered is the point, and ANSWERED BY shows it.
      return "";
    default:
      return "";
  }
}
