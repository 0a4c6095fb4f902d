import type { AgentRecord, AgentState } from "./liveness.ts";
import type { Level } from "./protocol.ts";

const STATE_COLOR: Record<AgentState, number> = { alive: 32, suspect: 33, dead: 31 };
const LEVEL_COLOR: Record<Level, number> = { ok: 32, warn: 33, crit: 31 };

const pct = (v: number) => `${Math.round(v * 100)}%`;
const paint = (text: string, code: number, color: boolean) => (color ? `\x1b[${code}m${text}\x1b[0m` : text);

/** One compact line per agent, for the periodic status log. */
export function statusLine(agents: readonly AgentRecord[]): string {
  return agents.map((a) => `${a.agent}=${a.state}/${a.level}`).join(" ");
}

/** The live table, as text; pure so it can be tested and reused. */
export function renderTable(
  agents: readonly AgentRecord[],
  nowMs: number,
  options: { color: boolean; malformed: number; events: string[] },
): string {
  const header = ["AGENT", "RACK", "STATE", "LEVEL", "CPU", "MEM", "LOAD1", "SEQ", "DROPPED", "RESTARTS", "SILENT"];
  const rows = agents.map((a) => [
    a.agent,
    a.rack,
    a.state,
    a.level,
    pct(a.metrics.cpu),
    pct(a.metrics.memTotalBytes ? a.metrics.memUsedBytes / a.metrics.memTotalBytes : 0),
    a.metrics.load1.toFixed(2),
    String(a.lastSeq),
    String(a.dropped),
    String(a.restarts),
    `${((nowMs - a.lastSeenMs) / 1000).toFixed(1)}s`,
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? "").length)));
  const line = (cells: string[], colorOf?: (c: number, cell: string) => number | undefined) =>
    cells
      .map((cell, c) => {
        const padded = cell.padEnd(widths[c] ?? 0);
        const code = colorOf?.(c, cell);
        return code ? paint(padded, code, options.color) : padded;
      })
      .join("  ");
  const body = rows.map((r) =>
    line(r, (c, cell) => (c === 2 ? STATE_COLOR[cell as AgentState] : c === 3 ? LEVEL_COLOR[cell as Level] : undefined)),
  );
  const counts = { alive: 0, suspect: 0, dead: 0 };
  for (const a of agents) counts[a.state] += 1;
  return [
    `cluster heartbeat: ${agents.length} agents, ${counts.alive} alive, ${counts.suspect} suspect, ${counts.dead} dead, ${options.malformed} malformed dropped`,
    "",
    line(header),
    ...(body.length ? body : ["(no heartbeat yet: agents appear at their first heartbeat)"]),
    "",
    "recent events:",
    ...options.events.map((e) => `  ${e}`),
  ].join("\n");
}
