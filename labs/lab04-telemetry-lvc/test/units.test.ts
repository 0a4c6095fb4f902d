import { pack } from "msgpackr";
import { describe, expect, it } from "vitest";
import { LastValueCache } from "../internal/cache.ts";
import { prefixes } from "../internal/config.ts";
import { checkSample, decodePayload, encodePayload, encodeSample, SCHEMA, subscriptionEvent } from "../internal/protocol.ts";

const header = { v: 1, source: "s", seq: 1, ts: 1, units: "bar", schema: SCHEMA, count: 2 };

describe("samples", () => {
  it("carry float64 values little-endian, and validate", () => {
    expect(decodePayload(encodePayload([1.5, -2.25]))).toEqual([1.5, -2.25]);
    const frames = encodeSample({ topic: "plant1.pump1.pressure", header, values: [1, 2] });
    expect(checkSample(frames)).toEqual({ ok: true, topic: "plant1.pump1.pressure", header });
  });

  it.each([
    [[Buffer.from("a.b"), pack(header)], "expected 3 frames, got 2"],
    [[Buffer.from("a..b"), pack(header), encodePayload([1, 2])], "bad topic"],
    [[Buffer.from("a b"), pack(header), encodePayload([1, 2])], "bad topic"],
    [[Buffer.from("a.b"), Buffer.from([0xc1, 0]), encodePayload([1, 2])], "header is not MessagePack"],
    [[Buffer.from("a.b"), pack({ ...header, v: 2 }), encodePayload([1, 2])], "unsupported version 2"],
    [[Buffer.from("a.b"), pack({ ...header, schema: "i32" }), encodePayload([1, 2])], "unknown schema i32"],
    [[Buffer.from("a.b"), pack(header), encodePayload([1])], "payload is 8 bytes, header says 2 values"],
  ])("reject a malformed sample %#", (frames, reason) => {
    expect(checkSample(frames as Buffer[])).toEqual({ ok: false, reason });
  });

  it("read subscription events", () => {
    expect(subscriptionEvent(Buffer.from("\x01plant1."))).toEqual({ subscribe: true, prefix: "plant1." });
    expect(subscriptionEvent(Buffer.from([0]))).toEqual({ subscribe: false, prefix: "" });
    expect(subscriptionEvent(Buffer.from("\x02x"))).toBeUndefined();
  });

  it("the terminal's prefixes: repeated or comma-separated, empty for everything", () => {
    expect(prefixes([""])).toEqual([""]);
    expect(prefixes(["plant1.,plant2.pump1.", "plant1."])).toEqual(["plant1.", "plant2.pump1."]);
  });
});

describe("the last value cache", () => {
  it("keeps the last value per topic and replays by prefix", () => {
    const c = new LastValueCache(10, 0);
    c.put("p1.a.x", Buffer.from("h1"), Buffer.from("v1"));
    c.put("p1.b.y", Buffer.from("h2"), Buffer.from("v2"));
    c.put("p2.a.x", Buffer.from("h3"), Buffer.from("v3"));
    c.put("p1.a.x", Buffer.from("h4"), Buffer.from("v4"));
    expect(c.matching("p1.").map((e) => [e.topic, e.payload.toString()])).toEqual([
      ["p1.b.y", "v2"],
      ["p1.a.x", "v4"],
    ]);
    expect(c.matching("").length).toBe(3);
    expect(c.matching("p3.")).toEqual([]);
  });

  it("is bounded: the least recently updated topic goes first", () => {
    const c = new LastValueCache(2, 0);
    c.put("a", Buffer.from(""), Buffer.from(""));
    c.put("b", Buffer.from(""), Buffer.from(""));
    c.put("a", Buffer.from(""), Buffer.from(""));
    c.put("c", Buffer.from(""), Buffer.from(""));
    expect(c.matching("").map((e) => e.topic)).toEqual(["a", "c"]);
    expect(c.evicted).toBe(1);
  });

  it("drops values older than the maximum age", () => {
    let now = 0;
    const c = new LastValueCache(10, 1000, () => now);
    c.put("old", Buffer.from(""), Buffer.from(""));
    now = 600;
    c.put("new", Buffer.from(""), Buffer.from(""));
    now = 1200;
    expect(c.matching("").map((e) => e.topic)).toEqual(["new"]);
    now = 1700;
    expect(c.size).toBe(1);
    expect(c.matching("")).toEqual([]);
  });
});
