import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";

/** The writer's files: events-<batch>-0001.ndjson... A batch name starts with its UTC time, so names sort by age. */
const EVENTS_FILE = /^events-(.+)-\d{4,}\.ndjson$/;

/**
 * Keeps the files of the last `keep` batches in `dir` (by batch name, which starts with the batch's
 * time; `current` always counts as the newest) and deletes the files of older ones. Only files the
 * writer names are touched. Returns the batches removed.
 */
export function pruneBatches(dir: string, keep: number, current?: string): string[] {
  if (keep <= 0) return [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const byBatch = new Map<string, string[]>();
  for (const name of names) {
    const batch = EVENTS_FILE.exec(name)?.[1];
    if (batch === undefined) continue;
    byBatch.set(batch, [...(byBatch.get(batch) ?? []), name]);
  }
  const older = [...byBatch.keys()].filter((b) => b !== current).sort();
  const removed = older.slice(0, Math.max(0, older.length - (current === undefined ? keep : keep - 1)));
  for (const batch of removed) for (const name of byBatch.get(batch) ?? []) rmSync(join(dir, name), { force: true });
  return removed;
}
