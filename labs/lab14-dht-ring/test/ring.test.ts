// The ring as a pure function of the view: determinism, the successor rule, balance with virtual
// nodes, and minimal movement on join and leave (measured over seeded rings).
import { createHash } from "node:crypto";
import { seededRandom } from "@zlabs/kit";
import { describe, expect, it } from "vitest";
import { movement, REPLICATION, Ring, ringHash, VNODES } from "../internal/ring.ts";

const nodeId = (seed: string) => createHash("md5").update(seed).digest("hex");
const ids = (n: number, seed: string) => Array.from({ length: n }, (_, i) => nodeId(`${seed}/${i}`));
const KEYS = Array.from({ length: 6000 }, (_, i) => `user:${i}`);
/** The keys' positions, hashed once. */
const AT = KEYS.map(ringHash);

function shuffle<T>(list: T[], rnd: () => number): T[] {
  const out = [...list];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

describe("placement", () => {
  it("a position is the first 8 bytes of SHA-1, big-endian", () => {
    expect(ringHash("user:1")).toBe(BigInt(`0x${createHash("sha1").update("user:1").digest("hex").slice(0, 16)}`));
  });

  it("every node with the same view maps every key to the same owners, whatever order it learnt the members in", () => {
    const rnd = seededRandom(14);
    const members = ids(7, "determinism");
    const rings = Array.from({ length: 7 }, () => new Ring(shuffle(members, rnd)));
    for (const key of KEYS.slice(0, 1000)) {
      const owners = (rings[0] as Ring).ownersOf(key);
      expect(owners).toHaveLength(REPLICATION);
      expect(new Set(owners).size).toBe(REPLICATION);
      for (const ring of rings) expect(ring.ownersOf(key)).toEqual(owners);
    }
  });

  it("a key belongs to the first token at or after its position, wrapping around; replicas are the next distinct nodes", () => {
    const ring = new Ring(ids(4, "rule"), 8);
    const tokens = ring.tokens;
    for (const key of KEYS.slice(0, 500)) {
      const h = ringHash(key);
      const first = tokens.find((t) => t.position >= h) ?? tokens[0];
      const owners = ring.ownersOf(key, 3);
      expect(owners[0]).toBe(first?.node);
      // Walking on from there, the first three distinct nodes.
      const start = tokens.indexOf(first as (typeof tokens)[number]);
      const walk: string[] = [];
      for (let i = 0; walk.length < 3; i++) {
        const node = (tokens[(start + i) % tokens.length] as (typeof tokens)[number]).node;
        if (!walk.includes(node)) walk.push(node);
      }
      expect(owners).toEqual(walk);
    }
  });

  it("fewer nodes than R: every node owns every key", () => {
    const two = ids(2, "small");
    expect(new Ring(two).ownersOf("k").sort()).toEqual([...two].sort());
    expect(new Ring([]).ownersOf("k")).toEqual([]);
  });

  it("the strip shows each slice's primary", () => {
    const ring = new Ring(ids(3, "strip"));
    const strip = ring.strip(48);
    expect(strip).toHaveLength(48);
    expect(new Set(strip)).toEqual(new Set(ring.nodes));
    const shares = [...ring.shares().values()];
    expect(shares.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
  });
});

/** The largest relative deviation of a node's key count from the mean. */
function imbalance(ring: Ring, keys: bigint[]): number {
  const counts = new Map(ring.nodes.map((n) => [n, 0]));
  for (const at of keys) {
    const p = ring.ownersAt(at, 1)[0] as string;
    counts.set(p, (counts.get(p) ?? 0) + 1);
  }
  const mean = keys.length / ring.size;
  return Math.max(...[...counts.values()].map((c) => Math.abs(c - mean) / mean));
}

describe("balance with virtual nodes", () => {
  it(`with ${VNODES} virtual nodes, every node of 6 holds its mean share of 6,000 keys within ±40 % (20 seeded rings); with 1 it does not`, () => {
    const withVnodes = Array.from({ length: 20 }, (_, s) => imbalance(new Ring(ids(6, `balance${s}`), VNODES), AT));
    const without = Array.from({ length: 20 }, (_, s) => imbalance(new Ring(ids(6, `balance${s}`), 1), AT));
    expect(Math.max(...withVnodes)).toBeLessThan(0.4);
    // The typical ring is much better than the bound.
    expect(withVnodes.reduce((a, b) => a + b, 0) / 20).toBeLessThan(0.25);
    expect(Math.max(...without)).toBeGreaterThan(1);
  });
});

describe("minimal movement", () => {
  const K = KEYS.length;
  it("a join moves about K/N keys' primaries, every one of them to the new node (20 seeded joins, 6 -> 7 nodes)", () => {
    let moved = 0;
    let copies = 0;
    for (let s = 0; s < 20; s++) {
      const before = new Ring(ids(6, `join${s}`));
      const newcomer = nodeId(`join${s}/new`);
      const after = new Ring([...before.nodes, newcomer]);
      const primary = (ring: Ring, at: bigint) => ring.ownersAt(at, 1)[0];
      expect(AT.filter((at) => primary(before, at) !== primary(after, at)).every((at) => primary(after, at) === newcomer)).toBe(true);
      const m = movement(before, after, AT);
      moved += m.primaries;
      copies += m.copies;
      // Only the new node gains copies: each key it now replicates, one copy.
      expect(m.copies).toBe(AT.filter((at) => after.ownersAt(at).includes(newcomer)).length);
    }
    // Mean over the joins, against K/N and R·K/N with N = 7.
    expect(moved / 20 / (K / 7)).toBeGreaterThan(0.85);
    expect(moved / 20 / (K / 7)).toBeLessThan(1.15);
    expect(copies / 20 / ((REPLICATION * K) / 7)).toBeGreaterThan(0.85);
    expect(copies / 20 / ((REPLICATION * K) / 7)).toBeLessThan(1.15);
  });

  it("a leave moves only the departed node's keys, about K/N of them (20 seeded leaves, 7 -> 6 nodes)", () => {
    let moved = 0;
    for (let s = 0; s < 20; s++) {
      const members = ids(7, `leave${s}`);
      const gone = members[3] as string;
      const before = new Ring(members);
      const after = new Ring(members.filter((m) => m !== gone));
      const primary = (ring: Ring, at: bigint) => ring.ownersAt(at, 1)[0];
      expect(AT.filter((at) => primary(before, at) !== primary(after, at)).every((at) => primary(before, at) === gone)).toBe(true);
      moved += movement(before, after, AT).primaries;
    }
    expect(moved / 20 / (K / 7)).toBeGreaterThan(0.85);
    expect(moved / 20 / (K / 7)).toBeLessThan(1.15);
  });
});
