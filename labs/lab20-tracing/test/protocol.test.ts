import { decode, encode } from "@zlabs/kit";
import { describe, expect, it } from "vitest";
import {
  decodeVerdict,
  encodeBatch,
  encodeRequest,
  formatTraceParent,
  fromProducer,
  fromUpstream,
  parseTraceParent,
  SPAN_RECORD,
  type WireSpan,
} from "../internal/protocol.ts";
import { TraceStore, toOtlp } from "../internal/traces.ts";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN = "00f067aa0ba902b7";

describe("traceparent (W3C Trace Context, strictly)", () => {
  it.each([
    [`00-${TRACE}-${SPAN}-01`, { version: 0, traceId: TRACE, spanId: SPAN, flags: 1 }],
    [`00-${TRACE}-${SPAN}-00`, { version: 0, traceId: TRACE, spanId: SPAN, flags: 0 }],
    [`cc-${TRACE}-${SPAN}-09`, { version: 0xcc, traceId: TRACE, spanId: SPAN, flags: 9 }],
    [`cc-${TRACE}-${SPAN}-01-what-the-future-holds`, { version: 0xcc, traceId: TRACE, spanId: SPAN, flags: 1 }],
  ])("accepts %s", (text, want) => {
    expect(parseTraceParent(Buffer.from(text))).toEqual({ ok: true, value: want });
  });

  it.each([
    ["", "empty"],
    [`ff-${TRACE}-${SPAN}-01`, "version ff"],
    [`00-${TRACE.toUpperCase()}-${SPAN}-01`, "upper-case hex"],
    [`00-${"0".repeat(32)}-${SPAN}-01`, "all-zero trace id"],
    [`00-${TRACE}-${"0".repeat(16)}-01`, "all-zero parent id"],
    [`00-${TRACE}-${SPAN}-01-extra`, "version 00 with more fields"],
    [` 00-${TRACE}-${SPAN}-01`, "leading space"],
    [`00-${TRACE.slice(1)}-${SPAN}-01`, "short trace id"],
    [`00-${TRACE}-${SPAN}0-01`, "long parent id"],
    [`00-${TRACE}-${SPAN}-1`, "one-digit flags"],
    [`0-${TRACE}-${SPAN}-01`, "one-digit version"],
    [`00-${TRACE}-${SPAN}-0g`, "non-hex flags"],
    [`cc-${TRACE}-${SPAN}-01.x`, "a future version glued to garbage"],
    ["x".repeat(600), "too long"],
  ])("refuses %j (%s)", (text) => {
    expect(parseTraceParent(Buffer.from(text)).ok).toBe(false);
  });

  it("formats what it parses", () => {
    const text = `00-${TRACE}-${SPAN}-01`;
    const p = parseTraceParent(Buffer.from(text));
    expect(p.ok && formatTraceParent(p.value)).toBe(text);
  });
});

describe("data path frames", () => {
  const tx = { id: 7, card: "4111-0001", merchant: "grocer", amount: 12.5 };

  it("a request after a ROUTER envelope decodes, traceparent frame kept as is", () => {
    const frames = [Buffer.from("peer"), ...encodeRequest(`00-${TRACE}-${SPAN}-01`, tx)];
    const msg = fromUpstream(frames);
    expect(msg.kind).toBe("request");
    if (msg.kind === "request") {
      expect(msg.tx).toEqual(tx);
      expect(msg.traceparent.toString()).toBe(`00-${TRACE}-${SPAN}-01`);
      expect(msg.envelope).toEqual([Buffer.from("peer")]);
    }
  });

  it.each([
    [[Buffer.from("peer"), Buffer.from("x")], "no delimiter"],
    [[Buffer.from("peer"), Buffer.alloc(0), encode(tx)], "no traceparent frame"],
    [[Buffer.from("peer"), Buffer.alloc(0), Buffer.alloc(0), encode({ ...tx, amount: -1 })], "negative amount"],
    [[Buffer.from("peer"), Buffer.alloc(0), Buffer.alloc(0), encode({ ...tx, card: "" })], "empty card"],
    [[Buffer.from("peer"), Buffer.alloc(0), Buffer.alloc(0), encode({ ...tx, id: 2 ** 40 })], "id too large"],
    [[Buffer.from("peer"), Buffer.alloc(0), Buffer.alloc(0), Buffer.from([0xc1])], "not msgpack"],
  ])("refuses %#: %s", (frames) => {
    expect(fromUpstream(frames as Buffer[]).kind).toBe("invalid");
  });

  it("verdicts: good and bad", () => {
    expect(decodeVerdict([Buffer.alloc(0), encode({ id: 1, ok: true, score: 0.5, decision: "review" })])).toEqual({
      ok: true,
      value: { id: 1, ok: true, score: 0.5, decision: "review" },
    });
    expect(decodeVerdict([Buffer.alloc(0), encode({ id: 1, ok: true, score: 7 })]).ok).toBe(false);
    expect(decodeVerdict([encode({ id: 1, ok: true })]).ok).toBe(false);
  });
});

