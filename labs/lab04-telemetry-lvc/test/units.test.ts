import { pack } from "msgpackr";
import { describe, expect, it } from "vitest";
import { LastValueCache } from "../internal/cache.ts";
import { prefixes } from "../internal/config.ts";
import { decodePayload, decodeSample, decodeSubscription, encodePayload, encodeSample, SCHEMA } from "../internal/protocol.ts";

const header = { v: 1, source: "s", seq: 1, ts: 1, units: "bar", schema: SCHEMA, count: 2 };

describe("samples", () => {
  it("carry float64 values little-endian, and validate", () => {
    expect(decodePayload(encodePayload([1.5, -2.25]))).toEqual([1.5, -2.25]);
    const frames = encodeSample({ topic: "plant1.pump1.pressure", header, values: [1, 2] });
    expect(decodeSample(frames)).toEqual({ kind: "sample", topic: "plant1.pump1.pressure", header, payload: frames[2] });
  });

  it.each([
    [[Buffer.from("a.b"), pack(header)], "expected 3 frames, got 2"],
    [[Buffer.from("a..b"), pack(header), encodePayload([1, 2])], "bad topic"],
    [[Buffer.from("a b"), pack(header), encodePayload([1, 2])], "bad topic"],
    [[Buffer.from("a.b"), pack([1]), encodePayload([1, 2])], "header is not a MessagePack map"],
    [[Buffer.from("a".repeat(201)), pack(header), encodePayload([1, 2])], "bad topic"],
    [[Buffer.from("a.b"), pack({ ...header, pad: "x".repeat(600) }), encodePayload([1, 2])], "header over 512 bytes"],
    [[Buffer.from("a.b"), pack({ ...header, source: "s".repeat(65) }), encodePayload([1, 2])], "missing source"],
    [[Buffer.from("a.b"), pack({ ...header, ts: -5 }), encodePayload([1, 2])], "bad ts or units"],
    [[Buffer.from("a.b"), pack({ ...header, count: 2 ** 40 }), encodePayload([1, 2])], "bad count"],
    [
      [Buffer.from("a.b"), pack({ ...header, seq: BigInt(2) ** BigInt(60) }), encodePayload([1, 2])],
      "header: integer beyond 2**53 (not exact as a number)",
    ],
    [[Buffer.from("a.b"), pack({ ...header, v: 2 }), encodePayload([1, 2])], "unsupported version 2"],
    [[Buffer.from("a.b"), pack({ ...header, schema: "i32" }), encodePayload([1, 2])], "unknown schema i32"],
    [[Buffer.from("a.b"), pack(header), encodePayload([1])], "payload is 8 bytes, header says 2 values"],
  ])("reject a malformed sample %#", (frames, reason) => {
    expect(decodeSample(frames as Buffer[])).toEqual({ kind: "invalid", reason });
  });

  it("reject a header that is not MessagePack with a reason, never an exception", () => {
    const message = decodeSample([Buffer.from("a.b"), Buffer.from([0xc1, 0]), encodePayload([1, 2])]);
    expect(message).toMatchObject({ kind: "invalid", reason: expect.stringMatching(/^header: not MessagePack/) });
  });

  it("take a ts packed as uint64 or int64 (Python, Go) as a number, and keep only the known header fields", () => {
    const now = Date.now();
    const int64 = pack({ ...header, ts: BigInt(now), extra: 1 });
    const uint64 = Buffer.from(int64);
    const at = uint64.indexOf("ts") + 2;
    expect(uint64[at]).toBe(0xd3);
    uint64[at] = 0xcf;
    for (const h of [int64, uint64]) {
      expect(decodeSample([Buffer.from("a.b"), h, encodePayload([1, 2])])).toMatchObject({
        kind: "sample",
        header: { ...header, ts: now },
      });
    }
  });

  it("read subscription events, and refuse anything else", () => {
    expect(decodeSubscription([Buffer.from("\x01plant1.")])).toEqual({ kind: "subscribe", prefix: "plant1." });
    expect(decodeSubscription([Buffer.from([0])])).toEqual({ kind: "unsubscribe", prefix: "" });
    expect(decodeSubscription([Buffer.from("\x02x")])).toEqual({ kind: "invalid", reason: "not a subscription" });
    expect(decodeSubscription([Buffer.alloc(0)])).toEqual({ kind: "invalid", reason: "not a subscription" });
    expect(decodeSubscription([Buffer.from("\x01a"), Buffer.from("b")])).toEqual({ kind: "invalid", reason: "expected 1 frame, got 2" });
    expect(decodeSubscription([Buffer.from(`\x01${"a".repeat(201)}`)])).toEqual({ kind: "invalid", reason: "prefix longer than a topic" });
    expect(decodeSubscription([Buffer.from("\x01a b")])).toEqual({ kind: "invalid", reason: "prefix is not a topic prefix" });
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
