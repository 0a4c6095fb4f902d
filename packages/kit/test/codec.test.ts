import { pack } from "msgpackr";
import { describe, expect, it } from "vitest";
import { decode, decodeMap, encode, isInt, isNumber, isText, MAX_NESTING } from "../src/codec.ts";
import { isSafeName, pathInside } from "../src/limits.ts";

const uint64 = (n: bigint) => {
  const b = Buffer.alloc(9);
  b[0] = 0xcf;
  b.writeBigUInt64BE(n, 1);
  return b;
};
/** A one-entry map {key: <raw value>}, as Python's msgpack writes it. */
const mapOf = (key: string, raw: Buffer) => Buffer.concat([Buffer.from([0x81, 0xa0 | key.length]), Buffer.from(key), raw]);

describe("codec", () => {
  it("takes a uint64 that fits a double as a plain number (Python's millisecond timestamps)", () => {
    const ts = 1_764_000_000_000n;
    const decoded = decodeMap(mapOf("ts", uint64(ts)));
    expect(decoded).toEqual({ ok: true, value: { ts: Number(ts) } });
    expect(typeof (decoded.ok && decoded.value.ts)).toBe("number");
  });

  it("refuses an integer beyond 2**53 anywhere in the message, instead of handing out a BigInt", () => {
    const nested = Buffer.concat([Buffer.from([0x81, 0xa1, 0x64, 0x91]), uint64(2n ** 64n - 1n)]);
    const decoded = decode(nested);
    expect(decoded.ok).toBe(false);
    expect(!decoded.ok && decoded.reason).toMatch(/beyond 2\*\*53/);
  });

  it("refuses empty frames, trailing bytes, truncated data, unknown extensions and deep nesting", () => {
    expect(decode(Buffer.alloc(0)).ok).toBe(false);
    expect(decode(undefined).ok).toBe(false);
    expect(decode(Buffer.concat([pack(1), pack(2)])).ok).toBe(false);
    expect(decode(pack({ a: "long string" }).subarray(0, 5)).ok).toBe(false);
    expect(decode(Buffer.from([0xd4, 0x72, 0x00])).ok).toBe(false);
    const deep = Buffer.concat([Buffer.alloc(MAX_NESTING + 1, 0x91), Buffer.from([0xc0])]);
    expect(decode(deep)).toMatchObject({ ok: false, reason: expect.stringMatching(/nested deeper/) });
    expect(decodeMap(pack([1, 2]))).toMatchObject({ ok: false, reason: "payload is not a MessagePack map" });
  });

  it("round-trips what the labs send, without msgpackr records", () => {
    const value = { v: 1, name: "x", data: Buffer.from([1, 2]), n: 2 ** 40, f: 0.5 };
    expect(decodeMap(encode(value))).toEqual({ ok: true, value });
    expect(encode({ a: 1 })[0]).toBe(0x81);
  });

  it("checks numbers and text with bounds", () => {
    expect(isInt(5, 0, 10)).toBe(true);
    expect(isInt(5.5)).toBe(false);
    expect(isInt(-1)).toBe(false);
    expect(isInt(2 ** 40, 0, 2 ** 31)).toBe(false);
    expect(isNumber(Number.NaN)).toBe(false);
    expect(isNumber(1.5, 0, 2)).toBe(true);
    expect(isText("abc", 2)).toBe(false);
    expect(isText(3, 10)).toBe(false);
  });
});

describe("paths from a peer", () => {
  it("accepts only a single safe segment and keeps it inside its folder", () => {
    expect(pathInside("/data/out", "batch-7.jsonl")).toBe("/data/out/batch-7.jsonl");
    for (const bad of ["../x", "..", ".", ".hidden", "a/b", "/etc/passwd", "a\u0000b", "C:\\x", "", "x".repeat(200), 7, null]) {
      expect(pathInside("/data/out", bad)).toBeUndefined();
      expect(isSafeName(bad)).toBe(false);
    }
  });

  it("sends whole numbers past 32 bits as int64, as a typed peer expects, and reads them back as numbers", () => {
    const ts = 1_764_000_000_000;
    const packed = encode({ ts, neg: -(2 ** 40), small: 7, half: 0.5 });
    const int64 = Buffer.alloc(9);
    int64[0] = 0xd3;
    int64.writeBigInt64BE(BigInt(ts), 1);
    expect(packed.includes(int64)).toBe(true);
    expect(packed.includes(0xcb)).toBe(true); // the one float, 0.5; no whole number went out as float64
    expect(packed.indexOf(0xcb)).toBe(packed.length - 9);
    expect(decodeMap(packed)).toEqual({ ok: true, value: { ts, neg: -(2 ** 40), small: 7, half: 0.5 } });
  });
});
