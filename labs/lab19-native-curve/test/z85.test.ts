import { spawnSync } from "node:child_process";
import { seededRandom } from "@zlabs/kit";
import { hasPyzmq, PYTHON } from "@zlabs/kit/testing";
import { describe, expect, it } from "vitest";
import { Z85_ALPHABET, z85Decode, z85Encode } from "../internal/z85.ts";

const VECTOR = Buffer.from([0x86, 0x4f, 0xd2, 0x6f, 0xb5, 0x59, 0xf7, 0x5b]);

describe("z85 (RFC 32)", () => {
  it("encodes and decodes the RFC's test vector", () => {
    expect(z85Encode(VECTOR)).toBe("HelloWorld");
    expect(z85Decode("HelloWorld")).toEqual({ ok: true, value: VECTOR });
  });

  it("has an 85-symbol alphabet without repeats", () => {
    expect(Z85_ALPHABET).toHaveLength(85);
    expect(new Set(Z85_ALPHABET).size).toBe(85);
  });

  it("round-trips random multiples of 4 bytes, up to 1 KiB", () => {
    const random = seededRandom(19);
    for (let i = 0; i < 500; i++) {
      const length = 4 * Math.floor(random() * 257);
      const data = Buffer.alloc(length);
      for (let j = 0; j < length; j++) data[j] = Math.floor(random() * 256);
      const text = z85Encode(data);
      expect(text).toHaveLength((length / 4) * 5);
      if (length === 0) continue; // libzmq refuses to decode "" (see below)
      const back = z85Decode(text);
      expect(back.ok && back.value.equals(data)).toBe(true);
    }
  });

  it("round-trips the extremes of a group", () => {
    for (const bytes of [
      [0, 0, 0, 0],
      [0xff, 0xff, 0xff, 0xff],
      [0x80, 0, 0, 1],
    ]) {
      const data = Buffer.from(bytes);
      expect(z85Decode(z85Encode(data))).toEqual({ ok: true, value: data });
    }
    expect(z85Encode(Buffer.from([0xff, 0xff, 0xff, 0xff]))).toBe("%nSc0");
  });

  it("encodes only multiples of 4 bytes (RangeError otherwise)", () => {
    for (const n of [1, 2, 3, 5, 31, 33]) expect(() => z85Encode(new Uint8Array(n))).toThrow(RangeError);
    expect(z85Encode(new Uint8Array(0))).toBe("");
  });

  it.each([
    ["", "length 0"],
    ["Hell", "length 4"],
    ["HelloWorld!", "length 11"],
    ["Hello Worl", "outside the alphabet"],
    ['Hello"orld', "outside the alphabet"],
    ["Hello\\orld", "outside the alphabet"],
    ["Hello,orld", "outside the alphabet"],
    ["Hello~orld", "outside the alphabet"],
    ["Hello_orld", "outside the alphabet"],
    ["Helloé1234", "outside the alphabet"],
    ["#####", "exceeds 0xFFFFFFFF"],
    ["%nSc1", "exceeds 0xFFFFFFFF"],
    ["HelloWorld%nSc1", "exceeds 0xFFFFFFFF"],
  ])("refuses %j (%s), as libzmq does", (text, reason) => {
    const decoded = z85Decode(text);
    expect(decoded.ok).toBe(false);
    if (!decoded.ok) expect(decoded.reason).toContain(reason);
  });

  it("never quotes a refused group's text (it may be part of a secret)", () => {
    const decoded = z85Decode("abcdeABCDE#####");
    expect(decoded.ok).toBe(false);
    if (!decoded.ok) expect(decoded.reason).not.toContain("#####");
  });

  // The same inputs through libzmq's own zmq_z85_decode (Debian's libzmq5 under pyzmq, via ctypes).
  it.skipIf(!hasPyzmq())("accepts and refuses exactly what libzmq's zmq_z85_decode does", () => {
    const random = seededRandom(85);
    const samples = ["", "HelloWorld", "#####", "%nSc0", "%nSc1", "Hello Worl", "Hell", "0000000000", "vbR#0"];
    const alphabetAndMore = `${Z85_ALPHABET} "',;\\_|~`;
    for (let i = 0; i < 300; i++) {
      const length = 5 * (1 + Math.floor(random() * 3)) + (random() < 0.1 ? 1 : 0);
      let text = "";
      for (let j = 0; j < length; j++) text += alphabetAndMore[Math.floor(random() * alphabetAndMore.length)];
      samples.push(text);
    }
    const script = `
import ctypes, json, sys
lib = ctypes.CDLL("libzmq.so.5")
lib.zmq_z85_decode.restype = ctypes.c_void_p
out = []
for s in json.load(sys.stdin):
    raw = s.encode("latin-1")
    buf = ctypes.create_string_buffer(len(raw) + 8)
    ok = bool(lib.zmq_z85_decode(buf, raw))
    out.append(buf.raw[: len(raw) * 4 // 5].hex() if ok else None)
print(json.dumps(out))`;
    const run = spawnSync(PYTHON, ["-c", script], { input: JSON.stringify(samples), encoding: "utf8" });
    expect(run.status, run.stderr).toBe(0);
    const libzmq = JSON.parse(run.stdout) as (string | null)[];
    const ours = samples.map((s) => {
      const d = z85Decode(s);
      return d.ok ? d.value.toString("hex") : null;
    });
    expect(ours).toEqual(libzmq);
    expect(ours.filter((x) => x === null).length).toBeGreaterThan(10);
    expect(ours.filter((x) => x !== null).length).toBeGreaterThan(3);
  });
});
