import { linkSync, mkdirSync, readdirSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Reading } from "./protocol.ts";

/**
 * The readings store, idempotent on (device, seq): one file per reading, <dir>/<device>/<seq>.json.
 * A reading is written to a temporary file and then hard-linked into place; link() fails with
 * EEXIST when the reading is there already, atomically, even with many workers on both receivers
 * writing into the same store. That is what makes a retry harmless.
 */
export class ReadingStore {
  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  /** "stored" the first time, "duplicate" ever after. */
  put(reading: Reading, worker: string): "stored" | "duplicate" {
    const deviceDir = join(this.dir, reading.device);
    mkdirSync(deviceDir, { recursive: true });
    const tmp = join(deviceDir, `.${reading.seq}.${process.pid}.${worker}.tmp`);
    writeFileSync(tmp, `${JSON.stringify({ ...reading, storedBy: worker, storedAt: Date.now() })}\n`);
    try {
      linkSync(tmp, join(deviceDir, `${reading.seq}.json`));
      return "stored";
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") return "duplicate";
      throw err;
    } finally {
      unlinkSync(tmp);
    }
  }

  /** The sequence numbers stored for a device, ascending. */
  seqs(device: string): number[] {
    let names: string[];
    try {
      names = readdirSync(join(this.dir, device));
    } catch {
      return [];
    }
    return names
      .filter((n) => /^\d+\.json$/.test(n))
      .map((n) => Number.parseInt(n, 10))
      .sort((a, b) => a - b);
  }
}
