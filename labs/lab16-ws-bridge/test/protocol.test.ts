// Both wires, table-driven: browser control messages, upstream messages, the bridge's frames, and
// the feeds' heartbeat and sample as lab01's and lab04's READMEs define them.
import { decodeMap } from "@zlabs/kit";
import { describe, expect, it } from "vitest";
import { Fanout } from "../internal/fanout.ts";
import {
  decodeControl,
  decodeServerMessage,
  decodeUpstream,
  encodeData,
  encodeHeartbeat,
  encodeNotice,
  encodeSample,
  KIND_CACHED,
  KIND_LIVE,
  MAX_PREFIXES_PER_CLIENT,
  NOTICE_REFUSED,
} from "../internal/protocol.ts";

describe("browser control messages", () => {
  it.each([
    ["subscribe", [0x01, ..."hb."].map((c) => (typeof c === "string" ? c.charCodeAt(0) : c)), { kind: "subscribe", prefix: "hb." }],
    [
      "unsubscribe",
      [0x00, ..."plant3."].map((c) => (typeof c === "string" ? c.charCodeAt(0) : c)),
      { kind: "unsubscribe", prefix: "plant3." },
    ],
    ["subscribe to everything", [0x01], { kind: "subscribe", prefix: "" }],
    ["empty", [], { kind: "invalid", reason: "empty message" }],
    ["unknown op", [0x02, 0x41], { kind: "invalid", reason: "unknown op 0x2" }],
    ["bad character", [0x01, 0x2a], { kind: "invalid", reason: "a prefix is at most 200 bytes of [A-Za-z0-9_.-]" }],
    ["non-ASCII", [0x01, 0xc3, 0xa9], { kind: "invalid", reason: "a prefix is at most 200 bytes of [A-Za-z0-9_.-]" }],
    ["too long", [0x01, ...Buffer.alloc(201, 0x61)], { kind: "invalid", reason: "a prefix is at most 200 bytes of [A-Za-z0-9_.-]" }],
  ])("%s", (_name, bytes, expected) => {
    expect(decodeControl(Buffer.from(bytes as number[]))).toEqual(expected);
  });
});

describe("upstream messages", () => {
  const b = (s: string) => Buffer.from(s);
  it.each([
    ["a heartbeat", [b("hb.ok.r1.a1."), b("x")], "message"],
    ["a sample", [b("plant3.pump1.flow"), b("h"), Buffer.alloc(8)], "message"],
    ["one frame", [b("hb.")], "1 frames (2-4 expected)"],
    ["five frames", [b("a"), b(""), b(""), b(""), b("")], "5 frames (2-4 expected)"],
    ["empty topic", [b(""), b("x")], "topic frame of 1-200 bytes expected"],
    ["long topic", [Buffer.alloc(201, 0x61), b("x")], "topic frame of 1-200 bytes expected"],
    ["binary topic", [Buffer.from([0xff, 0x00]), b("x")], "topic of [A-Za-z0-9_.-] expected"],
  ])("%s", (_name, frames, expected) => {
    const r = decodeUpstream(frames);
    expect(r.kind === "message" ? r.kind : r.reason).toBe(expected);
  });
});

describe("the bridge's frames to browsers", () => {
  it("a data message carries every frame, with its kind and seq, and decodes back", () => {
    const frames = [Buffer.from("plant3.pump1.flow"), Buffer.from([1, 2, 3]), Buffer.alloc(0)];
    const data = encodeData(KIND_CACHED, 7, frames);
    expect([...data.subarray(0, 10)]).toEqual([2, 0, 0, 0, 7, 3, 0, 0, 0, 17]);
    expect(decodeServerMessage(data)).toEqual({ kind: "cached", seq: 7, frames });
    expect(decodeServerMessage(encodeData(KIND_LIVE, 0xffffffff, frames))).toMatchObject({ kind: "live", seq: 0xffffffff });
  });
  it("a notice decodes; truncated and trailing bytes are refused", () => {
    expect(decodeServerMessage(encodeNotice(NOTICE_REFUSED, 3, "no"))).toEqual({ kind: "notice", code: 3, value: 3, text: "no" });
    const data = encodeData(KIND_LIVE, 1, [Buffer.from("abc")]);
    expect(decodeServerMessage(data.subarray(0, data.length - 1))).toEqual({ kind: "invalid", reason: "truncated frame" });
    expect(decodeServerMessage(Buffer.concat([data, Buffer.from([0])]))).toEqual({ kind: "invalid", reason: "trailing bytes" });
    expect(decodeServerMessage(Buffer.from([9, 0, 0, 0, 0, 0]))).toEqual({ kind: "invalid", reason: "unknown kind" });
  });
});

