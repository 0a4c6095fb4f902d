// The wire of lab20: the data path (client -> gateway -> enricher -> scorer, ROUTER/DEALER with a
// traceparent frame after the envelope) and the side channel (span batches, PUSH -> PULL).
import { type Checked, decodeMap, encode, isInt, isMap, isNumber, isText, ok, refuse } from "@zlabs/kit";

export const EMPTY = Buffer.alloc(0);
export const VERSION = 1;

/** Largest request or reply on the data path (a transaction is a few hundred bytes). */
export const MAX_REQUEST_BYTES = 64 * 1024;
/** Largest span batch the collector accepts (PULL maxMessageSize). */
export const MAX_BATCH_BYTES = 1024 * 1024;
/** Bounds on what a batch may hold. */
export const MAX_SPANS_PER_BATCH = 512;
export const MAX_NAME = 128;
export const MAX_SERVICE = 64;
export const MAX_ATTRS = 16;
export const MAX_ATTR_TEXT = 256;
/** The traceparent header of W3C Trace Context version 00 is exactly 55 characters. */
export const TRACEPARENT_LENGTH = 55;

// --- W3C Trace Context (https://www.w3.org/TR/trace-context/#traceparent-header) -----------------

export interface TraceParent {
  version: number;
  traceId: string;
  spanId: string;
  flags: number;
}

const HEX = /^[0-9a-f]+$/;
const isZero = (hex: string) => /^0+$/.test(hex);

/**
 * Parses a traceparent strictly: lowercase hex only, version ff refused, trace id and parent id
 * not all zeros. Version 00 must be exactly 55 characters; a higher version may carry more fields
 * after a dash (forward compatibility, section 4.3), of which only the first four are read.
 * Anything else is refused: the service then starts a new trace (section 3.2.2.3 "restart the trace").
 */
export function parseTraceParent(frame: Buffer | undefined): Checked<TraceParent> {
  if (!frame || frame.length === 0) return refuse("no traceparent");
  if (frame.length > 512) return refuse("traceparent too long");
  const text = frame.toString("latin1");
  const parts = text.split("-");
  if (parts.length < 4) return refuse("traceparent needs 4 fields");
  const [v, traceId, spanId, flags] = parts as [string, string, string, string];
  if (v.length !== 2 || !HEX.test(v)) return refuse("bad version");
  const version = Number.parseInt(v, 16);
  if (version === 255) return refuse("version ff is invalid");
  if (version === 0 && (parts.length !== 4 || text.length !== TRACEPARENT_LENGTH)) return refuse("version 00 must be 55 characters");
  if (version > 0 && parts.length > 4 && text.charAt(TRACEPARENT_LENGTH) !== "-") return refuse("bad future-version suffix");
  if (traceId.length !== 32 || !HEX.test(traceId) || isZero(traceId)) return refuse("bad trace-id");
  if (spanId.length !== 16 || !HEX.test(spanId) || isZero(spanId)) return refuse("bad parent-id");
  if (flags.length !== 2 || !HEX.test(flags)) return refuse("bad trace-flags");
  return ok({ version, traceId, spanId, flags: Number.parseInt(flags, 16) });
}

export function formatTraceParent(t: { traceId: string; spanId: string; flags: number }): string {
  return `00-${t.traceId}-${t.spanId}-${(t.flags & 0xff).toString(16).padStart(2, "0")}`;
}

// --- Data path ----------------------------------------------------------------------------------

/** A card transaction to score. Passed down the chain, each stage adding its part. */
export interface Transaction {
  /** The sender's request id: echoed in the reply, how a DEALER matches replies. */
  id: number;
  card: string;
  merchant: string;
  amount: number;
  /** Added by the enricher. */
  features?: Record<string, number>;
}

export interface Verdict {
  id: number;
  ok: boolean;
  score?: number;
  decision?: string;
  error?: string;
}

export type FromUpstream =
  | { kind: "request"; envelope: Buffer[]; traceparent: Buffer; tx: Transaction }
  | { kind: "invalid"; envelope: Buffer[]; reason: string };

export const MAX_ENVELOPE = 8;

