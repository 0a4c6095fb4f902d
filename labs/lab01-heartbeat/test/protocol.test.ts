import { pack } from "msgpackr";
import { describe, expect, it } from "vitest";
import { assess, LEVEL_HOLD_BEATS, SteadyLevel, simulate } from "../internal/metrics.ts";
import { decodeHeartbeat, encodeHeartbeat, parseTopic, subscriptionsFor, topicFor } from "../internal/protocol.ts";
import { heartbeat, METRICS } from "./fixtures.ts";

const frames = (...parts: (string | Buffer)[]) => parts.map((p) => (typeof p === "string" ? Buffer.from(p) : p));

describe("topics", () => {
  it("ends every segment with a delimiter, so a rack prefix never matches a longer rack name", () => {
    const rack1 = subscriptionsFor(["rack1"], []);
    const rack10Topic = topicFor("ok", "rack10", "n1");
    expect(rack1).toEqual(["hb.ok.rack1.", "hb.warn.rack1.", "hb.crit.rack1."]);
    expect(rack1.some((prefix) => rack10Topic.startsWith(prefix))).toBe(false);
    expect(rack1.some((prefix) => topicFor("crit", "rack1", "n1").startsWith(prefix))).toBe(true);
  });

  it("subscribes to everything, to levels, or to racks at some levels", () => {
    expect(subscriptionsFor([], [])).toEqual(["hb."]);
    expect(subscriptionsFor([], ["crit"])).toEqual(["hb.crit."]);
    expect(subscriptionsFor(["r1", "r2"], ["warn", "crit"])).toEqual(["hb.warn.r1.", "hb.warn.r2.", "hb.crit.r1.", "hb.crit.r2."]);
  });

  it("parses what it builds and rejects anything else", () => {
    expect(parseTopic("hb.warn.rack2.node-7.")).toEqual({ level: "warn", rack: "rack2", agent: "node-7" });
    for (const bad of ["hb.warn.rack2.node-7", "hb.panic.rack2.n.", "xx.ok.r.n.", "hb.ok.r.n.extra.", "hb.ok..n."]) {
      expect(parseTopic(bad), bad).toBeUndefined();
    }
  });
});

