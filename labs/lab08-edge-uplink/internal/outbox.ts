import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { decodeReading, encodeReading, type Reading } from "./protocol.ts";

/**
 * The device's store-and-forward buffer on disk: one file per reading not yet acknowledged,
 * named by its sequence number, so readings survive a device restart and leave in order. The
 * next sequence number is kept beside them. Bounded: when full, the oldest reading is dropped
 * (and counted), because a field device's disk is finite and new readings matter more.
 */
export class Outbox {
  private readonly pending: number[];
  private nextSeq: number;
  dropped = 0;

  constructor(
    private readonly dir: string,
    private readonly capacity: number,
  ) {
    mkdirSync(dir, { recursive: true });
    // A write the device crashed in (killed between writing and renaming) left a .tmp: the reading
    // was never taken, as far as anyone knows. Only this device writes here, so it is safe to remove.
    for (const name of readdirSync(dir).filter((n) => n.endsWith(".tmp"))) rmSync(join(dir, name), { force: true });
    this.pending = readdirSync(dir)
      .filter((n) => /^\d+\.reading$/.test(n))
      .map((n) => Number.parseInt(n, 10))
      .sort((a, b) => a - b);
    let saved = 0;
    try {
      saved = Number(readFileSync(join(dir, "next-seq"), "utf8"));
    } catch {
      saved = 0;
    }
    this.nextSeq = Math.max(Number.isSafeInteger(saved) ? saved : 0, (this.pending.at(-1) ?? 0) + 1, 1);
  }

  get size(): number {
    return this.pending.length;
  }

  /** Records a new reading under the next sequence number; returns it. */
  add(make: (seq: number) => Reading): Reading {
    const reading = make(this.nextSeq);
    const file = join(this.dir, `${reading.seq}.reading`);
    writeFileSync(`${file}.tmp`, encodeReading(reading));
    renameSync(`${file}.tmp`, file);
    this.pending.push(reading.seq);
    this.nextSeq += 1;
    writeFileSync(join(this.dir, "next-seq"), String(this.nextSeq));
    while (this.pending.length > this.capacity) {
      this.remove(this.pending[0] as number);
      this.dropped += 1;
    }
    return reading;
  }

  /** The oldest reading still to deliver. */
  oldest(): Reading | undefined {
    while (this.pending.length > 0) {
      const seq = this.pending[0] as number;
      try {
        const decoded = decodeReading(readFileSync(join(this.dir, `${seq}.reading`)));
        if (decoded.ok) return decoded.value;
      } catch {
        // fall through: an unreadable file is dropped below
      }
      this.remove(seq);
    }
    return undefined;
  }

  /** Delivered: forget it. */
  remove(seq: number): void {
    const i = this.pending.indexOf(seq);
    if (i !== -1) this.pending.splice(i, 1);
    try {
      unlinkSync(join(this.dir, `${seq}.reading`));
    } catch {
      // already gone
    }
  }
}
