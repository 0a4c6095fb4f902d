import { renderView } from "@zlabs/kit";
import { describe, expect, it } from "vitest";
import { LastValueCache } from "../internal/cache.ts";
import { SCHEMA } from "../internal/protocol.ts";
import { brokerView, MAX_VIEW_PREFIXES, sourceView, terminalView } from "../internal/view.ts";

const counters = { forwarded: 40, replayed: 12, malformed: 1, badSubscriptions: 0, evicted: 0, maxTopics: 10_000 };
const header = (source: string, seq: number, ts: number) => ({ v: 1, source, seq, ts, units: "bar", schema: SCHEMA, count: 1 });

describe("the broker's view", () => {
  it("has a row per site of the cache (topics, sources, newest and oldest value), and who is subscribed", () => {
    let now = 0;
    const cache = new LastValueCache(100, 0, () => now);
    const put = (topic: string, source: string) => cache.put(topic, Buffer.from("h"), Buffer.from("p"), source);
    put("plant1.pump1.flow", "plant1-source");
    now = 1000;
    put("plant2.pump1.flow", "plant2-source");
    now = 1500;
    put("plant1.pump2.flow", "plant1-source");
    now = 7000;
    const view = brokerView(
      cache.all(),
      [
        { prefix: "plant1.", subscribers: 2, replayed: 3 },
        { prefix: "", subscribers: 1, replayed: 9 },
      ],
      now,
      counters,
    );
    expect(view.title).toBe("cache: 3 topics from 2 sources · 3 subscriptions · 12 values replayed");
    expect(view.rows).toEqual([
      ["plant1", 2, "plant1-source", { text: "5.5s", tone: "warn" }, { text: "7.0s", tone: "warn" }],
      ["plant2", 1, "plant2-source", { text: "6.0s", tone: "warn" }, { text: "6.0s", tone: "warn" }],
    ]);
    expect(view.summary).toEqual([
      'subscribed: plant1. ×2 (3 replayed) · "" ×1 (9 replayed)',
      "forwarded 40 · malformed 1 · bad subscriptions 0 · evicted 0 (holds at most 10000 topics)",
    ]);
  });

  it("says when the cache is empty and nobody subscribed, and lists a bounded number of prefixes", () => {
    expect(brokerView([], [], 0, counters).summary?.slice(0, 2)).toEqual([
      "empty: a topic is cached at its first sample",
      "subscribed: nobody",
    ]);
    const many = Array.from({ length: MAX_VIEW_PREFIXES + 3 }, (_, i) => ({ prefix: `p${i}.`, subscribers: 1, replayed: 0 }));
    expect(brokerView([], many, 0, counters).summary?.[1]).toMatch(/ · … 3 more$/);
  });
});

describe("the terminal's view", () => {
  it("has the latest value of every topic, by name, with its age on the source's clock", () => {
    const now = 10_000;
    const view = terminalView(
      ["plant1.", "plant2.pump1."],
      [
        {
          topic: "plant2.pump1.flow",
          header: { ...header("plant2-source", 7, now - 300), units: "m3/h" },
          values: [119, 120.456],
          updates: 3,
        },
        { topic: "plant1.pump1.pressure", header: header("plant1-source", 4, now - 6000), values: [6.1], updates: 1 },
      ],
      now,
      { duplicates: 2, malformed: 0 },
    );
    expect(view.title).toBe("watching plant1., plant2.pump1. · 2 topics");
    expect(view.rows).toEqual([
      ["plant1.pump1.pressure", { text: "6.10", tone: "bold" }, "bar", { text: "6.0s", tone: "warn" }, "plant1-source", 4, 1],
      ["plant2.pump1.flow", { text: "120.46", tone: "bold" }, "m3/h", { text: "0.3s", tone: undefined }, "plant2-source", 7, 3],
    ]);
    expect(view.summary).toEqual(["2 repeats dropped · 0 malformed"]);
    const lines = renderView(view, { width: 120, color: false });
    expect(lines[1]).toBe("TOPIC                  VALUE   UNITS  AGE   SOURCE         SEQ  UPDATES");
    expect(lines[2]).toBe("plant1.pump1.pressure  6.10    bar    6.0s  plant1-source  4    1");
  });

  it("says what it watches when that is everything, and when nothing came yet", () => {
    const view = terminalView([""], [], 0, { duplicates: 0, malformed: 0 });
    expect(view.title).toBe("watching everything · 0 topics");
    expect(view.summary).toEqual(["no value yet", "0 repeats dropped · 0 malformed"]);
  });
});

describe("a source's view", () => {
  it("is one line", () => {
    const base = { site: "plant1", topics: 9, broker: "tcp://127.0.0.1:5040", samples: 243 };
    expect(sourceView({ ...base, intervalMs: 2000 })).toEqual({
      title: "plant1: 9 topics every 2.0s → tcp://127.0.0.1:5040 · 243 samples sent",
    });
    expect(sourceView({ ...base, intervalMs: undefined, topics: 1 }).title).toBe(
      "plant1: 1 topic as fast as it can → tcp://127.0.0.1:5040 · 243 samples sent",
    );
  });
});