const span = (over: Partial<WireSpan> = {}): WireSpan => ({
  traceId: TRACE,
  spanId: SPAN,
  name: "gateway forward",
  kind: 1,
  start: [1_700_000_000, 1000],
  end: [1_700_000_000, 5000],
  status: 0,
  attrs: { "tx.id": 3 },
  ...over,
});

describe("span batches", () => {
  it("round-trip: ids as bytes on the wire, hex again at the collector", () => {
    const spans = [span(), span({ spanId: "1111111111111111", parentId: SPAN, kind: 2 })];
    const msg = fromProducer([encodeBatch({ service: "gateway", dropped: 4, spans })]);
    expect(msg).toEqual({ kind: "batch", bad: 0, batch: { service: "gateway", dropped: 4, spans } });
  });

  it("a span is a 52-byte record: ids as raw bytes, a zero parent for a root, times as 4 uint32, kind, status, name index", () => {
    const frame = encodeBatch({
      service: "gateway",
      dropped: 0,
      spans: [span({ parentId: "1111111111111111" }), span({ spanId: "2222222222222222" })],
    });
    const m = decode(frame);
    const b = m.ok ? (m.value as { names: string[]; spans: Buffer; attrs: unknown[] }) : undefined;
    expect(b?.names).toEqual(["gateway forward"]);
    expect(b?.spans.length).toBe(2 * SPAN_RECORD);
    expect(b?.attrs).toEqual([{ "tx.id": 3 }, { "tx.id": 3 }]);
    const r = Buffer.from(b?.spans ?? []);
    expect(r.subarray(0, 16).toString("hex")).toBe(TRACE);
    expect(r.subarray(16, 24).toString("hex")).toBe(SPAN);
    expect(r.subarray(24, 32).toString("hex")).toBe("1111111111111111");
    expect([r.readUInt32BE(32), r.readUInt32BE(36), r.readUInt32BE(40), r.readUInt32BE(44), r[48], r[49], r.readUInt16BE(50)]).toEqual([
      1_700_000_000, 1000, 1_700_000_000, 5000, 1, 0, 0,
    ]);
    expect(r.subarray(SPAN_RECORD + 24, SPAN_RECORD + 32).equals(Buffer.alloc(8))).toBe(true);
  });

  /** A batch of two good spans whose second record is changed by `spoil`. */
  const spoiled = (spoil: (r: Buffer) => void, attrs: unknown[] = [null, null]) => {
    const m = decode(
      encodeBatch({ service: "enricher", dropped: 0, spans: [span({ attrs: {} }), span({ spanId: "2222222222222222", attrs: {} })] }),
    );
    const b = m.ok ? (m.value as Record<string, unknown> & { spans: Uint8Array }) : { spans: new Uint8Array(0) };
    const r = Buffer.from(b.spans);
    spoil(r.subarray(SPAN_RECORD));
    return encode({ ...b, spans: r, attrs });
  };

  it.each([
    ["zero trace id", (r: Buffer) => r.fill(0, 0, 16)],
    ["zero span id", (r: Buffer) => r.fill(0, 16, 24)],
    ["nanoseconds past 1e9", (r: Buffer) => r.writeUInt32BE(1_000_000_000, 36)],
    ["end before start", (r: Buffer) => r.writeUInt32BE(1, 40)],
    ["kind 5", (r: Buffer) => r.writeUInt8(5, 48)],
    ["status 3", (r: Buffer) => r.writeUInt8(3, 49)],
    ["name index past the names", (r: Buffer) => r.writeUInt16BE(1, 50)],
  ])("a bad span (%s) is dropped and counted, the rest of the batch kept", (_what, spoil) => {
    const msg = fromProducer([spoiled(spoil)]);
    expect(msg.kind === "batch" && [msg.bad, msg.batch.spans.length]).toEqual([1, 1]);
  });

  it.each<[string, unknown]>([
    ["empty key", { "": 1 }],
    ["long text", { k: "x".repeat(257) }],
    ["not a scalar", { k: [1] }],
    ["17 attributes", Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, i]))],
    ["not a map", 5],
  ])("a span with bad attributes (%s) is dropped alone", (_what, attrs) => {
    const msg = fromProducer([spoiled(() => {}, [null, attrs])]);
    expect(msg.kind === "batch" && [msg.bad, msg.batch.spans.length]).toEqual([1, 1]);
  });

  const base = { v: 2, svc: "a", drop: 0, names: ["x"], spans: Buffer.alloc(0), attrs: [] };
  it.each([
    [encode({ ...base, v: 1 }), "version"],
    [encode({ ...base, svc: "" }), "empty service"],
    [encode({ ...base, drop: -1 }), "negative drop count"],
    [encode({ ...base, names: [""] }), "empty name"],
    [encode({ ...base, names: Array.from({ length: 65 }, (_, i) => `n${i}`) }), "65 names"],
    [encode({ ...base, spans: Buffer.alloc(SPAN_RECORD + 1) }), "records not whole"],
    [encode({ ...base, spans: Buffer.alloc(SPAN_RECORD * 513), attrs: new Array(513).fill(null) }), "too many spans"],
    [encode({ ...base, spans: [] }), "spans not bytes"],
    [encode({ ...base, spans: Buffer.alloc(SPAN_RECORD) }), "attrs not one per span"],
    [Buffer.from("junk"), "not msgpack"],
  ])("refuses a batch: %#", (frame) => {
    expect(fromProducer([frame as Buffer]).kind).toBe("invalid");
  });
});

