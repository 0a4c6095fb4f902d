import { spawnSync } from "node:child_process";
import { hasPyzmq, PYTHON } from "@zlabs/kit/testing";
import { describe, expect, it } from "vitest";
import * as zmq from "zeromq";
import { generateKeyPair, isZ85Key, keyBytes, pairMatches, publicFromSecret, shellQuote } from "../internal/keys.ts";

describe("CURVE keys", () => {
  it("generates 40-character Z85 pairs whose secret derives the public key", () => {
    const pair = generateKeyPair();
    expect(isZ85Key(pair.publicKey)).toBe(true);
    expect(isZ85Key(pair.secretKey)).toBe(true);
    expect(publicFromSecret(pair.secretKey)).toBe(pair.publicKey);
    expect(pairMatches(pair)).toBe(true);
    expect(pairMatches({ ...pair, publicKey: generateKeyPair().publicKey })).toBe(false);
    expect(generateKeyPair().secretKey).not.toBe(pair.secretKey);
  });

  it("derives the same public key as libzmq's zmq_curve_keypair (through zeromq.js)", () => {
    for (let i = 0; i < 20; i++) {
      const pair = zmq.curveKeyPair();
      expect(publicFromSecret(pair.secretKey)).toBe(pair.publicKey);
    }
  });

  it.skipIf(!hasPyzmq())("derives what pyzmq's zmq.curve_public derives", () => {
    const pair = generateKeyPair();
    const run = spawnSync(PYTHON, ["-c", "import sys, zmq; print(zmq.curve_public(sys.stdin.read().encode()).decode())"], {
      input: pair.secretKey,
      encoding: "utf8",
    });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout.trim()).toBe(pair.publicKey);
  });

  it("tells keys from other text", () => {
    expect(isZ85Key("HelloWorld")).toBe(false);
    expect(isZ85Key("#".repeat(40))).toBe(false);
    expect(isZ85Key(" ".repeat(40))).toBe(false);
    expect(isZ85Key(42)).toBe(false);
    expect(isZ85Key("0".repeat(40))).toBe(true);
  });

  it("refuses a malformed secret without quoting it", () => {
    const bad = `${"a".repeat(39)} `;
    expect(() => publicFromSecret(bad)).toThrow(RangeError);
    try {
      keyBytes(bad, "secret key");
    } catch (error) {
      expect(String(error)).not.toContain("aaaa");
    }
    expect(() => publicFromSecret("short")).toThrow(/40 Z85 characters/);
  });

  it("quotes a key for a shell so that the shell gives it back unchanged", () => {
    const keys = [generateKeyPair().publicKey, "$(touch x)&&!*?[]{}<>^#", "it's"];
    for (const key of keys) {
      const run = spawnSync("sh", ["-c", `printf %s ${shellQuote(key)}`], { encoding: "utf8" });
      expect(run.stdout).toBe(key);
    }
    expect(shellQuote("ab$c")).toBe("'ab$c'");
  });
});
