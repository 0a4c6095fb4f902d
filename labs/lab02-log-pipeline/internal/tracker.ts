/**
 * The writer's loss accounting for one batch, as a plain state machine: which line sequence
 * numbers are stored, the watermark below which all are, and the holes to ask for again.
 */
import { MAX_MISSING_RANGES } from "./protocol.ts";

export type ChunkVerdict = "stored" | "duplicate" | "out of range";

export class BatchTracker {
  private readonly seen: Uint8Array;
  stored = 0;
  duplicates = 0;
  /** Every line below this sequence number is stored. */
  watermark = 0;

  constructor(readonly expected: number) {
    this.seen = new Uint8Array(expected);
  }

  get complete(): boolean {
    return this.stored === this.expected;
  }

  /** A chunk is stored whole or not at all: a retry resends the same chunk, so any overlap is a duplicate. */
  record(first: number, count: number): ChunkVerdict {
    if (first + count > this.expected) return "out of range";
    for (let s = first; s < first + count; s++) {
      if (this.seen[s]) {
        this.duplicates += 1;
        return "duplicate";
      }
    }
    this.seen.fill(1, first, first + count);
    this.stored += count;
    while (this.watermark < this.expected && this.seen[this.watermark]) this.watermark += 1;
    return "stored";
  }

  /** The runs of lines not stored, as [first, count]. */
  holes(limit = MAX_MISSING_RANGES): [number, number][] {
    const out: [number, number][] = [];
    let s = this.watermark;
    while (s < this.expected && out.length < limit) {
      if (this.seen[s]) {
        s += 1;
        continue;
      }
      const start = s;
      while (s < this.expected && !this.seen[s]) s += 1;
      out.push([start, s - start]);
    }
    return out;
  }
}
