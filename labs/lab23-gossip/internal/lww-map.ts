/**
 * The replicated key-value map: last-writer-wins by (Lamport clock, origin id), deletes as
 * tombstones. Pure: no clock, no I/O; the node feeds it writes and peers' entries, persists what
 * it applied, and gossips what it says changed.
 */
import { createHash } from "node:crypto";
import { type Entry, MAX_KEYS, type Version } from "./protocol.ts";

/**
 * The total order of versions: the higher Lamport clock wins; on a tie the higher origin id; on a
 * tie of both (a node that lost its store reusing a clock) the tombstone, then the higher value, so
 * every node picks the same entry whatever the order it saw them in. Positive when a beats b.
 */
export function compareEntries(a: Entry, b: Entry): number {
  if (a.clock !== b.clock) return a.clock - b.clock;
  if (a.origin !== b.origin) return a.origin < b.origin ? -1 : 1;
  if (a.deleted !== b.deleted) return a.deleted ? 1 : -1;
  const av = a.value ?? "";
  const bv = b.value ?? "";
  return av === bv ? 0 : av < bv ? -1 : 1;
}

/** Whether the version [clock, origin] is newer than the entry's. */
export function versionNewer(v: Version, e: Entry | undefined): boolean {
  if (!e) return true;
  if (v[1] !== e.clock) return v[1] > e.clock;
  return v[2] > e.origin;
}

export type MergeResult = "applied" | "older" | "same" | "full";

export class LwwMap {
  private readonly entries = new Map<string, Entry>();
  /** The Lamport clock: above every clock this node has seen. */
  lamport = 0;
  /** When each tombstone was learned (the caller's clock), for collection after a lifetime. */
  private readonly tombstonesSince = new Map<string, number>();

  constructor(private readonly maxKeys = MAX_KEYS) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: string): Entry | undefined {
    return this.entries.get(key);
  }

  /** Every entry, tombstones included, in key order. */
  all(): Entry[] {
    return [...this.entries.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** Live keys (no tombstones), in key order. */
  live(): Entry[] {
    return this.all().filter((e) => !e.deleted);
  }

  /** A local write: the next Lamport clock, this node as origin. Undefined when the map is full. */
  write(key: string, value: string | undefined, origin: string, now = 0): Entry | undefined {
    if (!this.entries.has(key) && this.entries.size >= this.maxKeys) return undefined;
    this.lamport += 1;
    const entry: Entry =
      value === undefined
        ? { key, clock: this.lamport, origin, deleted: true }
        : { key, value, clock: this.lamport, origin, deleted: false };
    this.store(entry, now);
    return entry;
  }

  /** A peer's entry (or one replayed from disk): kept when it beats what is held. */
  merge(entry: Entry, now = 0): MergeResult {
    if (entry.clock > this.lamport) this.lamport = entry.clock;
    const held = this.entries.get(entry.key);
    if (held) {
      const c = compareEntries(entry, held);
      if (c < 0) return "older";
      if (c === 0) return "same";
    } else if (this.entries.size >= this.maxKeys) return "full";
    this.store(entry, now);
    return "applied";
  }

  private store(entry: Entry, now: number): void {
    this.entries.set(entry.key, entry);
    if (entry.deleted) this.tombstonesSince.set(entry.key, now);
    else this.tombstonesSince.delete(entry.key);
  }

  /** Every version held: what a DIGEST carries. */
  versions(): Version[] {
    return this.all().map((e) => [e.key, e.clock, e.origin]);
  }

  /** The entries this node holds that are newer than (or missing from) a peer's digest. */
  newerThan(peer: readonly Version[]): Entry[] {
    const theirs = new Map(peer.map((v) => [v[0], v]));
    return this.all().filter((e) => {
      const v = theirs.get(e.key);
      return !v || compareEntries(e, { key: e.key, clock: v[1], origin: v[2], deleted: e.deleted, value: e.value }) > 0;
    });
  }

  /** Whether a peer's digest holds a version newer than this node's (or a key it lacks). */
  behind(peer: readonly Version[]): boolean {
    return peer.some((v) => versionNewer(v, this.entries.get(v[0])));
  }

  /** Tombstones older than the lifetime are forgotten; returns their keys. */
  collect(now: number, lifetimeMs: number): string[] {
    const gone: string[] = [];
    for (const [key, since] of this.tombstonesSince) {
      if (now - since < lifetimeMs) continue;
      this.tombstonesSince.delete(key);
      this.entries.delete(key);
      gone.push(key);
    }
    return gone;
  }

  /** A short hash of every entry (tombstones included): equal on two nodes means equal maps. */
  digest(): string {
    return mapDigest(this.all());
  }
}

export function mapDigest(entries: readonly Entry[]): string {
  const h = createHash("sha256");
  for (const e of entries) h.update(`${e.key}\0${e.clock}\0${e.origin}\0${e.deleted ? 1 : 0}\0${e.value ?? ""}\n`);
  return h.digest("hex").slice(0, 8);
}