describe("trace assembly", () => {
  it("settles a trace after the window, flags a span whose parent never came", () => {
    const store = new TraceStore(100);
    store.add("gateway", [span()], 0);
    store.add("scorer", [span({ spanId: "2222222222222222", parentId: "9999999999999999" })], 50);
    expect(store.sweep(120)).toEqual([]);
    const [t] = store.sweep(150);
    expect(t?.spans.length).toBe(2);
    expect(t?.roots).toBe(1);
    expect(t?.orphans.map((s) => s.spanId)).toEqual(["2222222222222222"]);
  });

  it("is bounded: duplicate span ids and spans past the limit are dropped, the oldest trace settled early", () => {
    const store = new TraceStore(100, 2, 2);
    store.add("a", [span(), span(), span({ spanId: "3333333333333333" }), span({ spanId: "4444444444444444" })], 0);
    expect(store.spansDropped).toBe(2);
    store.add("a", [span({ traceId: "1".repeat(32) })], 0);
    const early = store.add("a", [span({ traceId: "2".repeat(32) })], 0);
    expect(early.map((t) => t.traceId)).toEqual([TRACE]);
  });

  it("OTLP JSON: hex ids, kind + 1, times as nanosecond strings, a resource per service", () => {
    const store = new TraceStore(0);
    store.add("gateway", [span()], 0);
    const otlp = toOtlp(store.sweep(1)) as { resourceSpans: { resource: unknown; scopeSpans: { spans: Record<string, unknown>[] }[] }[] };
    expect(otlp.resourceSpans[0]?.resource).toEqual({ attributes: [{ key: "service.name", value: { stringValue: "gateway" } }] });
    expect(otlp.resourceSpans[0]?.scopeSpans[0]?.spans[0]).toMatchObject({
      traceId: TRACE,
      spanId: SPAN,
      kind: 2,
      startTimeUnixNano: "1700000000000001000",
      endTimeUnixNano: "1700000000000005000",
      attributes: [{ key: "tx.id", value: { intValue: "3" } }],
    });
  });
});
