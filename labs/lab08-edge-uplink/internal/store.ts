import { OnceStore } from "@zlabs/kit";
import type { Reading } from "./protocol.ts";

/**
 * The readings store, idempotent on (device, seq): <dir>/<device>/<seq>.json, written at most once
 * (the kit's OnceStore: a temporary file hard-linked into place, which fails atomically if the
 * reading is there already), even with every worker of both receivers writing into the same
 * store. That is what makes a device's retry harmless.
 */
export class ReadingStore {
  private readonly store: OnceStore;

  constructor(dir: string) {
    this.store = new OnceStore(dir);
  }

  /** "stored" the first time, "duplicate" ever after. */
  put(reading: Reading, worker: string): "stored" | "duplicate" {
    return this.store.put(
      reading.device,
      String(reading.seq),
      `${JSON.stringify({ ...reading, storedBy: worker, storedAt: Date.now() })}\n`,
    );
  }

  /** The sequence numbers stored for a device, ascending. */
  seqs(device: string): number[] {
    return this.store
      .keys(device)
      .map((k) => Number.parseInt(k, 10))
      .sort((a, b) => a - b);
  }
}
