import { readdirSync, statSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { OnceStore } from "@zlabs/kit";
import type { Reading } from "./protocol.ts";

/** Readings kept per device by default: the last 1,000 (about 17 minutes of the demo's pace). */
export const KEEP_PER_DEVICE = 1000;
/** A temporary file older than this is the leftover of a write that crashed (a worker killed mid-write). */
const STALE_TMP_MS = 60_000;

const SEQ_FILE = /^(\d+)\.json$/;

/**
 * The readings store, idempotent on (device, seq): <dir>/<device>/<seq>.json, written at most once
 * (the kit's OnceStore: a temporary file hard-linked into place, which fails atomically if the
 * reading is there already), even with every worker of both receivers writing into the same
 * store. That is what makes a device's retry harmless.
 *
 * Bounded: it keeps the last `keep` readings of each device (0: all). Storing seq N deletes seq
 * N − keep, so a folder never grows past `keep` files; `sweep()` (at a worker's start) trims what
 * is older still (a store from a run with a larger `keep`) and removes crashed writes' temporary
 * files. A device sends its readings in order and one at a time, and a retry is always of its
 * oldest unacknowledged reading, which is among the newest: so trimming never lets a retry be
 * stored twice.
 */
export class ReadingStore {
  private readonly store: OnceStore;

  constructor(
    private readonly dir: string,
    readonly keep = 0,
  ) {
    this.store = new OnceStore(dir);
  }

  /** "stored" the first time, "duplicate" ever after (within the last `keep` readings of the device). */
  put(reading: Reading, worker: string): "stored" | "duplicate" {
    const status = this.store.put(
      reading.device,
      String(reading.seq),
      `${JSON.stringify({ ...reading, storedBy: worker, storedAt: Date.now() })}\n`,
    );
    if (status === "stored" && this.keep > 0 && reading.seq > this.keep) this.remove(reading.device, reading.seq - this.keep);
    return status;
  }

  /** The sequence numbers stored for a device, ascending. */
  seqs(device: string): number[] {
    return this.store
      .keys(device)
      .map((k) => Number.parseInt(k, 10))
      .sort((a, b) => a - b);
  }

  /** Trims every device to its last `keep` readings and removes stale temporary files; returns how many files went. */
  sweep(now = Date.now()): number {
    let removed = 0;
    let devices: string[];
    try {
      devices = readdirSync(this.dir);
    } catch {
      return 0;
    }
    for (const device of devices) {
      let names: string[];
      try {
        names = readdirSync(join(this.dir, device));
      } catch {
        continue;
      }
      for (const name of names.filter((n) => n.endsWith(".tmp"))) {
        try {
          if (now - statSync(join(this.dir, device, name)).mtimeMs > STALE_TMP_MS && this.unlink(device, name)) removed += 1;
        } catch {
          // gone meanwhile
        }
      }
      if (this.keep <= 0) continue;
      const seqs = names.flatMap((n) => SEQ_FILE.exec(n)?.[1] ?? []).map(Number);
      const newest = seqs.reduce((a, b) => Math.max(a, b), 0);
      for (const seq of seqs) if (seq <= newest - this.keep && this.remove(device, seq)) removed += 1;
    }
    return removed;
  }

  private remove(device: string, seq: number): boolean {
    return this.unlink(device, `${seq}.json`);
  }

  private unlink(device: string, name: string): boolean {
    try {
      unlinkSync(join(this.dir, device, name));
      return true;
    } catch {
      return false; // another worker trimmed it first, or it was never stored
    }
  }
}
