// The node's view as data: members sorted by rank with their states' tones, the coordinator
// marked, the clock offset (flagged when far off), the digest and the keys.
import { describe, expect, it } from "vitest";
import { formatOffset, type NodeSnapshot, nodeView } from "../internal/view.ts";

const snapshot = (over: Partial<NodeSnapshot> = {}): NodeSnapshot => ({
  id: "node-2",
  rank: 2,
  inc: 1,
  coordinator: "node-1",
  announced: "node-1",
  offsetMs: 1.24,
  digest: "ab12cd34",
  members: [
    { id: "node-3", state: "suspect", inc: 0, rank: 3 },
    { id: "node-1", state: "alive", inc: 2, rank: 1 },
    { id: "node-4", state: "dead", inc: 0, rank: 4 },
  ],
  keys: [
    { key: "k1", value: "amber-1" },
    { key: "k2", value: "birch-2" },
  ],
  tombstones: 1,
  published: 3,
  repaired: 2,
  rounds: 40,
  dropped: 0,
  ...over,
});

describe("the node's view", () => {
  it("one column per member by rank, its state with a tone underneath; the coordinator starred", () => {
    const v = nodeView(snapshot());
    expect(v.title).toBe("coordinator node-1 · clock +1.2 ms · digest ab12cd34 · 2 keys · inc 1");
    expect(v.columns).toEqual(["node-1", "node-3", "node-4"]);
    expect(v.rows).toEqual([
      [
        { text: "alive i2 ★", tone: "good" },
        { text: "suspect", tone: "warn" },
        { text: "dead", tone: "bad" },
      ],
    ]);
    expect(v.summary).toBe("k1=amber-1 k2=birch-2 · 1 deleted · published 3 · repaired 2 · dropped 0");
  });

  it("says when this node coordinates, flags a far clock, shows a differing announcement, cuts long key lists", () => {
    const keys = Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: "v" }));
    const v = nodeView(snapshot({ coordinator: "node-2", announced: "node-1", offsetMs: 5000, keys, members: [] }));
    expect(v.title).toMatch(/^COORDINATOR \(announced node-1\) · clock \+5\.00 s ! · digest/);
    expect(v.rows).toBeUndefined();
    expect(v.summary).toMatch(/k5=v \+4 · 1 deleted · /);
  });

  it("formats offsets", () => {
    expect(formatOffset(-4999.6)).toBe("-5.00 s");
    expect(formatOffset(0)).toBe("+0.0 ms");
    expect(formatOffset(-0.44)).toBe("-0.4 ms");
  });
});
