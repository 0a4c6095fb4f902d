import { readdirSync, statSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { OnceStore } from "@zlabs/kit";

/** The store's group: the archive is <folder>/records/<record id>.json. */
export const RECORDS = "records";
/** Records the archive keeps by default, the newest; 0 keeps every one. */
export const KEEP_RECORDS = 2000;
/** An archivist counts the shared folder again after storing this many records (or a tenth of keep, if less). */
const COUNT_EVERY = 50;
/** A temporary file this old is a crashed write's leftover (a write takes milliseconds). */
export const STALE_TMP_MS = 60_000;
/** A temporary file of the kit's OnceStore: .<key>.<writer pid>.<random>.tmp */
const TMP = /^\..+\.(\d+)\.[a-z0-9]*\.tmp$/;

/** Does a process with this pid run (on this machine)? */
function running(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function unlinked(path: string): boolean {
  try {
    unlinkSync(path);
    return true;
  } catch {
    return false; // another archivist removed it first
  }
}

/**
 * The archive every archivist shares: each record written once (the kit's OnceStore), and kept
 * bounded. An archivist counts the folder every 50 records it stores (every `keep`/10, if less),
 * and past `keep` plus a tenth removes the oldest (by modification time) down to `keep`: the folder
 * holds about `keep` files, a fifth more at most, however long the demo runs.
 * A record id is recognised as a duplicate for as long as its file is kept: the newest `keep`
 * records are many times what the clients have in flight or retry, so a retry still finds its
 * record. A write that crashed (SIGKILL between writing and linking) leaves its temporary file;
 * `removeLeftovers` deletes those whose writer is gone.
 */
export class Archive {
  private readonly store: OnceStore;
  private readonly dir: string;
  private readonly slack: number;
  private sinceCount = 0;
  /** Record files in the archive when last counted, plus the ones this process stored since. */
  files = 0;
  /** Records removed to keep the archive bounded, by this process. */
  trimmed = 0;

  constructor(
    folder: string,
    readonly keep = KEEP_RECORDS,
  ) {
    this.store = new OnceStore(folder);
    this.dir = join(folder, RECORDS);
    this.slack = Math.max(1, Math.ceil(keep / 10));
    this.count();
    // What earlier runs left: back to the bound at once.
    if (keep > 0 && this.files > keep) this.trim();
  }

  /** "stored" the first time a record id comes, "duplicate" while its file is kept. */
  put(recordId: string, text: string): "stored" | "duplicate" {
    const result = this.store.put(RECORDS, recordId, text);
    if (result === "stored") {
      this.files += 1;
      this.sinceCount += 1;
      // Other archivists write here too: count again now and then, and trim when past the bound.
      if (this.keep > 0 && this.sinceCount >= Math.min(this.slack, COUNT_EVERY)) {
        this.count();
        if (this.files > this.keep + this.slack) this.trim();
      }
    }
    return result;
  }

  /** The record files (names without ".json"); temporary files are not records. */
  keys(): string[] {
    return this.store.keys(RECORDS);
  }

  private names(): string[] {
    try {
      return readdirSync(this.dir);
    } catch {
      return [];
    }
  }

  private count(): void {
    this.files = this.names().filter((n) => n.endsWith(".json") && !n.startsWith(".")).length;
    this.sinceCount = 0;
  }

  /** Removes the oldest records until `keep` are left; returns how many went. */
  trim(): number {
    const records = this.names()
      .filter((n) => n.endsWith(".json") && !n.startsWith("."))
      .map((n) => {
        const path = join(this.dir, n);
        try {
          return { path, at: statSync(path).mtimeMs };
        } catch {
          return undefined; // trimmed by another archivist meanwhile
        }
      })
      .filter((r) => r !== undefined)
      .sort((a, b) => a.at - b.at);
    let removed = 0;
    for (const r of records.slice(0, Math.max(0, records.length - this.keep))) if (unlinked(r.path)) removed += 1;
    this.trimmed += removed;
    this.count(); // another archivist may have trimmed the same records at the same time
    return removed;
  }

  /** Deletes the temporary files of writes that crashed (their writer gone, or too old); returns how many. */
  removeLeftovers(now = Date.now()): number {
    let removed = 0;
    for (const name of this.names()) {
      const tmp = TMP.exec(name);
      if (!tmp) continue;
      const path = join(this.dir, name);
      let age = 0;
      try {
        age = now - statSync(path).mtimeMs;
      } catch {
        continue;
      }
      if ((!running(Number(tmp[1])) || age > STALE_TMP_MS) && unlinked(path)) removed += 1;
    }
    return removed;
  }
}
