/**
 * A node's map on disk: JSON lines in `.store/<id>.jsonl`, one `{"entry": {...}}` per entry applied
 * and `{"inc": n}` for the incarnation, replayed at start. Replay compacts the file (the live
 * entries and tombstones only, written to a temporary file, fsynced and renamed). Lines are appended
 * without an fsync each: a line lost in a crash is repaired by anti-entropy like any dropped update.
 */
import { appendFileSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { syncDirectorySync } from "@zlabs/kit";
import { checkEntry, type Entry, wireEntry } from "./protocol.ts";

export interface Replayed {
  entries: Entry[];
  /** The last incarnation written, or -1 when none. */
  inc: number;
  /** Lines that were not a valid record (a torn last line after a crash, or an edit): skipped. */
  bad: number;
}

/** Reads a store file's records; a missing file is an empty store. */
export function readStore(path: string): Replayed {
  const out: Replayed = { entries: [], inc: -1, bad: 0 };
  if (!existsSync(path)) return out;
  for (const line of readFileSync(path, "utf8").split("\n")) {
    if (line.trim() === "") continue;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch {
      out.bad += 1;
      continue;
    }
    const r = record as { entry?: unknown; inc?: unknown };
    if (r && typeof r === "object" && "entry" in r) {
      const e = checkEntry(r.entry);
      if (e.ok) out.entries.push(e.value);
      else out.bad += 1;
    } else if (r && typeof r === "object" && Number.isInteger(r.inc) && (r.inc as number) >= 0 && (r.inc as number) <= 0xffffffff)
      out.inc = Math.max(out.inc, r.inc as number);
    else out.bad += 1;
  }
  return out;
}

export class Store {
  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
  }

  /** Rewrites the file with exactly these entries and the incarnation (atomically: temp, fsync, rename). */
  compact(entries: readonly Entry[], inc: number): void {
    const tmp = `${this.path}.tmp`;
    const fd = openSync(tmp, "w");
    try {
      writeSync(fd, `${JSON.stringify({ inc })}\n`);
      for (const e of entries) writeSync(fd, `${JSON.stringify({ entry: wireEntry(e) })}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
    syncDirectorySync(dirname(this.path));
  }

  append(entry: Entry): void {
    appendFileSync(this.path, `${JSON.stringify({ entry: wireEntry(entry) })}\n`);
  }

  incarnation(inc: number): void {
    appendFileSync(this.path, `${JSON.stringify({ inc })}\n`);
  }
}
