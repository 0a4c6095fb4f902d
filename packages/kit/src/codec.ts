import { Packr, Unpackr } from "msgpackr";

/**
 * The one way a lab turns a peer's MessagePack into values, configured for other languages' peers:
 *
 * - Python's msgpack (and Go's, and C's) encode integers at or above 2**32 as uint64/int64. Those
 *   that fit in a double without loss come back as plain numbers (a millisecond timestamp is one);
 *   larger ones would come back as BigInt, which JSON.stringify throws on, so such a message is
 *   refused with a reason instead.
 * - No msgpackr records or other extensions a foreign peer cannot produce; the timestamp extension
 *   (-1) becomes a Date, as MessagePack's spec says.
 * - Nesting is bounded, so a hostile message cannot make a validator recurse without end.
 */
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: "auto" as "number" }); // "auto" is in the README, not yet in the types
const packr = new Packr({ useRecords: false, variableMapSize: true });

/** How deep maps and arrays may nest in a peer's message. */
export const MAX_NESTING = 32;

/** A value from a peer, checked: the value, or the reason it was refused. */
export type Checked<T> = { ok: true; value: T } | { ok: false; reason: string };

export function ok<T>(value: T): Checked<T> {
  return { ok: true, value };
}

export function refuse<T = never>(reason: string): Checked<T> {
  return { ok: false, reason };
}

/**
 * Whole numbers past 32 bits as BigInt, so they go out as MessagePack's int64 (msgpackr
 * would write float64, and a Python or Go peer would read 4294967297.0, a float, not an int).
 */
function wideIntegers(value: unknown, depth: number): unknown {
  if (typeof value === "number") {
    const wide = Number.isSafeInteger(value) && (value > 0xffffffff || value < -0x80000000);
    return wide ? BigInt(value) : value;
  }
  if (typeof value !== "object" || value === null || value instanceof Uint8Array || value instanceof Date) return value;
  if (depth >= MAX_NESTING) return value;
  if (Array.isArray(value)) return value.map((v) => wideIntegers(v, depth + 1));
  if (!isMap(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = wideIntegers(v, depth + 1);
  return out;
}

export function encode(value: unknown): Buffer {
  return packr.pack(wideIntegers(value, 0));
}

/** A plain object, as MessagePack maps decode: not an array, Buffer, Date or class instance. */
export function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && Object.getPrototypeOf(v) === Object.prototype;
}

/** Why a decoded value cannot be used as it is, or undefined when every part of it is safe. */
function unsafePart(value: unknown, depth: number): string | undefined {
  if (typeof value === "bigint") return "integer beyond 2**53 (not exact as a number)";
  if (typeof value !== "object" || value === null) return undefined;
  if (value instanceof Uint8Array || value instanceof Date) return undefined;
  if (depth >= MAX_NESTING) return `nested deeper than ${MAX_NESTING}`;
  const parts = Array.isArray(value) ? value : Object.values(value);
  for (const part of parts) {
    const reason = unsafePart(part, depth + 1);
    if (reason) return reason;
  }
  return undefined;
}

/** Any MessagePack value from a peer: exactly one value, no BigInt anywhere, bounded nesting. */
export function decode(frame: Uint8Array | undefined): Checked<unknown> {
  if (!frame || frame.length === 0) return refuse("empty frame where MessagePack was expected");
  let value: unknown;
  try {
    value = unpackr.unpack(frame);
  } catch (err) {
    return refuse(`not MessagePack: ${(err as Error).message}`);
  }
  const reason = unsafePart(value, 0);
  return reason ? refuse(reason) : ok(value);
}

/** A MessagePack map from a peer: the shape every structured payload of the labs has. */
export function decodeMap(frame: Uint8Array | undefined, what = "payload"): Checked<Record<string, unknown>> {
  const decoded = decode(frame);
  if (!decoded.ok) return refuse(`${what}: ${decoded.reason}`);
  return isMap(decoded.value) ? ok(decoded.value) : refuse(`${what} is not a MessagePack map`);
}

/** A whole number in [min, max]: what every count, size, sequence number and timestamp must be. */
export function isInt(v: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= min && v <= max;
}

/** A finite number in [min, max] (a float is fine): measurements, rates, intervals. */
export function isNumber(v: unknown, min = -Number.MAX_VALUE, max = Number.MAX_VALUE): v is number {
  return typeof v === "number" && Number.isFinite(v) && v >= min && v <= max;
}

/** A string of at most maxLength characters (and at least minLength). */
export function isText(v: unknown, maxLength: number, minLength = 0): v is string {
  return typeof v === "string" && v.length <= maxLength && v.length >= minLength;
}

/** Bytes as a Buffer (msgpackr gives Buffers for bin; a Uint8Array from elsewhere is copied). */
export function asBuffer(v: unknown): Buffer | undefined {
  if (Buffer.isBuffer(v)) return v;
  return v instanceof Uint8Array ? Buffer.from(v) : undefined;
}