describe("the feeds' wire formats (lab01's and lab04's encoders, as their READMEs define them)", () => {
  it("a heartbeat is [hb.<level>.<rack>.<agent>., MessagePack map] with the documented fields", () => {
    const metrics = {
      cpu: 0.25,
      memUsedBytes: 5 * 2 ** 30,
      memTotalBytes: 8 * 2 ** 30,
      load1: 0.5,
      load5: 0.4,
      load15: 0.3,
      uptimeSec: 12.5,
    };
    const hb = {
      v: 1 as const,
      agent: "a1",
      rack: "r1",
      incarnation: "abc",
      seq: 1,
      sentAt: Date.now(),
      intervalMs: 1000,
      level: "warn" as const,
      reason: "cpu 93%",
      metrics,
    };
    const [topic, body] = encodeHeartbeat(hb);
    expect(topic?.toString()).toBe("hb.warn.r1.a1.");
    expect(decodeMap(body)).toEqual({ ok: true, value: hb });
  });
  it("a sample is [topic, header, count x float64 LE]", () => {
    const [topic, header, payload] = encodeSample({
      topic: "plant3.pump1.flow",
      header: { v: 1, source: "s", seq: 1, ts: 1, units: "m3/h", schema: "f64le", count: 2 },
      values: [120.5, -1],
    });
    expect(topic?.toString()).toBe("plant3.pump1.flow");
    expect(decodeMap(header)).toEqual({ ok: true, value: { v: 1, source: "s", seq: 1, ts: 1, units: "m3/h", schema: "f64le", count: 2 } });
    expect([payload?.readDoubleLE(0), payload?.readDoubleLE(8), payload?.length]).toEqual([120.5, -1, 16]);
  });
});

describe("the fan-out's bookkeeping", () => {
  const client = () => ({ prefixes: new Set<string>() });
  it("counts holders per prefix: the first subscribes upstream, the last unsubscribes", () => {
    const f = new Fanout();
    const a = client();
    const b = client();
    expect(f.subscribe(a, "hb.")).toEqual({ ok: true, upstream: true, already: false });
    expect(f.subscribe(b, "hb.")).toEqual({ ok: true, upstream: false, already: false });
    expect(f.subscribe(b, "hb.")).toEqual({ ok: true, upstream: false, already: true });
    expect(f.unsubscribe(a, "hb.")).toBe(false);
    expect(f.unsubscribe(a, "hb.")).toBe(false); // not held: nothing changes
    expect(f.remove(b)).toEqual(["hb."]);
    expect(f.refs.size).toBe(0);
  });
  it(`refuses more than ${MAX_PREFIXES_PER_CLIENT} prefixes per browser`, () => {
    const f = new Fanout();
    const a = client();
    for (let i = 0; i < MAX_PREFIXES_PER_CLIENT; i++) expect(f.subscribe(a, `p${i}.`).ok).toBe(true);
    expect(f.subscribe(a, "one.more.").ok).toBe(false);
  });
  it("keeps the last value per topic, bounded, and hands a new prefix only what the browser did not already match", () => {
    const f = new Fanout(2);
    const v = (s: string) => [Buffer.from(s)];
    f.remember("a.x", v("1"));
    f.remember("a.y", v("2"));
    f.remember("a.x", v("3")); // a.x is now the most recent
    f.remember("b.z", v("4")); // evicts a.y, the least recently updated
    expect([...f.cache.keys()]).toEqual(["a.x", "b.z"]);
    expect(f.cachedFor("a.")).toEqual([v("3")]);
    const c = client();
    f.subscribe(c, "a.x");
    f.subscribe(c, "a.");
    expect(f.cachedFor("a.", c)).toEqual([]);
  });
});
