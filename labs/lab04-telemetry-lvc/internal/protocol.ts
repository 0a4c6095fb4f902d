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
import { decodeMap, encode, isInt, isNumber, isText } from "@zlabs/kit";

export const PROTOCOL_VERSION = 1;
export const SCHEMA = "f64le";
export const TOPIC_PATTERN = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$/;
export const MAX_TOPIC_LENGTH = 200;
export const MAX_VALUES = 4096;
/** Bounds on the header's text, and on the header frame the cache keeps as it came. */
export const MAX_SOURCE_LENGTH = 64;
export const MAX_UNITS_LENGTH = 32;
export const MAX_HEADER_BYTES = 512;

/**
 * The largest frame a socket that receives samples takes (libzmq's ZMQ_MAXMSGSIZE, per frame): the
 * largest payload is MAX_VALUES x 8 = 32 KiB. A publisher that sends more is disconnected.
 */
export const MAX_SAMPLE_FRAME_BYTES = 128 * 1024;
/**
 * The largest message a socket that receives subscriptions takes (the broker's XPUB, a source's
 * PUB): a subscription is 1 byte and a prefix no longer than a topic. libzmq keeps every prefix in
 * a trie at about 65 bytes per byte, and the broker forwards it upstream; one 10 MB subscription
 * took the broker to 1.5 GB and each source to 1.4 GB before this limit.
 */
export const MAX_SUBSCRIPTION_BYTES = 1024;

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
  return [Buffer.from(s.topic), encode(s.header), encodePayload(s.values)];
}

/** What a socket that receives samples (the broker's XSUB, a terminal's SUB) can get. */
export type SampleMessage = { kind: "sample"; topic: string; header: SampleHeader; payload: Buffer } | { kind: "invalid"; reason: string };

function invalid(reason: string): { kind: "invalid"; reason: string } {
  return { kind: "invalid", reason };
}

/** The header's fields, each checked and bounded; numbers may come as any MessagePack int (uint64 too) or float. */
function checkHeader(h: Record<string, unknown>): SampleHeader | string {
  if (h.v !== PROTOCOL_VERSION) return isInt(h.v, 0, 999) ? `unsupported version ${h.v}` : "unsupported version";
  if (!isText(h.source, MAX_SOURCE_LENGTH, 1)) return "missing source";
  if (!isInt(h.seq, 1)) return "bad seq";
  if (!isNumber(h.ts, 0) || !isText(h.units, MAX_UNITS_LENGTH)) return "bad ts or units";
  if (h.schema !== SCHEMA) return isText(h.schema, 16) ? `unknown schema ${h.schema}` : "unknown schema";
  if (!isInt(h.count, 1, MAX_VALUES)) return "bad count";
  const { source, seq, ts, units, count } = h as unknown as SampleHeader;
  return { v: PROTOCOL_VERSION, source, seq, ts, units, schema: SCHEMA, count };
}

/**
 * Validates the frames of a sample without decoding its values: the proxy needs no more. The
 * header frame is kept as it came (the cache replays it), so its size is bounded too.
 */
export function decodeSample(frames: readonly Buffer[]): SampleMessage {
  if (frames.length !== 3) return invalid(`expected 3 frames, got ${frames.length}`);
  const [topicFrame, headerFrame, payload] = frames as [Buffer, Buffer, Buffer];
  if (topicFrame.length > MAX_TOPIC_LENGTH) return invalid("bad topic");
  const topic = topicFrame.toString("latin1");
  if (!TOPIC_PATTERN.test(topic)) return invalid("bad topic");
  if (headerFrame.length > MAX_HEADER_BYTES) return invalid(`header over ${MAX_HEADER_BYTES} bytes`);
  const decoded = decodeMap(headerFrame, "header");
  if (!decoded.ok) return invalid(decoded.reason);
  const header = checkHeader(decoded.value);
  if (typeof header === "string") return invalid(header);
  if (payload.length !== header.count * 8) return invalid(`payload is ${payload.length} bytes, header says ${header.count} values`);
  return { kind: "sample", topic, header, payload };
}

/** What the broker's XPUB can receive: a subscriber's subscribe or unsubscribe, or anything else. */
export type SubscriptionMessage =
  | { kind: "subscribe"; prefix: string }
  | { kind: "unsubscribe"; prefix: string }
  | { kind: "invalid"; reason: string };

/** A prefix a topic can start with: topic characters only, no longer than a topic. */
const PREFIX_PATTERN = /^[A-Za-z0-9_.-]*$/;

/** An XPUB subscription event: one frame, 0x01 (subscribe) or 0x00 (unsubscribe) and the prefix. */
export function decodeSubscription(frames: readonly Buffer[]): SubscriptionMessage {
  if (frames.length !== 1) return invalid(`expected 1 frame, got ${frames.length}`);
  const [frame] = frames as [Buffer];
  if (frame.length < 1 || (frame[0] !== 0 && frame[0] !== 1)) return invalid("not a subscription");
  if (frame.length - 1 > MAX_TOPIC_LENGTH) return invalid("prefix longer than a topic");
  const prefix = frame.subarray(1).toString("latin1");
  if (!PREFIX_PATTERN.test(prefix)) return invalid("prefix is not a topic prefix");
  return { kind: frame[0] === 1 ? "subscribe" : "unsubscribe", prefix };
}
