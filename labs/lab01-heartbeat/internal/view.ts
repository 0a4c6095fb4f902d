import type { View, ViewCell } from "@zlabs/kit";
import type { AgentRecord, AgentState } from "./liveness.ts";
import { SUSPECT_AFTER_INTERVALS } from "./liveness.ts";
import type { Level } from "./protocol.ts";

const STATE_TONE = { alive: "good", suspect: "warn", dead: "bad" } as const satisfies Record<AgentState, string>;
const LEVEL_TONE = { ok: "good", warn: "warn", crit: "bad" } as const satisfies Record<Level, string>;
/** Rows the view lists at most (the dashboard tracks up to MAX_AGENTS; a screen shows far fewer). */
export const MAX_VIEW_ROWS = 100;

export const VIEW_COLUMNS = ["AGENT", "RACK", "STATE", "LAST BEAT", "LEVEL", "CPU", "LOAD1", "MEM", "SEQ", "LOST", "RESTARTS", "REASON"];

export interface DashboardViewOptions {
  /** The dashboard's --liveness: intervals of silence before dead. */
  liveness: number;
  malformed: number;
  refused: number;
  /** The subscriptions (topic prefixes) the dashboard made, shown in the title when it filters. */
  subscriptions: readonly string[];
}

const pct = (v: number) => `${Math.round(v * 100)}%`;
const seconds = (ms: number) => `${(Math.max(0, ms) / 1000).toFixed(1)}s`;

/**
 * The dashboard's live view: one row per agent (its liveness state, how long ago it was last
 * heard, its alert level and host figures, beats lost and restarts), pure so it can be tested.
 */
export function dashboardView(agents: readonly AgentRecord[], nowMs: number, options: DashboardViewOptions): View {
  const counts = { alive: 0, suspect: 0, dead: 0 };
  for (const a of agents) counts[a.state] += 1;
  const filter =
    options.subscriptions.length === 1 && options.subscriptions[0] === "hb." ? "" : ` · subscribed to ${options.subscriptions.join(" ")}`;
  const title = `${agents.length} agents: ${counts.alive} alive, ${counts.suspect} suspect, ${counts.dead} dead${filter}`;
  const rows: ViewCell[][] = agents.slice(0, MAX_VIEW_ROWS).map((a) => {
    const silent = nowMs - a.lastSeenMs;
    return [
      a.agent,
      a.rack,
      { text: a.state, tone: STATE_TONE[a.state] },
      { text: `${seconds(silent)} ago`, tone: a.state === "alive" ? "dim" : STATE_TONE[a.state] },
      { text: a.level, tone: LEVEL_TONE[a.level] },
      pct(a.metrics.cpu),
      a.metrics.load1.toFixed(2),
      pct(a.metrics.memTotalBytes ? a.metrics.memUsedBytes / a.metrics.memTotalBytes : 0),
      a.lastSeq,
      a.dropped ? { text: a.dropped, tone: "warn" } : 0,
      a.restarts ? { text: a.restarts, tone: "info" } : 0,
      { text: a.reason ?? "", tone: "dim" },
    ];
  });
  const summary = [
    `suspect after ${SUSPECT_AFTER_INTERVALS} intervals of silence, dead after ${options.liveness} (each agent's own interval)` +
      ` · malformed dropped ${options.malformed}${options.refused ? ` · refused (table full) ${options.refused}` : ""}`,
  ];
  if (agents.length > MAX_VIEW_ROWS) summary.unshift(`… ${agents.length - MAX_VIEW_ROWS} more agents`);
  if (agents.length === 0) summary.unshift("no heartbeat yet: an agent appears at its first heartbeat");
  return { title, columns: VIEW_COLUMNS, rows, summary };
}
