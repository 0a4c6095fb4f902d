import type { LogEntry, LogMatch, RoleProcess } from "./process.ts";
import { matches } from "./process.ts";

/**
 * Helpers for fault tests that reason about sequences of events: "the worker logged three
 * reconnects", "the pauses between them doubled". Times come from the log records themselves
 * (pino's `time`), so a busy test runner does not distort them.
 */

/** Waits until the process has logged `count` lines matching, from index `from`; resolves with them. */
export async function waitForCount(proc: RoleProcess, match: LogMatch, count: number, timeoutMs: number, from = 0): Promise<LogEntry[]> {
  let found: LogEntry[] = [];
  await proc.waitForLog(
    () => {
      found = proc.find(match, from);
      return found.length >= count;
    },
    timeoutMs,
    from,
  );
  return found.slice(0, count);
}

/** The moment a log record was written, in ms since the epoch (pino's ISO `time` field). */
export function loggedAt(entry: LogEntry): number {
  const t = entry.time;
  const ms = typeof t === "number" ? t : Date.parse(String(t));
  if (Number.isNaN(ms)) throw new Error(`log record without a time: ${JSON.stringify(entry)}`);
  return ms;
}

/** Milliseconds between consecutive records. */
export function gapsBetween(entries: readonly LogEntry[]): number[] {
  return entries.slice(1).map((e, i) => loggedAt(e) - loggedAt(entries[i] as LogEntry));
}

/** Milliseconds from the first record matching `from` to the first later record matching `to`. */
export function timeBetween(entries: readonly LogEntry[], from: LogMatch, to: LogMatch): number | undefined {
  const start = entries.findIndex((e) => matches(e, from));
  if (start === -1) return undefined;
  const end = entries.slice(start + 1).find((e) => matches(e, to));
  return end ? loggedAt(end) - loggedAt(entries[start] as LogEntry) : undefined;
}