function decodeTransaction(frame: Buffer | undefined): Checked<Transaction> {
  const m = decodeMap(frame, "transaction");
  if (!m.ok) return m;
  const { id, card, merchant, amount, features } = m.value;
  if (!isInt(id, 0, 0xffffffff)) return refuse("id must be an integer 0..2^32-1");
  if (!isText(card, 64, 1)) return refuse("card must be text of 1..64");
  if (!isText(merchant, 64, 1)) return refuse("merchant must be text of 1..64");
  if (!isNumber(amount, 0, 1e9)) return refuse("amount must be 0..1e9");
  const tx: Transaction = { id, card, merchant, amount };
  if (features !== undefined) {
    if (!isMap(features)) return refuse("features must be a map");
    const entries = Object.entries(features);
    if (entries.length > MAX_ATTRS) return refuse("too many features");
    const f: Record<string, number> = {};
    for (const [k, v] of entries) {
      if (!isText(k, 32, 1) || !isNumber(v, -1e9, 1e9)) return refuse("a feature must be text -> number");
      f[k] = v;
    }
    tx.features = f;
  }
  return ok(tx);
}

/**
 * A request as a ROUTER receives it: [identity..., "", traceparent, transaction]. The traceparent
 * frame is always there (empty when the sender has no trace context); its content is checked
 * later, by the propagator's caller, since a bad one only means a new trace.
 */
export function fromUpstream(frames: Buffer[]): FromUpstream {
  const delim = frames.findIndex((f) => f.length === 0);
  if (delim < 1 || delim > MAX_ENVELOPE) return { kind: "invalid", envelope: [], reason: "no envelope" };
  const envelope = frames.slice(0, delim);
  if (frames.length !== delim + 3) return { kind: "invalid", envelope, reason: "want traceparent and transaction after the envelope" };
  const tx = decodeTransaction(frames[delim + 2]);
  if (!tx.ok) return { kind: "invalid", envelope, reason: tx.reason };
  return { kind: "request", envelope, traceparent: frames[delim + 1] as Buffer, tx: tx.value };
}

export function encodeRequest(traceparent: string | Buffer, tx: Transaction): Buffer[] {
  return [EMPTY, typeof traceparent === "string" ? Buffer.from(traceparent, "latin1") : traceparent, encode(tx)];
}

export function encodeVerdict(v: Verdict): Buffer {
  return encode(v);
}

/** A reply as a DEALER receives it: ["", verdict]. */
export function decodeVerdict(frames: Buffer[]): Checked<Verdict> {
  if (frames.length !== 2 || (frames[0] as Buffer).length !== 0) return refuse("want an empty frame and a verdict");
  const m = decodeMap(frames[1], "verdict");
  if (!m.ok) return m;
  const { id, ok: good, score, decision, error } = m.value;
  if (!isInt(id, 0, 0xffffffff) || typeof good !== "boolean") return refuse("id and ok required");
  const v: Verdict = { id, ok: good };
  if (score !== undefined) {
    if (!isNumber(score, 0, 1)) return refuse("score must be 0..1");
    v.score = score;
  }
  if (decision !== undefined) {
    if (!isText(decision, 32)) return refuse("bad decision");
    v.decision = decision;
  }
  if (error !== undefined) {
    if (!isText(error, 256)) return refuse("bad error");
    v.error = error;
  }
  return ok(v);
}

// --- Side channel: span batches -------------------------------------------------------------------

/** [seconds, nanoseconds]: OpenTelemetry's HrTime, exact and inside 32 bits each. */
export type HrTime = [number, number];

export interface WireSpan {
  traceId: string; // 32 hex
  spanId: string; // 16 hex
  parentId?: string; // 16 hex
  name: string;
  /** OpenTelemetry API SpanKind: 0 internal, 1 server, 2 client, 3 producer, 4 consumer. */
  kind: number;
  start: HrTime;
  end: HrTime;
  /** 0 unset, 1 ok, 2 error. */
  status: number;
  attrs: Record<string, string | number | boolean>;
}

export interface SpanBatch {
  service: string;
  /** Spans this producer dropped so far (its running total): the collector shows it. */
  dropped: number;
  spans: WireSpan[];
}

/** On the wire ids are raw bytes (16 and 8), half the size of hex. */
export function encodeBatch(b: SpanBatch): Buffer {
  return encode({
    v: VERSION,
    svc: b.service,
    drop: b.dropped,
    spans: b.spans.map((s) => ({
      t: Buffer.from(s.traceId, "hex"),
      s: Buffer.from(s.spanId, "hex"),
      p: s.parentId ? Buffer.from(s.parentId, "hex") : null,
      n: s.name,
      k: s.kind,
      st: s.start,
      en: s.end,
      c: s.status,
      a: s.attrs,
    })),
  });
}

