/**
 * Lab 04 wire protocol: telemetry over PUB-SUB through an XSUB/XPUB proxy with a Last Value Cache.
 *
 * A sample is three frames: [topic, header, payload].
 *   topic    ASCII "<site>.<device>.<metric>", segments of [A-Za-z0-9_-]; subscribers filter by prefix
 *   header   MessagePack map, see SampleHeader
 *   payload  `count` IEEE-754 float64 values, little-endian (schema "f64le")
 * Subscriptions travel the other way as single frames: 0x01 + prefix to subscribe, 0x00 + prefix
 * to unsubscribe (what a SUB sends to its XPUB; the proxy forwards them to the publishers).
 */
import { pack, unpack } from "msgpackr";

export const PROTOCOL_VERSION = 1;
export const SCHEMA = "f64le";
export const TOPIC_PATTERN = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$/;
export const MAX_TOPIC_LENGTH = 200;
export const MAX_VALUES = 4096;

export interface SampleHeader {
  v: number;
  source: string;
  /** Per source, 1, 2, 3...: a subscriber drops a repeat (the cache replays what it may have seen). */
  seq: number;
  /** Source's clock, ms since the epoch. */
  ts: number;
  units: string;
  schema: string;
  count: number;
}

export interface Sample {
  topic: string;
  header: SampleHeader;
  values: number[];
}

export function encodePayload(values: readonly number[]): Buffer {
  const buf = Buffer.allocUnsafe(values.length * 8);
  for (const [i, v] of values.entries()) buf.writeDoubleLE(v, i * 8);
  return buf;
}

export function decodePayload(payload: Buffer): number[] {
  const out: number[] = [];
  for (let i = 0; i + 8 <= payload.length; i += 8) out.push(payload.readDoubleLE(i));
  return out;
}

export function encodeSample(s: Sample): Buffer[] {
  return [Buffer.from(s.topic), pack(s.header), encodePayload(s.values)];
}

export type Checked = { ok: true; topic: string; header: SampleHeader } | { ok: false; reason: string };

/** Validates the frames of a sample without decoding its values: the proxy needs no more. */
export function checkSample(frames: readonly Buffer[]): Checked {
  if (frames.length !== 3) return { ok: false, reason: `expected 3 frames, got ${frames.length}` };
  const [topicFrame, headerFrame, payload] = frames as [Buffer, Buffer, Buffer];
  const topic = topicFrame.toString("latin1");
  if (topic.length > MAX_TOPIC_LENGTH || !TOPIC_PATTERN.test(topic)) return { ok: false, reason: "bad topic" };
  let header: unknown;
  try {
    header = unpack(headerFrame);
  } catch {
    return { ok: false, reason: "header is not MessagePack" };
  }
  if (typeof header !== "object" || header === null || Object.getPrototypeOf(header) !== Object.prototype)
    return { ok: false, reason: "header is not a map" };
  const h = header as Record<string, unknown>;
  if (h.v !== PROTOCOL_VERSION) return { ok: false, reason: `unsupported version ${String(h.v)}` };
  if (typeof h.source !== "string" || h.source.length === 0) return { ok: false, reason: "missing source" };
  if (!Number.isSafeInteger(h.seq) || (h.seq as number) < 1) return { ok: false, reason: "bad seq" };
  if (typeof h.ts !== "number" || typeof h.units !== "string") return { ok: false, reason: "bad ts or units" };
  if (h.schema !== SCHEMA) return { ok: false, reason: `unknown schema ${String(h.schema)}` };
  if (!Number.isInteger(h.count) || (h.count as number) < 1 || (h.count as number) > MAX_VALUES) return { ok: false, reason: "bad count" };
  if (payload.length !== (h.count as number) * 8)
    return { ok: false, reason: `payload is ${payload.length} bytes, header says ${h.count} values` };
  return { ok: true, topic, header: h as unknown as SampleHeader };
}

export type SubscriptionEvent = { subscribe: boolean; prefix: string };

/** An XPUB subscription event: 0x01/0x00 and the prefix. */
export function subscriptionEvent(frame: Buffer): SubscriptionEvent | undefined {
  if (frame.length < 1 || (frame[0] !== 0 && frame[0] !== 1)) return undefined;
  return { subscribe: frame[0] === 1, prefix: frame.subarray(1).toString("latin1") };
}
