/**
 * Consistent hashing with virtual nodes (Karger et al. 1997; Chord's successor rule): a pure
 * function of the membership view, so every node with the same view maps every key to the same
 * owners.
 *
 * - A position on the ring is the first 8 bytes of SHA-1, big-endian, as an unsigned 64-bit integer.
 * - Node `id` (32 hex digits) stands at `vnodes` positions: hash(`${id}#${i}`) for i in 0..vnodes-1.
 * - A key's owners are the first R distinct nodes met walking clockwise from hash(key), starting at
 *   the first position at or after it and wrapping around; the first of them is its primary.
 */
import { createHash } from "node:crypto";

/** Virtual nodes per physical node: enough for the balance the tests state (see README). */
export const VNODES = 64;
/** Replicas of each key: data survives R-1 simultaneous crashes. */
export const REPLICATION = 3;
/** 2^64: the size of the ring. */
export const RING_SIZE = 1n << 64n;

/** A ring position: the first 8 bytes of SHA-1 of the text, as an unsigned 64-bit integer. */
export function ringHash(text: string | Buffer): bigint {
  return createHash("sha1").update(text).digest().readBigUInt64BE(0);
}

export interface Token {
  position: bigint;
  node: string;
}

export class Ring {
  /** Every node's virtual positions, sorted clockwise (ties broken by node id, so the order is total). */
  readonly tokens: readonly Token[];
  readonly nodes: readonly string[];

  constructor(
    nodes: Iterable<string>,
    readonly vnodes = VNODES,
  ) {
    this.nodes = [...new Set(nodes)].sort();
    const tokens: Token[] = [];
    for (const node of this.nodes) for (let i = 0; i < vnodes; i++) tokens.push({ position: ringHash(`${node}#${i}`), node });
    tokens.sort((a, b) => (a.position < b.position ? -1 : a.position > b.position ? 1 : a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
    this.tokens = tokens;
  }

  get size(): number {
    return this.nodes.length;
  }

  has(node: string): boolean {
    return this.nodes.includes(node);
  }

  /** Index of the first token at or after the position, wrapping to 0. */
  private successor(position: bigint): number {
    let lo = 0;
    let hi = this.tokens.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.tokens[mid] as Token).position < position) lo = mid + 1;
      else hi = mid;
    }
    return lo === this.tokens.length ? 0 : lo;
  }

  /** The first `r` distinct nodes clockwise from the key's position (fewer when the ring has fewer). */
  ownersOf(key: string, r = REPLICATION): string[] {
    return this.ownersAt(ringHash(key), r);
  }

  ownersAt(position: bigint, r = REPLICATION): string[] {
    const owners: string[] = [];
    const n = this.tokens.length;
    if (n === 0) return owners;
    const want = Math.min(r, this.nodes.length);
    for (let i = this.successor(position), seen = 0; owners.length < want && seen < n; i = (i + 1) % n, seen++) {
      const node = (this.tokens[i] as Token).node;
      if (!owners.includes(node)) owners.push(node);
    }
    return owners;
  }

  primaryOf(key: string): string | undefined {
    return this.ownersOf(key, 1)[0];
  }

  /** Each node's share of the ring as a primary (fractions summing to 1): the arcs ending at its tokens. */
  shares(): Map<string, number> {
    const shares = new Map<string, number>(this.nodes.map((n) => [n, 0]));
    const n = this.tokens.length;
    for (let i = 0; i < n; i++) {
      const token = this.tokens[i] as Token;
      const before = (this.tokens[(i - 1 + n) % n] as Token).position;
      const arc = n === 1 ? RING_SIZE : (token.position - before + RING_SIZE) % RING_SIZE;
      shares.set(token.node, (shares.get(token.node) ?? 0) + Number(arc) / Number(RING_SIZE));
    }
    return shares;
  }

  /** The primary of each of `cells` equal slices of the ring (at the slice's middle): the ring drawn as a strip. */
  strip(cells: number): string[] {
    const out: string[] = [];
    for (let c = 0; c < cells; c++) {
      const position = (RING_SIZE * BigInt(2 * c + 1)) / BigInt(2 * cells);
      out.push(this.ownersAt(position, 1)[0] ?? "");
    }
    return out;
  }
}

/** How a view change moves keys (given as keys or as their positions): those whose primary changed, and the replica copies a node must newly hold. */
export function movement(
  before: Ring,
  after: Ring,
  keys: Iterable<string | bigint>,
  r = REPLICATION,
): { primaries: number; copies: number; keys: number } {
  let primaries = 0;
  let copies = 0;
  let total = 0;
  for (const key of keys) {
    total += 1;
    const position = typeof key === "bigint" ? key : ringHash(key);
    const old = before.ownersAt(position, r);
    const now = after.ownersAt(position, r);
    if (old[0] !== now[0]) primaries += 1;
    for (const node of now) if (!old.includes(node)) copies += 1;
  }
  return { primaries, copies, keys: total };
}
