// The two wires of the bridge: ZeroMQ upstream (lab01 heartbeats and lab04 telemetry samples, as
// their READMEs define them; the bridge forwards any topic-first message without reading its body)
// and the WebSocket downstream (binary messages only, the format in the README's wire section).

/** Topic frame (frame 0 upstream) and subscription prefix: at most 200 bytes of [A-Za-z0-9_.-]. */
export const MAX_TOPIC_BYTES = 200;
const TOPIC_RE = /^[A-Za-z0-9_.-]*$/;
/** Frames in one upstream message: a heartbeat has 2, a telemetry sample 3. */
export const MAX_UPSTREAM_FRAMES = 4;
/** Per frame, upstream (libzmq's maxMessageSize is per frame): lab04's 128 KiB. */
export const MAX_UPSTREAM_FRAME_BYTES = 128 * 1024;
/** What a feed's PUB takes from the bridge's SUB: subscriptions only. */
export const MAX_SUBSCRIPTION_BYTES = 1024;
/** Largest WebSocket message a browser may send (ws maxPayload): one control message. */
export const MAX_CONTROL_BYTES = 256;
/** Prefixes one browser may hold at once. */
export const MAX_PREFIXES_PER_CLIENT = 32;

// Browser -> bridge control message: [op u8][prefix bytes], as ZeroMQ's own subscription frame.
export const OP_SUBSCRIBE = 0x01;
export const OP_UNSUBSCRIBE = 0x00;

// Bridge -> browser message kinds (byte 0).
export const KIND_LIVE = 0x01;
export const KIND_CACHED = 0x02;
export const KIND_NOTICE = 0x03;

// Notice codes (byte 1 of a notice).
export const NOTICE_SUBSCRIBED = 0x01;
export const NOTICE_UNSUBSCRIBED = 0x02;
export const NOTICE_REFUSED = 0x03;
export const NOTICE_HELLO = 0x04;

export type Control = { kind: "subscribe" | "unsubscribe"; prefix: string } | { kind: "invalid"; reason: string };

export function isTopicText(s: string, minLength = 0): boolean {
  return s.length >= minLength && s.length <= MAX_TOPIC_BYTES && TOPIC_RE.test(s);
}

/** One control message from a browser (already known to be binary and at most MAX_CONTROL_BYTES). */
export function decodeControl(data: Buffer): Control {
  if (data.length < 1) return { kind: "invalid", reason: "empty message" };
  const op = data[0];
  if (op !== OP_SUBSCRIBE && op !== OP_UNSUBSCRIBE) return { kind: "invalid", reason: `unknown op 0x${(op ?? 0).toString(16)}` };
  const prefix = data.subarray(1).toString("latin1");
  if (!isTopicText(prefix)) return { kind: "invalid", reason: "a prefix is at most 200 bytes of [A-Za-z0-9_.-]" };
  return { kind: op === OP_SUBSCRIBE ? "subscribe" : "unsubscribe", prefix };
}

export function encodeControl(op: "subscribe" | "unsubscribe", prefix: string): Buffer {
  return Buffer.concat([Buffer.from([op === "subscribe" ? OP_SUBSCRIBE : OP_UNSUBSCRIBE]), Buffer.from(prefix, "latin1")]);
}

export type Upstream = { kind: "message"; topic: string; frames: Buffer[] } | { kind: "invalid"; reason: string };

/** One message from the bridge's SUB: a topic frame, then 1-3 frames forwarded as they are. */
export function decodeUpstream(frames: Buffer[]): Upstream {
  if (frames.length < 2 || frames.length > MAX_UPSTREAM_FRAMES)
    return { kind: "invalid", reason: `${frames.length} frames (2-4 expected)` };
  const topicFrame = frames[0] as Buffer;
  if (topicFrame.length < 1 || topicFrame.length > MAX_TOPIC_BYTES)
    return { kind: "invalid", reason: "topic frame of 1-200 bytes expected" };
  const topic = topicFrame.toString("latin1");
  if (!isTopicText(topic, 1)) return { kind: "invalid", reason: "topic of [A-Za-z0-9_.-] expected" };
  return { kind: "message", topic, frames };
}

/**
 * A data message to a browser: [kind u8][seq u32 BE][frame count u8] then per frame [length u32 BE][bytes].
 * The whole ZeroMQ multipart message (topic frame included) is one WebSocket message.
 */
export function encodeData(kind: typeof KIND_LIVE | typeof KIND_CACHED, seq: number, frames: readonly Buffer[]): Buffer {
  let size = 6;
  for (const f of frames) size += 4 + f.length;
  const out = Buffer.allocUnsafe(size);
  out[0] = kind;
  out.writeUInt32BE(seq >>> 0, 1);
  out[5] = frames.length;
  let at = 6;
  for (const f of frames) {
    out.writeUInt32BE(f.length, at);
    f.copy(out, at + 4);
    at += 4 + f.length;
  }
  return out;
}

/** A notice to a browser: [3][code u8][value u32 BE][UTF-8 text]. */
export function encodeNotice(code: number, value: number, text: string): Buffer {
  const t = Buffer.from(text.slice(0, 200), "utf8");
  const out = Buffer.alloc(6 + t.length);
  out[0] = KIND_NOTICE;
  out[1] = code;
  out.writeUInt32BE(Math.max(0, Math.min(value, 0xffffffff)) >>> 0, 2);
  t.copy(out, 6);
  return out;
}

export type ServerMessage =
  | { kind: "live" | "cached"; seq: number; frames: Buffer[] }
  | { kind: "notice"; code: number; value: number; text: string }
  | { kind: "invalid"; reason: string };

/** The browser's decoder, in TypeScript for the tests and the bench (web/web-client.js has its twin). */
export function decodeServerMessage(data: Buffer): ServerMessage {
  const kind = data[0];
  if (kind === KIND_NOTICE) {
    if (data.length < 6) return { kind: "invalid", reason: "short notice" };
    return { kind: "notice", code: data[1] as number, value: data.readUInt32BE(2), text: data.subarray(6).toString("utf8") };
  }
  if (kind !== KIND_LIVE && kind !== KIND_CACHED) return { kind: "invalid", reason: "unknown kind" };
  if (data.length < 6) return { kind: "invalid", reason: "short message" };
  const seq = data.readUInt32BE(1);
  const count = data[5] as number;
  const frames: Buffer[] = [];
  let at = 6;
  for (let i = 0; i < count; i++) {
    if (at + 4 > data.length) return { kind: "invalid", reason: "truncated frame length" };
    const len = data.readUInt32BE(at);
    if (at + 4 + len > data.length) return { kind: "invalid", reason: "truncated frame" };
    frames.push(data.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  if (at !== data.length) return { kind: "invalid", reason: "trailing bytes" };
  return { kind: kind === KIND_LIVE ? "live" : "cached", seq, frames };
}

// ---- The feeds' wire: lab01's heartbeat and lab04's telemetry sample, from their packages ----

export { encodeHeartbeat, type Heartbeat, type Level, topicFor } from "lab01/protocol";
export { encodeSample, type Sample, type SampleHeader } from "lab04/protocol";

/** The figures in a heartbeat (lab01's `metrics` map). */
export type HeartbeatMetrics = import("lab01/protocol").Heartbeat["metrics"];
