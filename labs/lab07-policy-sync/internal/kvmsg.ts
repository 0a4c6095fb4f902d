/**
 * kvmsg, the five-frame message of the Clone pattern and RFC 12/CHP:
 *
 *   frame 0  key          a string, 1..255 bytes
 *   frame 1  sequence     8 bytes, network order (a 64-bit unsigned number: a BigInt here, never a 32-bit one)
 *   frame 2  uuid         16 bytes, or empty
 *   frame 3  properties   "name=value\n" repeated, or empty
 *   frame 4  body         a blob; empty means "delete this key"
 *
 * Every frame from a peer is checked against the bounds below before anything else reads it.
 */
import { randomUUID } from "node:crypto";

export const FRAMES = 5;
export const SEQ_BYTES = 8;
export const UUID_BYTES = 16;
export const MAX_KEY_BYTES = 255;
/** A value (a firewall rule is about 60 bytes; a CHP value is any blob up to this). */
export const MAX_VALUE_BYTES = 1024;
export const MAX_PROPS_BYTES = 1024;
export const MAX_PROPS = 16;
const PROP_NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,31}$/;
const MAX_PROP_VALUE_CHARS = 255;
export const MAX_SEQUENCE = 2n ** 64n - 1n;

export const EMPTY = Buffer.alloc(0);
/** The all-zero sequence frame, as HUGZ carries it (SPEC). */
export const ZERO_SEQ = Buffer.alloc(SEQ_BYTES);

export interface KvMsg {
  key: string;
  seq: bigint;
  /** 16 bytes, or empty when the sender set none. */
  uuid: Buffer;
  /** Insertion-ordered; a Map, so a peer's "__proto__" is just a name. */
  props: Map<string, string>;
  body: Buffer;
}

export function kv(key: string, body: Buffer | string, props: Record<string, string> = {}, uuid: Buffer = EMPTY, seq = 0n): KvMsg {
  return { key, seq, uuid, props: new Map(Object.entries(props)), body: typeof body === "string" ? Buffer.from(body) : body };
}

export function newUuid(): Buffer {
  return Buffer.from(randomUUID().replaceAll("-", ""), "hex");
}

export function seqFrame(seq: bigint): Buffer {
  const b = Buffer.alloc(SEQ_BYTES);
  b.writeBigUInt64BE(seq);
  return b;
}

export function encodeProps(props: ReadonlyMap<string, string>): Buffer {
  if (props.size === 0) return EMPTY;
  let text = "";
  for (const [name, value] of props) text += `${name}=${value}\n`;
  return Buffer.from(text);
}

/** Whether text holds a control character (C0 or DEL). */
export function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

/** "name=value\n" repeated; names are words, values one line each; bounded in bytes and count. */
export function parseProps(frame: Buffer): Parsed<Map<string, string>> {
  const props = new Map<string, string>();
  if (frame.length === 0) return { ok: true, value: props };
  if (frame.length > MAX_PROPS_BYTES) return { ok: false, reason: `properties over ${MAX_PROPS_BYTES} bytes` };
  const text = frame.toString("utf8");
  const lines = text.split("\n");
  // "a=1\n" splits into ["a=1", ""]; a last line without its newline is accepted too (REF writes the newline).
  if (lines.at(-1) === "") lines.pop();
  if (lines.length > MAX_PROPS) return { ok: false, reason: `more than ${MAX_PROPS} properties` };
  for (const line of lines) {
    const eq = line.indexOf("=");
    const name = eq > 0 ? line.slice(0, eq) : "";
    const value = line.slice(eq + 1);
    if (!PROP_NAME.test(name) || value.length > MAX_PROP_VALUE_CHARS || hasControl(value))
      return { ok: false, reason: "a property is not name=value" };
    props.set(name, value);
  }
  return { ok: true, value: props };
}

/** A key as CHP carries it: a non-empty string of at most 255 bytes, printable, valid UTF-8. */
export function checkKey(frame: Buffer): Parsed<string> {
  if (frame.length === 0 || frame.length > MAX_KEY_BYTES)
    return { ok: false, reason: `key of ${frame.length} bytes (1..${MAX_KEY_BYTES})` };
  const key = frame.toString("utf8");
  if (!Buffer.from(key).equals(frame)) return { ok: false, reason: "key is not UTF-8" };
  if (hasControl(key)) return { ok: false, reason: "key holds control characters" };
  return { ok: true, value: key };
}

/** The five frames, checked; what the frames mean (command, update, snapshot entry) is the caller's. */
export function decodeKvMsg(frames: readonly Buffer[]): Parsed<KvMsg> {
  if (frames.length !== FRAMES) return { ok: false, reason: `${frames.length} frames, not ${FRAMES}` };
  const [keyFrame, seqBytes, uuid, propsFrame, body] = frames as [Buffer, Buffer, Buffer, Buffer, Buffer];
  const key = checkKey(keyFrame);
  if (!key.ok) return key;
  if (seqBytes.length !== SEQ_BYTES) return { ok: false, reason: `sequence of ${seqBytes.length} bytes, not ${SEQ_BYTES}` };
  if (uuid.length !== 0 && uuid.length !== UUID_BYTES) return { ok: false, reason: `uuid of ${uuid.length} bytes (0 or ${UUID_BYTES})` };
  if (body.length > MAX_VALUE_BYTES) return { ok: false, reason: `value over ${MAX_VALUE_BYTES} bytes` };
  const props = parseProps(propsFrame);
  if (!props.ok) return props;
  return { ok: true, value: { key: key.value, seq: seqBytes.readBigUInt64BE(), uuid, props: props.value, body } };
}

export function encodeKvMsg(m: KvMsg): Buffer[] {
  return [Buffer.from(m.key), seqFrame(m.seq), m.uuid, encodeProps(m.props), m.body];
}

/** A uuid as text, for logs and the pending list's keys. */
export function uuidText(uuid: Buffer): string {
  return uuid.toString("hex");
}