function isId(v: unknown, bytes: number): v is Uint8Array {
  return v instanceof Uint8Array && v.length === bytes && v.some((x) => x !== 0);
}

function isHrTime(v: unknown): v is HrTime {
  return Array.isArray(v) && v.length === 2 && isInt(v[0], 0, 0xffffffff) && isInt(v[1], 0, 999_999_999);
}

export const hrNanos = (t: HrTime): bigint => BigInt(t[0]) * 1_000_000_000n + BigInt(t[1]);
export const hrMs = (t: HrTime): number => t[0] * 1000 + t[1] / 1e6;

function decodeSpan(x: unknown): Checked<WireSpan> {
  if (!isMap(x)) return refuse("a span must be a map");
  const { t, s, p, n, k, st, en, c, a } = x;
  if (!isId(t, 16)) return refuse("t: 16 bytes, not all zero");
  if (!isId(s, 8)) return refuse("s: 8 bytes, not all zero");
  if (p !== null && p !== undefined && !isId(p, 8)) return refuse("p: 8 bytes or nil");
  if (!isText(n, MAX_NAME, 1)) return refuse(`n: text of 1..${MAX_NAME}`);
  if (!isInt(k, 0, 4)) return refuse("k: 0..4");
  if (!isHrTime(st) || !isHrTime(en)) return refuse("st, en: [seconds, nanoseconds]");
  if (hrNanos(en) < hrNanos(st)) return refuse("en before st");
  if (!isInt(c, 0, 2)) return refuse("c: 0..2");
  const attrs: Record<string, string | number | boolean> = {};
  if (a !== undefined && a !== null) {
    if (!isMap(a)) return refuse("a: a map");
    const entries = Object.entries(a);
    if (entries.length > MAX_ATTRS) return refuse(`a: at most ${MAX_ATTRS} attributes`);
    for (const [key, v] of entries) {
      if (!isText(key, 64, 1)) return refuse("a: keys of 1..64");
      if (!(typeof v === "boolean" || isNumber(v) || isText(v, MAX_ATTR_TEXT))) return refuse("a: values text, number or bool");
      attrs[key] = v as string | number | boolean;
    }
  }
  const span: WireSpan = {
    traceId: Buffer.from(t).toString("hex"),
    spanId: Buffer.from(s).toString("hex"),
    name: n,
    kind: k,
    start: [st[0], st[1]],
    end: [en[0], en[1]],
    status: c,
    attrs,
  };
  if (p) span.parentId = Buffer.from(p as Uint8Array).toString("hex");
  return ok(span);
}

export type FromProducer = { kind: "batch"; batch: SpanBatch; bad: number } | { kind: "invalid"; reason: string };

/**
 * A span batch as the collector's PULL receives it: one frame. A batch whose frame is not a valid
 * map is refused whole; within a good batch each bad span is dropped and counted (`bad`).
 */
export function fromProducer(frames: Buffer[]): FromProducer {
  if (frames.length !== 1) return { kind: "invalid", reason: "a batch is one frame" };
  const m = decodeMap(frames[0], "batch");
  if (!m.ok) return { kind: "invalid", reason: m.reason };
  const { v, svc, drop, spans } = m.value;
  if (v !== VERSION) return { kind: "invalid", reason: `v must be ${VERSION}` };
  if (!isText(svc, MAX_SERVICE, 1)) return { kind: "invalid", reason: `svc: text of 1..${MAX_SERVICE}` };
  if (!isInt(drop)) return { kind: "invalid", reason: "drop: a count" };
  if (!Array.isArray(spans) || spans.length > MAX_SPANS_PER_BATCH)
    return { kind: "invalid", reason: `spans: an array of at most ${MAX_SPANS_PER_BATCH}` };
  const good: WireSpan[] = [];
  let bad = 0;
  for (const x of spans) {
    const s = decodeSpan(x);
    if (s.ok) good.push(s.value);
    else bad += 1;
  }
  return { kind: "batch", batch: { service: svc, dropped: drop, spans: good }, bad };
}
