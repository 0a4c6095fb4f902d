// The wire of lab20: the data path (client -> gateway -> enricher -> scorer, ROUTER/DEALER with a
// traceparent frame after the envelope) and the side channel (span batches, PUSH -> PULL).
import { type Checked, decodeMap, encode, isInt, isMap, isNumber, isText, ok, refuse } from "@zlabs/kit";

export const EMPTY = Buffer.alloc(0);

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

const DASH = 0x2d;

/** Bytes from..to of b are lowercase hex digits; `nonZero`: and not all '0'. */
function hexRun(b: Buffer, from: number, to: number, nonZero = false): boolean {
  let zero = true;
  for (let i = from; i < to; i++) {
    const c = b[i] as number;
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
    if (c !== 0x30) zero = false;
  }
  return !(nonZero && zero);
}

/**
 * Parses a traceparent strictly: lowercase hex only, version ff refused, trace id and parent id
 * not all zeros. Version 00 must be exactly 55 characters; a higher version may carry more fields
 * after a dash (forward compatibility, section 4.3), of which only the first four are read.
 * Anything else is refused: the service then starts a new trace (section 3.2.2.3 "restart the trace").
 * Read byte by byte from the frame (no split, no regular expression: it runs on every request).
 */
export function parseTraceParent(frame: Buffer | undefined): Checked<TraceParent> {
  if (!frame || frame.length === 0) return refuse("no traceparent");
  if (frame.length > 512) return refuse("traceparent too long");
  if (frame.length < TRACEPARENT_LENGTH || frame[2] !== DASH || frame[35] !== DASH || frame[52] !== DASH)
    return refuse("traceparent needs 4 fields: 2-32-16-2 hex digits");
  if (!hexRun(frame, 0, 2)) return refuse("bad version");
  const version = Number.parseInt(frame.toString("latin1", 0, 2), 16);
  if (version === 255) return refuse("version ff is invalid");
  if (version === 0 && frame.length !== TRACEPARENT_LENGTH) return refuse("version 00 must be 55 characters");
  if (frame.length > TRACEPARENT_LENGTH && frame[TRACEPARENT_LENGTH] !== DASH) return refuse("bad future-version suffix");
  if (!hexRun(frame, 3, 35, true)) return refuse("bad trace-id");
  if (!hexRun(frame, 36, 52, true)) return refuse("bad parent-id");
  if (!hexRun(frame, 53, 55)) return refuse("bad trace-flags");
  return ok({
    version,
    traceId: frame.toString("latin1", 3, 35),
    spanId: frame.toString("latin1", 36, 52),
    flags: Number.parseInt(frame.toString("latin1", 53, 55), 16),
  });
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

export type Attributes = Record<string, string | number | boolean>;

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
  attrs: Attributes;
}

export interface SpanBatch {
  service: string;
  /** Spans this producer dropped so far (its running total): the collector shows it. */
  dropped: number;
  spans: WireSpan[];
}

/**
 * The side channel's batch, version 2: the fixed part of every span is a 52-byte record, all of a
 * batch's records in one `bin` (written with Buffer.write(hex), no per-span object or map to
 * encode); names are a table indexed from the record; attributes an array beside the records.
 */
export const BATCH_VERSION = 2;
/** Bytes of one span record. */
export const SPAN_RECORD = 52;
/** Distinct span names in one batch at most. */
export const MAX_NAMES = 64;
const R = { trace: 0, span: 16, parent: 24, startS: 32, startNs: 36, endS: 40, endNs: 44, kind: 48, status: 49, name: 50 } as const;

/** An HrTime as two uint32 (seconds, nanoseconds), nanoseconds carried into seconds if rounding made 1e9. */
function writeHrTime(b: Buffer, at: number, t: HrTime): void {
  const carry = t[1] >= 1e9 ? 1 : 0;
  b.writeUInt32BE(t[0] + carry, at);
  b.writeUInt32BE(t[1] - carry * 1e9, at + 4);
}

