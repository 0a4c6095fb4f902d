import { type KvMsg, uuidText } from "./kvmsg.ts";

/** The most entries either list holds; past it the oldest goes (and is counted). */
export const MAX_PENDING = 10_000;

/**
 * The passive server's pending list (the Guide's model 6), de-duplicated by uuid.
 *
 * Clients send every KVSET to both servers. The passive server holds a client's update until the
 * active server's publisher brings the same uuid back (then the update is in its map with the
 * active's sequence number, and the held copy is dropped); if the active dies first, the new active
 * publishes what it still holds. When the active's copy comes first, its uuid is noted instead, so
 * the client's copy is dropped when it comes. (The Guide keeps both kinds in one list and would
 * publish the noted ones again at fail-over; here only client updates are ever published.)
 *
 * Both lists are bounded by count, and an entry goes once the peer has been heard for longer than
 * the given age after it arrived: the active never published it, or its client's copy never came.
 */
export class PendingList {
  /** Client updates not yet seen from the active peer, by uuid, oldest first. */
  private readonly held = new Map<string, { msg: KvMsg; at: number }>();
  /** Uuids the active peer published before their client's copy reached us, oldest first. */
  private readonly seen = new Map<string, number>();
  /** Held updates without a uuid: they cannot be matched, and are kept until they age out. */
  private anonymous: { msg: KvMsg; at: number }[] = [];
  /** Entries pushed out by the bound or aged out. */
  dropped = 0;

  constructor(private readonly max = MAX_PENDING) {}

  get size(): number {
    return this.held.size + this.anonymous.length;
  }

  get seenSize(): number {
    return this.seen.size;
  }

  /** A client's KVSET while not active: "duplicate" when the active has published it already. */
  fromClient(msg: KvMsg, now: number): "held" | "duplicate" {
    if (msg.uuid.length === 0) {
      this.anonymous.push({ msg, at: now });
      if (this.anonymous.length > this.max) {
        this.anonymous.shift();
        this.dropped += 1;
      }
      return "held";
    }
    const id = uuidText(msg.uuid);
    if (this.seen.delete(id)) return "duplicate";
    this.held.delete(id);
    this.held.set(id, { msg, at: now });
    this.trim(this.held);
    return "held";
  }

  /** A KVPUB from the active peer: "cleared" when it matched a held update. */
  fromPeer(uuid: Buffer, now: number): "cleared" | "noted" | "none" {
    if (uuid.length === 0) return "none";
    const id = uuidText(uuid);
    if (this.held.delete(id)) return "cleared";
    this.seen.delete(id);
    this.seen.set(id, now);
    this.trim(this.seen);
    return "noted";
  }

  /** Becoming active: the held updates, oldest first, to publish; both lists are emptied. */
  flush(): KvMsg[] {
    const all = [...this.held.values(), ...this.anonymous].sort((a, b) => a.at - b.at).map((e) => e.msg);
    this.held.clear();
    this.seen.clear();
    this.anonymous = [];
    return all;
  }

  /**
   * A snapshot from the active peer, asked for at `askedAt`, is loaded: held updates that came before
   * are dropped. The active had each of them by then (it is in the snapshot), or gets it later (its
   * KVPUB then reaches us: we subscribed before asking), or never (it was never published, so never
   * acknowledged). Publishing them at take-over could only bring back older values.
   */
  dropBefore(askedAt: number): number {
    let n = 0;
    for (const [id, e] of this.held) if (e.at < askedAt) n += Number(this.held.delete(id));
    const before = this.anonymous.length;
    this.anonymous = this.anonymous.filter((e) => e.at >= askedAt);
    return n + before - this.anonymous.length;
  }

  /** Drops entries older than maxAgeMs that the peer has been heard for longer than maxAgeMs after. */
  expire(now: number, peerHeardAt: number, maxAgeMs: number): number {
    const stale = (at: number) => now - at > maxAgeMs && peerHeardAt - at > maxAgeMs;
    let n = 0;
    for (const [id, e] of this.held) if (stale(e.at)) n += Number(this.held.delete(id));
    for (const [id, at] of this.seen) if (stale(at)) n += Number(this.seen.delete(id));
    const before = this.anonymous.length;
    this.anonymous = this.anonymous.filter((e) => !stale(e.at));
    n += before - this.anonymous.length;
    this.dropped += n;
    return n;
  }

  private trim<V>(map: Map<string, V>): void {
    while (map.size > this.max) {
      const oldest = map.keys().next().value as string;
      map.delete(oldest);
      this.dropped += 1;
    }
  }
}
