// Per-peer traffic counters at the proxy's front end, keyed by routing id, in a bounded table.

/** Peers the table holds; past this the one heard from longest ago is forgotten (and counted). */
export const MAX_PEERS = 1024;

export interface PeerCounters {
  /** The routing id as the ROUTER gave it. */
  id: Buffer;
  /** Messages (not frames) from the peer: its requests. */
  requests: number;
  requestBytes: number;
  /** Messages to the peer: the replies routed to it. */
  replies: number;
  replyBytes: number;
  /** Monotonic ms of the last message either way. */
  lastAt: number;
}

/**
 * A Map of peers by routing id. When it is full, a new peer takes the place of the one heard from
 * longest ago (a scan, only then: the hot path is one lookup and a few additions).
 */
export class PeerTable {
  private readonly peers = new Map<string, PeerCounters>();
  /** Peers dropped from a full table. */
  forgotten = 0;

  constructor(private readonly max = MAX_PEERS) {}

  get size(): number {
    return this.peers.size;
  }

  /** A request of `bytes` from `id`. */
  request(id: Buffer, bytes: number, now: number): void {
    const key = id.toString("latin1");
    let peer = this.peers.get(key);
    if (!peer) {
      if (this.peers.size >= this.max) this.forgetOldest();
      peer = { id: Buffer.from(id), requests: 0, requestBytes: 0, replies: 0, replyBytes: 0, lastAt: now };
      this.peers.set(key, peer);
    }
    peer.requests += 1;
    peer.requestBytes += bytes;
    peer.lastAt = now;
  }

  /** A reply of `bytes` routed to `id` (a peer forgotten meanwhile, or never seen, is not added). */
  reply(id: Buffer | undefined, bytes: number, now: number): void {
    if (!id) return;
    const peer = this.peers.get(id.toString("latin1"));
    if (!peer) return;
    peer.replies += 1;
    peer.replyBytes += bytes;
    peer.lastAt = now;
  }

  /** Every peer, the one heard from longest ago first. */
  list(): PeerCounters[] {
    return [...this.peers.values()].sort((a, b) => a.lastAt - b.lastAt);
  }

  private forgetOldest(): void {
    let oldest: [string, PeerCounters] | undefined;
    for (const entry of this.peers) if (!oldest || entry[1].lastAt < oldest[1].lastAt) oldest = entry;
    if (!oldest) return;
    this.peers.delete(oldest[0]);
    this.forgotten += 1;
  }
}