describe("heartbeat frames", () => {
  it("round-trips a heartbeat", () => {
    const hb = heartbeat({ level: "crit", reason: "cpu 99%" });
    const [topic, body] = encodeHeartbeat(hb);
    expect(topic).toBe("hb.crit.rack1.node-a.");
    const decoded = decodeHeartbeat(frames(topic, body));
    expect(decoded).toEqual({ kind: "heartbeat", heartbeat: hb });
  });

  it("takes 64-bit integers (uint64 from Python, int64 from Go or msgpackr's BigInt) and floats as numbers", () => {
    const now = Date.now();
    const int64 = pack({ ...heartbeat(), sentAt: BigInt(now), metrics: { ...METRICS, memTotalBytes: BigInt(2 ** 34) } });
    const uint64 = Buffer.from(int64);
    const at = uint64.indexOf("sentAt") + "sentAt".length;
    expect(uint64[at]).toBe(0xd3);
    uint64[at] = 0xcf;
    for (const body of [int64, uint64, pack({ ...heartbeat(), sentAt: now + 0.5, intervalMs: 1000.0 })]) {
      const decoded = decodeHeartbeat(frames("hb.ok.rack1.node-a.", body));
      if (decoded.kind !== "heartbeat") throw new Error(decoded.reason);
      expect(decoded.heartbeat.sentAt).toBeCloseTo(now, -1);
    }
    expect(decodeHeartbeat(frames("hb.ok.rack1.node-a.", int64))).toMatchObject({
      heartbeat: { sentAt: now, metrics: { memTotalBytes: 2 ** 34 } },
    });
  });

  it("keeps only the fields it knows, and refuses what it cannot bound", () => {
    const extra = pack({ ...heartbeat(), extra: "x".repeat(1000), metrics: { ...METRICS, more: 1 } });
    expect(decodeHeartbeat(frames("hb.ok.rack1.node-a.", extra))).toEqual({ kind: "heartbeat", heartbeat: heartbeat() });
    const beyond = Buffer.from(pack({ ...heartbeat(), sentAt: BigInt(2) ** BigInt(60) }));
    expect(decodeHeartbeat(frames("hb.ok.rack1.node-a.", beyond))).toEqual({
      kind: "invalid",
      reason: "body: integer beyond 2**53 (not exact as a number)",
    });
  });

  it.each([
    ["one frame", frames("hb.ok.rack1.node-a."), "expected 2 frames, got 1"],
    ["three frames", frames("hb.ok.rack1.node-a.", "x", "y"), "expected 2 frames, got 3"],
    ["an empty body", frames("hb.ok.rack1.node-a.", Buffer.alloc(0)), "body: empty frame where MessagePack was expected"],
    ["a list body", frames("hb.ok.rack1.node-a.", pack([1, 2])), "body is not a MessagePack map"],
    ["a huge interval", frames("hb.ok.rack1.node-a.", pack({ ...heartbeat(), intervalMs: 2 ** 40 })), "missing intervalMs"],
    ["a negative sentAt", frames("hb.ok.rack1.node-a.", pack({ ...heartbeat(), sentAt: -1 })), "missing sentAt"],
    ["a long reason", frames("hb.ok.rack1.node-a.", pack({ ...heartbeat(), reason: "r".repeat(201) })), "bad reason"],
    ["cpu over 1", frames("hb.ok.rack1.node-a.", pack({ ...heartbeat(), metrics: { ...METRICS, cpu: 2 } })), "missing metrics.cpu"],
    ["no seq", frames("hb.ok.rack1.node-a.", pack({ ...heartbeat(), seq: undefined })), "missing seq"],
    ["no metrics", frames("hb.ok.rack1.node-a.", pack({ ...heartbeat(), metrics: undefined })), "missing metrics"],
    ["NaN cpu", frames("hb.ok.rack1.node-a.", pack({ ...heartbeat(), metrics: { ...METRICS, cpu: Number.NaN } })), "missing metrics.cpu"],
    ["wrong version", frames("hb.ok.rack1.node-a.", pack({ ...heartbeat(), v: 9 })), "unsupported version 9"],
    ["bad topic", frames("hb.ok.rack1", pack(heartbeat())), "bad topic"],
    ["another agent's topic", frames("hb.ok.rack1.node-b.", pack(heartbeat())), "topic does not match body"],
  ])("rejects %s with a reason", (_, message, reason) => {
    expect(decodeHeartbeat(message)).toEqual({ kind: "invalid", reason });
  });

  it("rejects garbage MessagePack with a reason, never an exception", () => {
    const decoded = decodeHeartbeat(frames("hb.ok.rack1.node-a.", Buffer.from([0xc1, 0xff, 0x00])));
    expect(decoded).toMatchObject({ kind: "invalid", reason: expect.stringMatching(/^body: not MessagePack/) });
  });
});

describe("alert levels", () => {
  it("follows real metrics and the simulation", () => {
    expect(assess(METRICS).level).toBe("ok");
    expect(assess({ ...METRICS, cpu: 0.95 })).toEqual({ level: "warn", reason: "cpu 95%" });
    expect(assess({ ...METRICS, cpu: 1, memUsedBytes: 86, memTotalBytes: 100 })).toEqual({ level: "warn", reason: "memory 86%" });
    expect(assess({ ...METRICS, memUsedBytes: 99, memTotalBytes: 100 })).toEqual({ level: "crit", reason: "memory 99%" });
    expect(simulate({ level: "ok" }, "critical", 1).level).toBe("crit");
    const flapping = Array.from({ length: 32 }, (_, i) => simulate({ level: "ok" }, "flapping", i + 1).level);
    expect(flapping.slice(0, 8).every((l) => l === "ok")).toBe(true);
    expect(flapping.slice(8, 16).every((l) => l === "crit")).toBe(true);
    expect(flapping.slice(16, 24).every((l) => l === "ok")).toBe(true);
  });

  it("reports a new level from the host's figures only once it held for LEVEL_HOLD_BEATS beats", () => {
    const steady = new SteadyLevel();
    const ok = { level: "ok" as const };
    const warn = { level: "warn" as const, reason: "cpu 95%" };
    expect(steady.next(ok)).toEqual(ok);
    // A CPU hovering at the threshold: warn, ok, warn... never reported.
    for (let i = 0; i < 6; i++) expect(steady.next(i % 2 ? ok : warn)).toEqual(ok);
    const held = Array.from({ length: LEVEL_HOLD_BEATS }, () => steady.next(warn).level);
    expect(held).toEqual([...Array(LEVEL_HOLD_BEATS - 1).fill("ok"), "warn"]);
    // Same level, newer reason: at once.
    expect(steady.next({ level: "warn", reason: "cpu 97%" })).toEqual({ level: "warn", reason: "cpu 97%" });
  });
});
