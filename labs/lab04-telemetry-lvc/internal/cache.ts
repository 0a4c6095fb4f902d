/**
 * The Last Value Cache: the latest [header, payload] of every topic, bounded in both count and
 * age. A Map keeps insertion order, so deleting and re-inserting on every update makes its first
 * entry the least recently updated one, and eviction is O(1).
 */
export interface CachedSample {
  topic: string;
  header: Buffer;
  payload: Buffer;
  /** Who published it (the header's source), for the broker's view. */
  source: string;
  /** Monotonic time of the update, ms. */
  at: number;
}

export class LastValueCache {
  private readonly entries = new Map<string, CachedSample>();
  evicted = 0;

  constructor(
    private readonly maxTopics: number,
    /** 0: values never expire. */
    private readonly maxAgeMs: number,
    /** The clock of `at` (the broker's view measures ages with it). */
    readonly now: () => number = () => performance.now(),
  ) {}

  get size(): number {
    return this.entries.size;
  }

  put(topic: string, header: Buffer, payload: Buffer, source = ""): void {
    this.entries.delete(topic);
    // Copies: the frames zeromq hands over may be views of its own receive buffers.
    this.entries.set(topic, { topic, header: Buffer.from(header), payload: Buffer.from(payload), source, at: this.now() });
    while (this.entries.size > this.maxTopics) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
      this.evicted += 1;
    }
  }

  /** Every live cached sample whose topic starts with the prefix ("" is all of them). */
  matching(prefix: string): CachedSample[] {
    this.expire();
    const out: CachedSample[] = [];
    for (const e of this.entries.values()) if (e.topic.startsWith(prefix)) out.push(e);
    return out;
  }

  /** Every live cached sample, least recently updated first. */
  all(): IterableIterator<CachedSample> {
    this.expire();
    return this.entries.values();
  }

  /** Drops values older than maxAgeMs; they are the first entries, so this stops at the first fresh one. */
  expire(): void {
    if (this.maxAgeMs <= 0) return;
    const limit = this.now() - this.maxAgeMs;
    for (const [topic, e] of this.entries) {
      if (e.at >= limit) break;
      this.entries.delete(topic);
      this.evicted += 1;
    }
  }
}