/**
 * Writes a batch's span records and gathers its names and attributes, span by span, then makes the
 * frame. One writer per batch: the records buffer is fresh (zeromq.js may still be sending the
 * previous frame, and it sends without copying).
 */
export class BatchWriter {
  private readonly records: Buffer;
  private readonly names: string[] = [];
  private readonly nameIndex = new Map<string, number>();
  private readonly attrs: (Attributes | null)[] = [];
  count = 0;

  constructor(readonly capacity: number) {
    this.records = Buffer.allocUnsafe(Math.min(capacity, MAX_SPANS_PER_BATCH) * SPAN_RECORD);
  }

  get full(): boolean {
    return this.count * SPAN_RECORD >= this.records.length;
  }

  /** Adds a span (ids in lowercase hex as OpenTelemetry keeps them); false when the batch is full. */
  add(
    traceId: string,
    spanId: string,
    parentId: string | undefined,
    name: string,
    kind: number,
    start: HrTime,
    end: HrTime,
    status: number,
    attrs: Attributes | null,
  ): boolean {
    if (this.full) return false;
    let n = this.nameIndex.get(name);
    if (n === undefined) {
      if (this.names.length >= MAX_NAMES) return false;
      n = this.names.length;
      this.names.push(name);
      this.nameIndex.set(name, n);
    }
    const b = this.records;
    const o = this.count * SPAN_RECORD;
    b.write(traceId, o + R.trace, 16, "hex");
    b.write(spanId, o + R.span, 8, "hex");
    if (parentId) b.write(parentId, o + R.parent, 8, "hex");
    else b.fill(0, o + R.parent, o + R.parent + 8);
    writeHrTime(b, o + R.startS, start);
    writeHrTime(b, o + R.endS, end);
    b[o + R.kind] = kind;
    b[o + R.status] = status;
    b.writeUInt16BE(n, o + R.name);
    this.attrs.push(attrs);
    this.count += 1;
    return true;
  }

  frame(service: string, dropped: number): Buffer {
    return encode({
      v: BATCH_VERSION,
      svc: service,
      drop: dropped,
      names: this.names,
      spans: this.records.subarray(0, this.count * SPAN_RECORD),
      attrs: this.attrs,
    });
  }
}

/** A batch's frame from spans as the collector sees them (tests, probes). */
export function encodeBatch(b: SpanBatch): Buffer {
  const w = new BatchWriter(Math.max(1, b.spans.length));
  for (const s of b.spans)
    w.add(s.traceId, s.spanId, s.parentId, s.name, s.kind, s.start, s.end, s.status, Object.keys(s.attrs).length > 0 ? s.attrs : null);
  return w.frame(b.service, b.dropped);
}

export const hrNanos = (t: HrTime): bigint => BigInt(t[0]) * 1_000_000_000n + BigInt(t[1]);
export const hrMs = (t: HrTime): number => t[0] * 1000 + t[1] / 1e6;
/** Orders two HrTimes without BigInt: negative, 0 or positive. */
export const hrCompare = (a: HrTime, b: HrTime): number => a[0] - b[0] || a[1] - b[1];

function zeroAt(b: Uint8Array, from: number, length: number): boolean {
  for (let i = from; i < from + length; i++) if (b[i] !== 0) return false;
  return true;
}

/** The attributes of a span that has none: one shared, frozen object. */
const NO_ATTRS: Attributes = Object.freeze({});
const NONE = ok(NO_ATTRS);

function decodeAttrs(a: unknown): Checked<Attributes> {
  if (a === undefined || a === null) return NONE;
  const attrs: Attributes = {};
  if (!isMap(a)) return refuse("attrs: a map or nil");
  const entries = Object.entries(a);
  if (entries.length > MAX_ATTRS) return refuse(`attrs: at most ${MAX_ATTRS} attributes`);
  for (const [key, v] of entries) {
    if (!isText(key, 64, 1)) return refuse("attrs: keys of 1..64");
    if (!(typeof v === "boolean" || isNumber(v) || isText(v, MAX_ATTR_TEXT))) return refuse("attrs: values text, number or bool");
    attrs[key] = v as string | number | boolean;
  }
  return ok(attrs);
}

