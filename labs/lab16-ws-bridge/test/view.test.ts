import { describe, expect, it } from "vitest";
import { bridgeView, VIEW_COLUMNS } from "../internal/view.ts";

const stats = {
  browsers: 1,
  connects: 3,
  upstream: 120,
  delivered: 100,
  slowDrops: 5,
  slowDisconnects: 1,
  refusedOrigin: 2,
  refusedFull: 0,
  badFrames: 4,
  malformed: 6,
  inRate: 12.4,
  outRate: 10,
};

describe("the bridge's live view", () => {
  it("lists browsers with their subscriptions and drops, the upstream union and the counters", () => {
    const v = bridgeView(
      "http://127.0.0.1:5160/",
      stats,
      [{ id: 3, address: "127.0.0.1:4000", prefixes: ["hb.", ""], sent: 100, dropped: 5, buffered: 2048 }],
      [
        ["hb.", 2],
        ["", 1],
      ],
    );
    expect(v.title).toBe("http://127.0.0.1:5160/ · 1 browsers · 12 msg/s in, 10 msg/s out");
    expect(v.columns).toEqual(VIEW_COLUMNS);
    expect(v.rows).toEqual([["#3", "127.0.0.1:4000", "hb. (all)", "100", { text: "5", tone: "warn" }, { text: "2 KiB", tone: "warn" }]]);
    expect(v.summary).toEqual([
      "upstream SUB holds: hb.×2 (all)×1",
      "messages in 120, to browsers 100 · slow drops 5, slow disconnects 1 · refused: origin 2, full 0 · bad frames 4 · malformed upstream 6",
    ]);
  });
  it("says where to go when no browser is connected", () => {
    const v = bridgeView("http://127.0.0.1:5160/", { ...stats, browsers: 0 }, [], []);
    expect(v.summary?.[0]).toBe("no browser yet: open http://127.0.0.1:5160/");
    expect(v.summary?.[1]).toBe("upstream SUB holds: nothing (no browser subscribed)");
  });
});
