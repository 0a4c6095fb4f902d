/** Human-readable tables for the admin CLI; --json bypasses all of this. */

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

export function bytes(n: number): string {
  if (n >= GiB) return `${(n / GiB).toFixed(1)} GiB`;
  if (n >= MiB) return `${(n / MiB).toFixed(1)} MiB`;
  return `${Math.round(n / 1024)} KiB`;
}

const percent = (share: number) => `${(share * 100).toFixed(1)} %`;

function duration(sec: number): string {
  const d = Math.floor(sec / 86400);
  const h = Math.floor((sec % 86400) / 3600);
  const m = Math.floor((sec % 3600) / 60);
  const s = Math.floor(sec % 60);
  return `${d > 0 ? `${d}d ` : ""}${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
}

export function table(header: string[], rows: string[][], rightAligned: number[] = []): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, c) => (rightAligned.includes(c) ? cell.padStart(widths[c] ?? 0) : cell.padEnd(widths[c] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

function pairs(entries: [string, string][]): string {
  const width = Math.max(...entries.map(([k]) => k.length));
  return entries.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join("\n");
}

type Rec = Record<string, unknown>;
const num = (v: unknown) => (typeof v === "number" ? v : 0);

/** Renders a command's result; anything unexpected falls back to JSON rather than failing. */
export function formatResult(cmd: string, result: unknown): string {
  const r = (result ?? {}) as Rec;
  switch (cmd) {
    case "ps": {
      const procs = Array.isArray(r.processes) ? (r.processes as Rec[]) : [];
      const rows = procs.map((p) => [String(p.pid), p.cpu === null ? "-" : num(p.cpu).toFixed(1), bytes(num(p.rssBytes)), String(p.name)]);
      return `${table(["PID", "CPU%", "RSS", "NAME"], rows, [0, 1, 2])}\n(${procs.length} of ${num(r.total)} processes, by ${String(r.sortedBy)})`;
    }
    case "mem":
      return pairs([
        ["total", bytes(num(r.totalBytes))],
        ["used", `${bytes(num(r.usedBytes))} (${percent(num(r.usedShare))})`],
        ["free", bytes(num(r.freeBytes))],
      ]);
    case "cpu": {
      const cores = Array.isArray(r.perCore) ? (r.perCore as number[]) : [];
      return pairs([
        ["model", String(r.model)],
        ["cores", `${num(r.cores)} at ${num(r.speedMHz)} MHz`],
        ["busy", `${percent(num(r.busyShare))} over ${num(r.sampledMs)} ms`],
        ["per core", cores.map(percent).join("  ")],
      ]);
    }
    case "load":
      return pairs([
        ["load 1/5/15 min", `${num(r.load1).toFixed(2)} ${num(r.load5).toFixed(2)} ${num(r.load15).toFixed(2)}`],
        ["cores", String(num(r.cores))],
      ]);
    case "uptime":
      return pairs([
        ["host up", duration(num(r.hostSec))],
        ["agent up", duration(num(r.agentSec))],
      ]);
    case "disk":
      return pairs([
        ["path", String(r.path)],
        ["total", bytes(num(r.totalBytes))],
        ["free", bytes(num(r.freeBytes))],
        ["available", bytes(num(r.availableBytes))],
      ]);
    case "info":
      return pairs(Object.entries(r).map(([k, v]) => [k, Array.isArray(v) ? v.join(", ") : String(v)]));
    default:
      return JSON.stringify(result, null, 2);
  }
}