/** Span i of a batch's records, checked; the names and attributes already checked as arrays. */
function decodeSpan(b: Buffer, i: number, names: string[], a: unknown): Checked<WireSpan> {
  const o = i * SPAN_RECORD;
  if (zeroAt(b, o + R.trace, 16)) return refuse("trace id all zero");
  if (zeroAt(b, o + R.span, 8)) return refuse("span id all zero");
  const start: HrTime = [b.readUInt32BE(o + R.startS), b.readUInt32BE(o + R.startNs)];
  const end: HrTime = [b.readUInt32BE(o + R.endS), b.readUInt32BE(o + R.endNs)];
  if (start[1] > 999_999_999 || end[1] > 999_999_999) return refuse("nanoseconds past 999,999,999");
  if (hrCompare(end, start) < 0) return refuse("end before start");
  const kind = b[o + R.kind] as number;
  const status = b[o + R.status] as number;
  if (kind > 4) return refuse("kind: 0..4");
  if (status > 2) return refuse("status: 0..2");
  const name = names[b.readUInt16BE(o + R.name)];
  if (name === undefined) return refuse("name index past the names");
  const attrs = decodeAttrs(a);
  if (!attrs.ok) return attrs;
  const span: WireSpan = {
    traceId: b.toString("hex", o + R.trace, o + R.trace + 16),
    spanId: b.toString("hex", o + R.span, o + R.span + 8),
    name,
    kind,
    start,
    end,
    status,
    attrs: attrs.value,
  };
  if (!zeroAt(b, o + R.parent, 8)) span.parentId = b.toString("hex", o + R.parent, o + R.parent + 8);
  return ok(span);
}

export type FromProducer = { kind: "batch"; batch: SpanBatch; bad: number } | { kind: "invalid"; reason: string };

/**
 * A span batch as the collector's PULL receives it: one frame. A batch whose frame is not a valid
 * map (version, service, counts, names, records whole, attributes one per record) is refused whole;
 * within a good batch each bad span is dropped and counted (`bad`).
 */
export function fromProducer(frames: Buffer[]): FromProducer {
  if (frames.length !== 1) return { kind: "invalid", reason: "a batch is one frame" };
  const m = decodeMap(frames[0], "batch");
  if (!m.ok) return { kind: "invalid", reason: m.reason };
  const { v, svc, drop, names, spans, attrs } = m.value;
  if (v !== BATCH_VERSION) return { kind: "invalid", reason: `v must be ${BATCH_VERSION}` };
  if (!isText(svc, MAX_SERVICE, 1)) return { kind: "invalid", reason: `svc: text of 1..${MAX_SERVICE}` };
  if (!isInt(drop)) return { kind: "invalid", reason: "drop: a count" };
  if (!Array.isArray(names) || names.length > MAX_NAMES || !names.every((n) => isText(n, MAX_NAME, 1)))
    return { kind: "invalid", reason: `names: at most ${MAX_NAMES} texts of 1..${MAX_NAME}` };
  if (!(spans instanceof Uint8Array) || spans.length % SPAN_RECORD !== 0 || spans.length / SPAN_RECORD > MAX_SPANS_PER_BATCH)
    return { kind: "invalid", reason: `spans: bytes, records of ${SPAN_RECORD}, at most ${MAX_SPANS_PER_BATCH}` };
  const count = spans.length / SPAN_RECORD;
  if (!Array.isArray(attrs) || attrs.length !== count) return { kind: "invalid", reason: "attrs: one entry per span" };
  const records = Buffer.from(spans.buffer, spans.byteOffset, spans.length);
  const good: WireSpan[] = [];
  let bad = 0;
  for (let i = 0; i < count; i++) {
    const s = decodeSpan(records, i, names as string[], attrs[i]);
    if (s.ok) good.push(s.value);
    else bad += 1;
  }
  return { kind: "batch", batch: { service: svc, dropped: drop, spans: good }, bad };
}
