/**
 * The peer table: what a node knows of the others from their beacons alone, as the Guide's
 * "Detecting Disappearances" and RFC 36's presence rules say. Plain code over a clock, so every
 * rule has a unit test:
 *
 * - a beacon from a new uuid with a port is a join; later ones refresh it;
 * - a known uuid at a new address or port has moved: its channel connects again;
 * - port 0 from a known uuid is a clean leave, removed at once; from an unknown one it is ignored;
 * - silence for the expiry removes a peer (it vanished); one lost beacon removes nothing;
 * - a uuid that changes its key, or falls back from v3 to v1, is refused: someone else speaks for it;
 * - a full table refuses new uuids (a flood of made-up ones) until silent peers expire.
 */
import { BEACON_V1, type Beacon, uuidText } from "./protocol.ts";

/** The Guide's PEER_EXPIRY: five silent intervals and the peer is gone. */
export const PEER_EXPIRY_MS = 5000;
/**
 * The most peers a table holds. Anyone can send beacons with a fresh uuid each; past this, new
 * uuids are refused (and counted) until silent ones expire, so a flood cannot grow memory without bound.
 */
export const MAX_PEERS = 1024;

export interface Peer {
  /** The uuid as 32 hex digits. */
  id: string;
  /** The sender's IPv4 address, from recvfrom. */
  address: string;
  port: number;
  version: Beacon["version"];
  /** CURVE public key from a v3 beacon, raw. */
  key: Buffer | undefined;
  /** Whether its beacons carry a valid signature (the scanner checked it before the table). */
  signed: boolean;
  /** Monotonic ms. */
  joinedAt: number;
  lastHeard: number;
  beacons: number;
}

export type Observation =
  | { kind: "joined"; peer: Peer }
  | { kind: "heard"; peer: Peer }
  | { kind: "moved"; peer: Peer; from: string }
  | { kind: "left"; peer: Peer }
  | { kind: "refused"; reason: "leave from an unknown node" | "key changed" | "downgrade to v1" | "signature missing" | "table full" };

export const endpointOf = (p: { address: string; port: number }) => `tcp://${p.address}:${p.port}`;

export class PeerTable {
  private readonly peers = new Map<string, Peer>();

  constructor(
    private readonly expiryMs = PEER_EXPIRY_MS,
    private readonly maxPeers = MAX_PEERS,
  ) {}

  get size(): number {
    return this.peers.size;
  }

  list(): Peer[] {
    return [...this.peers.values()];
  }

  get(id: string): Peer | undefined {
    return this.peers.get(id);
  }

  /** One valid beacon (already decoded, and its signature checked when it has one). */
  observe(beacon: Beacon, address: string, now: number, signed = false): Observation {
    const id = uuidText(beacon.uuid);
    const known = this.peers.get(id);
    if (!known) {
      if (beacon.port === 0) return { kind: "refused", reason: "leave from an unknown node" };
      if (this.peers.size >= this.maxPeers) return { kind: "refused", reason: "table full" };
      const peer: Peer = {
        id,
        address,
        port: beacon.port,
        version: beacon.version,
        key: beacon.key,
        signed,
        joinedAt: now,
        lastHeard: now,
        beacons: 1,
      };
      this.peers.set(id, peer);
      return { kind: "joined", peer };
    }
    if (known.key && beacon.version === BEACON_V1) return { kind: "refused", reason: "downgrade to v1" };
    if (known.key && beacon.key && !known.key.equals(beacon.key)) return { kind: "refused", reason: "key changed" };
    if (known.signed && !signed) return { kind: "refused", reason: "signature missing" };
    known.lastHeard = now;
    known.beacons += 1;
    if (beacon.port === 0) {
      this.peers.delete(id);
      return { kind: "left", peer: known };
    }
    if (known.address !== address || known.port !== beacon.port) {
      const from = endpointOf(known);
      known.address = address;
      known.port = beacon.port;
      return { kind: "moved", peer: known, from };
    }
    return { kind: "heard", peer: known };
  }

  /** Traffic from a peer other than its beacons (a reply over TCP): it is present (UDP may be lost under load). */
  heard(id: string, now: number): void {
    const peer = this.peers.get(id);
    if (peer) peer.lastHeard = now;
  }

  /** Peers silent for the expiry, removed and returned. */
  expire(now: number): Peer[] {
    const gone: Peer[] = [];
    for (const peer of this.peers.values()) {
      if (now - peer.lastHeard >= this.expiryMs) {
        this.peers.delete(peer.id);
        gone.push(peer);
      }
    }
    return gone;
  }
}
