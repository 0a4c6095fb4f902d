import { describe, expect, it } from "vitest";
import { clientView, nodeView, ringStrip } from "../internal/view.ts";

describe("views", () => {
  const node = {
    name: "dht-node-1",
    id: "19558f9f2cc5e8a0f1468875601dfccf",
    share: 0.2,
    holdings: { primary: 38, replica: 71, releasing: 0 },
    peers: [
      { name: "dht-node-3", share: 0.19 },
      { name: "dht-node-2", share: 0.21 },
    ],
    strip: ["primary", "replica", "other", "other"] as ("primary" | "replica" | "other")[],
    lastChange: { agoMs: 3200, what: "+dht-node-6", took: 41, handed: 12 },
    served: 120,
    forwarded: 80,
    dropped: 0,
    replication: 3,
  };

  it("a node: share, view size, the ring strip, its keys, peers by name, the last change", () => {
    const v = nodeView(node);
    expect(v.title).toBe("dht-node-1 19558f9f · 20 % of the ring · 3 in view (R=3)");
    expect(ringStrip(node.strip)).toBe("█▒··");
    expect(v.rows?.[0]).toEqual([{ text: "ring █▒··", tone: "info" }, "primary 38", "replica 71", { text: "releasing 0", tone: "dim" }]);
    expect(v.summary).toEqual([
      "peers dht-node-2 21 % · dht-node-3 19 %",
      "last change +dht-node-6 3.2 s ago: took 41, handed off 12 · served 120 · forwarded 80",
    ]);
  });

  it("a node with keys to release and drops shows them; before any change, says so", () => {
    const v = nodeView({ ...node, holdings: { primary: 1, replica: 2, releasing: 5 }, dropped: 3, lastChange: undefined, peers: [] });
    expect(v.rows?.[0]?.[3]).toEqual({ text: "releasing 5", tone: "warn" });
    expect(v.summary).toEqual(["peers none yet", "last change none yet · served 120 · forwarded 80 · dropped 3"]);
  });

  it("the client: counts, and red when a read lost data", () => {
    const base = {
      nodes: ["a", "b"],
      written: 200,
      keys: 200,
      gets: 50,
      ok: 50,
      missing: 0,
      stale: 0,
      errors: 0,
      retries: 0,
      perSecond: 4,
      last: "GET user:0001 → 19558f9f: ok",
    };
    const v = clientView(base);
    expect(v.title).toBe("200 puts over 200 keys · 50 gets · 4.0 ops/s · 2 nodes heard");
    expect(v.rows?.[0]?.[5]).toEqual({ text: "every read as written", tone: "good" });
    expect(clientView({ ...base, missing: 1 }).rows?.[0]?.[5]).toEqual({ text: "reads lost data", tone: "bad" });
  });
});
